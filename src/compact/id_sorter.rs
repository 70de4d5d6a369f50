//! Sorting the by-id entries of a compaction with bounded memory. Entries arrive in
//! sequence order; while they fit in the memory bound they are kept, then sorted and
//! spilled as a run to a temporary file beside the target. The runs and the last batch
//! are merged into one id-ordered stream.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::btree::ExistingEntry;
use crate::error::{Error, Result};

/// Default memory bound for the in-memory batch.
pub const DEFAULT_MEMORY: usize = 16 * 1024 * 1024;

/// Where one entry of the batch lies in the arena: offset, key length, value length.
#[derive(Clone, Copy)]
struct Slot {
    at: usize,
    key: u32,
    value: u32,
}

/// The in-memory batch: every key and value back to back in one arena, plus an index
/// that is sorted instead of the entries, so memory is counted exactly and one entry
/// costs no allocation of its own.
#[derive(Default)]
struct Batch {
    arena: Vec<u8>,
    slots: Vec<Slot>,
}

impl Batch {
    fn push(&mut self, id: &[u8], value: &[u8]) {
        self.slots.push(Slot {
            at: self.arena.len(),
            key: id.len() as u32,
            value: value.len() as u32,
        });
        self.arena.extend_from_slice(id);
        self.arena.extend_from_slice(value);
    }

    fn key(&self, s: Slot) -> &[u8] {
        &self.arena[s.at..s.at + s.key as usize]
    }

    fn value(&self, s: Slot) -> &[u8] {
        let from = s.at + s.key as usize;
        &self.arena[from..from + s.value as usize]
    }

    /// Bytes the entries take (the buffers' capacity, kept between spills, is at most
    /// about twice that).
    fn bytes(&self) -> usize {
        self.arena.len() + self.slots.len() * std::mem::size_of::<Slot>()
    }

    fn sort(&mut self) {
        let mut slots = std::mem::take(&mut self.slots);
        slots.sort_unstable_by(|a, b| self.key(*a).cmp(self.key(*b)));
        self.slots = slots;
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.slots.clear();
    }
}

/// A sorter of (id, value) pairs with spill files named `<base>.btree-tmp_<n>`.
pub struct IdSorter {
    base: PathBuf,
    memory: usize,
    batch: Batch,
    /// Run files created by this sorter, removed when it is dropped.
    runs: Vec<PathBuf>,
    /// The number the next run file's name tries first.
    next_name: usize,
}

/// Names tried for one run file before giving up.
const MAX_NAME_ATTEMPTS: usize = 1000;

fn io_error(e: io::Error) -> Error {
    Error::io(crate::error::ErrorKind::Write, e)
}

impl IdSorter {
    /// A sorter keeping at most about `memory` bytes in memory, spilling beside `base`.
    pub fn new(base: &Path, memory: usize) -> Self {
        IdSorter {
            base: base.to_path_buf(),
            memory: memory.max(1),
            batch: Batch::default(),
            runs: Vec::new(),
            next_name: 0,
        }
    }

    /// Number of runs spilled to disk so far.
    pub fn runs_spilled(&self) -> usize {
        self.runs.len()
    }

    /// Adds an entry.
    pub fn add(&mut self, id: &[u8], value: &[u8]) -> Result<()> {
        self.batch.push(id, value);
        if self.batch.bytes() > self.memory {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.batch.sort();
        let file = self.create_run()?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for &slot in &self.batch.slots {
            out.write_all(&slot.key.to_le_bytes()).map_err(io_error)?;
            out.write_all(&slot.value.to_le_bytes()).map_err(io_error)?;
            out.write_all(self.batch.key(slot)).map_err(io_error)?;
            out.write_all(self.batch.value(slot)).map_err(io_error)?;
        }
        out.flush().map_err(io_error)?;
        self.batch.clear();
        Ok(())
    }

    /// Creates the next run file beside the target and registers it for removal. A name
    /// that exists already (left by a crashed compaction, or anybody's file) is skipped,
    /// never reused or removed: only files created here are ever removed.
    fn create_run(&mut self) -> Result<File> {
        let mut last = None;
        for n in self.next_name..self.next_name + MAX_NAME_ATTEMPTS {
            let path = PathBuf::from(format!("{}.btree-tmp_{n}", self.base.display()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    self.next_name = n + 1;
                    self.runs.push(path);
                    return Ok(file);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io_error(e)),
            }
        }
        Err(io_error(last.expect("at least one attempt")))
    }

    /// Calls `sink` with every entry in id order (ids are unique in a by-seq tree).
    pub fn drain_sorted(&mut self, sink: &mut ExistingEntry<'_>) -> Result<()> {
        self.batch.sort();
        if self.runs.is_empty() {
            for &slot in &self.batch.slots {
                sink(self.batch.key(slot), self.batch.value(slot))?;
            }
            self.batch.clear();
            return Ok(());
        }
        let mut readers = Vec::with_capacity(self.runs.len());
        for path in &self.runs {
            let file = File::open(path).map_err(|e| Error::io(crate::error::ErrorKind::Read, e))?;
            readers.push(RunReader(BufReader::with_capacity(256 * 1024, file)));
        }
        let batch = std::mem::take(&mut self.batch);
        let mut memory = batch
            .slots
            .iter()
            .map(|&s| (batch.key(s).to_vec(), batch.value(s).to_vec()));
        // Heap of (next entry, source): source readers.len() is the in-memory batch.
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(e) = r.next()? {
                heap.push(Reverse((e, i)));
            }
        }
        let mem_source = readers.len();
        if let Some(e) = memory.next() {
            heap.push(Reverse((e, mem_source)));
        }
        while let Some(Reverse(((k, v), source))) = heap.pop() {
            sink(&k, &v)?;
            let next = if source == mem_source {
                memory.next()
            } else {
                readers[source].next()?
            };
            if let Some(e) = next {
                heap.push(Reverse((e, source)));
            }
        }
        Ok(())
    }
}

impl Drop for IdSorter {
    fn drop(&mut self) {
        for path in &self.runs {
            let _ = std::fs::remove_file(path);
        }
    }
}

struct RunReader(BufReader<File>);

impl RunReader {
    fn next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut lens = [0u8; 8];
        match self.0.read_exact(&mut lens) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(_) => return Err(Error::Read),
        }
        let klen = u32::from_le_bytes(lens[..4].try_into().expect("4")) as usize;
        let vlen = u32::from_le_bytes(lens[4..].try_into().expect("4")) as usize;
        let mut k = vec![0u8; klen];
        let mut v = vec![0u8; vlen];
        self.0.read_exact(&mut k).map_err(|_| Error::Read)?;
        self.0.read_exact(&mut v).map_err(|_| Error::Read)?;
        Ok(Some((k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn existing_files_at_run_names_are_skipped_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("t.couch");
        let stale = dir.path().join("t.couch.btree-tmp_0");
        std::fs::write(&stale, b"left by someone").unwrap();
        let mut sorter = IdSorter::new(&base, 64);
        for i in 0..100u32 {
            sorter.add(&i.to_be_bytes(), b"v").unwrap();
        }
        assert!(sorter.runs_spilled() >= 2);
        let mut n = 0;
        sorter
            .drain_sorted(&mut |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 100);
        drop(sorter);
        assert_eq!(std::fs::read(&stale).unwrap(), b"left by someone");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
        #[test]
        fn sorts_with_and_without_spilling(ids in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..12), 0..300),
                                           memory in 200usize..5000) {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("t.couch");
            let mut input: Vec<Vec<u8>> = ids.iter().cloned().collect();
            input.reverse();
            let mut sorter = IdSorter::new(&base, memory);
            for id in &input {
                sorter.add(id, &[id.len() as u8]).unwrap();
            }
            let spilled = sorter.runs_spilled();
            let mut out = Vec::new();
            sorter.drain_sorted(&mut |k, v| { out.push((k.to_vec(), v.to_vec())); Ok(()) }).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = ids.iter().map(|k| (k.clone(), vec![k.len() as u8])).collect();
            prop_assert_eq!(out, want);
            drop(sorter);
            // Spill files are gone afterwards.
            prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
            let needed: usize = ids.iter().map(|k| k.len() + 1 + std::mem::size_of::<Slot>()).sum();
            prop_assert!(spilled > 0 || needed <= memory);
        }
    }
}
