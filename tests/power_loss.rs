//! Power loss: a simulated disk keeps what was written since the last fsync apart, and
//! a power cut at a random point keeps none of it, a random prefix of it or a random
//! subset of its pages (a disk may reorder them), pages possibly torn, and only the
//! names made durable by a directory fsync.
//! The write workload, offline compaction and online compaction with its switch run on
//! it; after every cut the database opens at a committed header holding every commit
//! that returned SUCCESS. Where the SIGKILL tests check the order of writes, this checks
//! the order of fsyncs.
//!
//! `POWER_CUTS=n` runs n cuts per workload instead of the default.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use couchstore::btree::Step;
use couchstore::compact::online::{OnlineFiles, OnlineOptions, compact_online_files};
use couchstore::compact::{CompactFlags, CompactOptions, compact_into, target_open_options};
use couchstore::db::{LocalDoc, NewDoc, OpenOptions};
use couchstore::file::Backend;
use couchstore::{Db, Error, Result};

const PAGE: u64 = 4096;

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Default)]
struct SimFile {
    /// What survives a cut for certain.
    durable: Vec<u8>,
    /// What reads see.
    current: Vec<u8>,
    /// Writes since the last fsync, in order.
    pending: Vec<(u64, Vec<u8>)>,
}

fn put(bytes: &mut Vec<u8>, pos: u64, data: &[u8]) {
    let end = pos as usize + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[pos as usize..end].copy_from_slice(data);
}

#[derive(Debug, Default)]
struct DiskState {
    files: Vec<SimFile>,
    /// Names as the running process sees them.
    names: BTreeMap<String, usize>,
    /// Names as a directory fsync last made them durable.
    durable_names: BTreeMap<String, usize>,
    /// Writes, fsyncs and directory fsyncs left before the power goes.
    ops_left: Option<u64>,
    cut: bool,
}

impl DiskState {
    /// Counts an operation that changes the disk; fails once the power is gone.
    fn tick(&mut self) -> io::Result<()> {
        if self.cut {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if let Some(left) = self.ops_left.as_mut() {
            if *left == 0 {
                self.cut = true;
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            *left -= 1;
        }
        Ok(())
    }
}

/// The simulated disk, shared by every handle on it.
#[derive(Debug, Clone, Default)]
struct Disk(Arc<Mutex<DiskState>>);

impl Disk {
    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.0.lock().unwrap()
    }

    fn create(&self, name: &str) -> Handle {
        let mut s = self.state();
        s.files.push(SimFile::default());
        let file = s.files.len() - 1;
        s.names.insert(name.into(), file);
        Handle {
            disk: self.clone(),
            file,
        }
    }

    fn open(&self, name: &str) -> Option<Handle> {
        let file = *self.state().names.get(name)?;
        Some(Handle {
            disk: self.clone(),
            file,
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.state();
        s.tick()?;
        let file = s.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
        s.names.insert(to.into(), file);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.state();
        s.tick()?;
        s.durable_names = s.names.clone();
        Ok(())
    }

    /// The power goes after `ops` more operations.
    fn arm(&self, ops: u64) {
        self.state().ops_left = Some(ops);
    }

    /// Operations done while armed.
    fn armed_ops(&self) -> u64 {
        u64::MAX - self.state().ops_left.unwrap_or(u64::MAX)
    }

    /// What a restart finds at `name`: the durable bytes plus some of the pages written
    /// since: none, a prefix, or (as a disk may reorder them) any subset, a page
    /// possibly torn.
    fn after_cut(&self, name: &str, rng: &mut Rng) -> Option<Vec<u8>> {
        let s = self.state();
        let f = &s.files[*s.durable_names.get(name)?];
        let mut pieces = Vec::new();
        for (pos, data) in &f.pending {
            let mut at = 0usize;
            while at < data.len() {
                let here = pos + at as u64;
                let room = (PAGE - here % PAGE) as usize;
                let n = room.min(data.len() - at);
                pieces.push((here, &data[at..at + n]));
                at += n;
            }
        }
        let prefix = rng.below(pieces.len() as u64 + 1) as usize;
        let kept: Vec<bool> = match rng.below(3) {
            0 => vec![false; pieces.len()],
            1 => (0..pieces.len()).map(|i| i < prefix).collect(),
            _ => (0..pieces.len()).map(|_| rng.below(2) == 0).collect(),
        };
        let mut bytes = f.durable.clone();
        for ((pos, data), keep) in pieces.iter().zip(kept) {
            if keep {
                put(&mut bytes, *pos, data);
            } else if rng.below(8) == 0 {
                let torn = rng.below(data.len() as u64) as usize;
                put(&mut bytes, *pos, &data[..torn]);
            }
        }
        Some(bytes)
    }
}

/// One open file on the simulated disk.
#[derive(Debug, Clone)]
struct Handle {
    disk: Disk,
    file: usize,
}

impl Backend for Handle {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let s = self.disk.state();
        if s.cut {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let cur = &s.files[self.file].current;
        let start = (pos as usize).min(cur.len());
        let n = buf.len().min(cur.len() - start);
        buf[..n].copy_from_slice(&cur[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        let mut s = self.disk.state();
        s.tick()?;
        let f = &mut s.files[self.file];
        put(&mut f.current, pos, buf);
        f.pending.push((pos, buf.to_vec()));
        Ok(buf.len())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.disk.state().files[self.file].current.len() as u64)
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.disk.state();
        s.tick()?;
        let f = &mut s.files[self.file];
        f.durable = f.current.clone();
        f.pending.clear();
        Ok(())
    }

    fn sync_name(&self) -> io::Result<()> {
        self.disk.sync_dir()
    }
}

/// What the database holds: bodies by id (None: deleted), local docs, the update seq.
#[derive(Clone, Default, PartialEq)]
struct Model {
    docs: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    locals: BTreeMap<Vec<u8>, Vec<u8>>,
    update_seq: u64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let live = self.docs.values().filter(|b| b.is_some()).count();
        let sum: u64 = self
            .docs
            .values()
            .flatten()
            .map(|b| b.iter().map(|&x| x as u64).sum::<u64>() + b.len() as u64)
            .sum();
        write!(
            f,
            "update_seq {}, {} docs ({live} live, body sum {sum:x}), locals {:?}",
            self.update_seq,
            self.docs.len(),
            self.locals
                .values()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
        )
    }
}

fn read_model(db: &Db) -> Result<Model> {
    let mut m = Model {
        update_seq: db.header().update_seq,
        ..Model::default()
    };
    let mut infos = Vec::new();
    db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |i| {
        infos.push(i.clone());
        Ok(Step::Continue)
    })?;
    for info in infos {
        let body = if info.deleted {
            None
        } else {
            Some(db.open_doc_with_docinfo(&info, true)?.data)
        };
        m.docs.insert(info.id.clone(), body);
    }
    db.walk_local_tree(None, &mut |item| {
        if let couchstore::db::TreeWalkItem::Local { doc, .. } = item {
            m.locals.insert(doc.id.clone(), doc.json.clone());
        }
        Ok(Step::Continue)
    })?;
    Ok(m)
}

/// One flusher round on `db`: saves (some deletions, now and then a local doc), commits.
fn flush_round(db: &mut Db, model: &mut Model, rng: &mut Rng, round: u64) -> Result<()> {
    let n = 5 + rng.below(30) as usize;
    let ids: Vec<Vec<u8>> = (0..n)
        .map(|_| format!("doc-{:04}", rng.below(300)).into_bytes())
        .collect();
    let bodies: Vec<Option<Vec<u8>>> = (0..n)
        .map(|i| {
            (rng.below(8) != 0)
                .then(|| vec![(round as u8) ^ (i as u8); 50 + rng.below(3000) as usize])
        })
        .collect();
    let mut batch: Vec<NewDoc<'_>> = (0..n)
        .map(|i| NewDoc {
            id: &ids[i],
            body: bodies[i].as_deref(),
            deleted: bodies[i].is_none(),
            rev_seq: round,
            ..Default::default()
        })
        .collect();
    db.save_documents(&mut batch, couchstore::db::SaveOptions::default())?;
    for (id, body) in ids.iter().zip(&bodies) {
        model.docs.insert(id.clone(), body.clone());
    }
    model.update_seq = db.header().update_seq;
    if round.is_multiple_of(3) {
        let doc = LocalDoc {
            id: b"_local/state".to_vec(),
            json: format!("{{\"round\":{round}}}").into_bytes(),
            deleted: false,
        };
        db.save_local_document(&doc)?;
        model.locals.insert(doc.id, doc.json);
    }
    db.commit()
}

/// What the engine knows: the last commit that returned SUCCESS, and the one in flight
/// when the power went (which may or may not have become durable).
#[derive(Debug, Default)]
struct Commits {
    returned: Option<Model>,
    in_flight: Option<Model>,
}

impl Commits {
    fn round(&mut self, db: &mut Db, rng: &mut Rng, round: u64) -> Result<()> {
        let mut model = self.returned.clone().unwrap_or_default();
        let r = flush_round(db, &mut model, rng, round);
        match r {
            Ok(()) => self.returned = Some(model),
            Err(_) => self.in_flight = Some(model),
        }
        r
    }

    /// Checks what a restart finds in `name` after the cut.
    fn check(&self, disk: &Disk, name: &str, rng: &mut Rng, what: &str) {
        let image = disk.after_cut(name, rng);
        let Some(want) = &self.returned else {
            // Nothing was confirmed: whatever is there must at least not be garbage that
            // opens as something never written.
            if let Some(Ok(db)) = image.map(open_image) {
                let got = read_model(&db).expect("a file that opens reads");
                let empty = Model::default();
                let flight = self.in_flight.as_ref().unwrap_or(&empty);
                assert!(got == empty || &got == flight, "{what}: {got:?}");
            }
            return;
        };
        let bytes = image.unwrap_or_else(|| panic!("{what}: the file is gone after a commit"));
        let db = open_image(bytes).unwrap_or_else(|e| panic!("{what}: does not open: {e}"));
        let got = read_model(&db).unwrap_or_else(|e| panic!("{what}: does not read: {e}"));
        let ok = &got == want || self.in_flight.as_ref() == Some(&got);
        assert!(ok, "{what}: lost a commit\n got {got:?}\nwant {want:?}");
    }
}

fn open_image(bytes: Vec<u8>) -> Result<Db> {
    let mem = couchstore::file::MemoryBackend::from_bytes(bytes);
    Db::open_backend(Box::new(mem), "after".into(), OpenOptions::read_only())
}

fn cuts() -> u64 {
    std::env::var("POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `workload` once without a cut to count its operations, then `n` times with the
/// power going at a random one of them (and once after the last).
fn with_cuts(n: u64, seed: u64, workload: impl Fn(&Disk, &mut Rng, &mut Commits)) -> u64 {
    let dry = Disk::default();
    dry.arm(u64::MAX);
    workload(&dry, &mut Rng::new(seed), &mut Commits::default());
    let total = dry.armed_ops();
    assert!(
        total > 5,
        "the workload does something ({total} operations)"
    );
    let mut pick = Rng::new(seed ^ 0xc0ffee);
    for i in 0..n {
        let disk = Disk::default();
        let at = if i == 0 { total } else { pick.below(total) };
        disk.arm(at);
        let mut commits = Commits::default();
        workload(&disk, &mut Rng::new(seed), &mut commits);
        commits.check(
            &disk,
            "db.couch",
            &mut pick,
            &format!("cut at {at} of {total}"),
        );
    }
    n
}

/// Creates the database and runs flusher rounds until the power goes.
fn writes(disk: &Disk, rng: &mut Rng, commits: &mut Commits) {
    let handle = disk.create("db.couch");
    let Ok(mut db) = Db::open_backend(Box::new(handle), "db.couch".into(), OpenOptions::default())
    else {
        return;
    };
    for round in 1..=25 {
        if commits.round(&mut db, rng, round).is_err() {
            return;
        }
    }
}

#[test]
fn power_cuts_during_writes_lose_no_returned_commit() {
    let n = with_cuts(cuts().max(150), 1, writes);
    assert!(n >= 150);
}

/// A database written before the power can go, its name durable.
fn seeded(disk: &Disk, rng: &mut Rng, commits: &mut Commits) -> Db {
    let handle = disk.create("db.couch");
    let mut db =
        Db::open_backend(Box::new(handle), "db.couch".into(), OpenOptions::default()).unwrap();
    for round in 1..=8 {
        commits.round(&mut db, rng, round).unwrap();
    }
    db
}

/// Offline compaction into a new file, then the engine's switch: rename over the
/// source and fsync the directory.
fn offline(disk: &Disk, rng: &mut Rng, commits: &mut Commits, compact_flags: CompactFlags) {
    let armed = disk.state().ops_left.take();
    drop(seeded(disk, rng, commits));
    disk.state().ops_left = armed;
    let source = disk.open("db.couch").unwrap();
    let Ok(src) = Db::open_backend(
        Box::new(source),
        "db.couch".into(),
        OpenOptions::read_only(),
    ) else {
        return;
    };
    let target = disk.create("db.couch.compact");
    let flags = target_open_options(&src, compact_flags);
    let Ok(target) = Db::open_backend(Box::new(target), "db.couch.compact".into(), flags) else {
        return;
    };
    let target = RefCell::new(target);
    let options = CompactOptions {
        flags: compact_flags,
        ..CompactOptions::default()
    };
    if compact_into(&src, &target, options).is_err() {
        return;
    }
    drop(target);
    let _ = disk
        .rename("db.couch.compact", "db.couch")
        .and_then(|()| disk.sync_dir());
}

#[test]
fn power_cuts_during_offline_compaction_lose_nothing() {
    // Buffered (a few large writes) and unbuffered (a write per chunk).
    let n = with_cuts(cuts().max(40), 2, |d, r, c| {
        offline(d, r, c, CompactFlags::default())
    }) + with_cuts(cuts().max(40), 4, |d, r, c| {
        offline(
            d,
            r,
            c,
            CompactFlags {
                unbuffered: true,
                ..Default::default()
            },
        )
    });
    assert!(n >= 80);
}

/// Online compaction with a flusher committing between its steps (from the progress
/// hook, outside the lock), the switch (rename, directory fsync, new writer), and
/// flusher rounds on the new file after it.
fn online(disk: &Disk, rng: &mut Rng, commits: &mut Commits) {
    let armed = disk.state().ops_left.take();
    let writer = seeded(disk, rng, commits);
    disk.state().ops_left = armed;
    let state = RefCell::new((writer, std::mem::take(commits), 100u64, false));
    let rng = RefCell::new(rng);
    let locked = std::cell::Cell::new(false);
    let result = {
        let files = OnlineFiles {
            open_source: Box::new(|| {
                let h = disk.open("db.couch").ok_or(Error::NoSuchFile)?;
                Db::open_backend(Box::new(h), "db.couch".into(), OpenOptions::read_only())
            }),
            open_target: Some(Box::new(|flags| {
                let h = disk.create("db.couch.compact");
                Ok((Box::new(h) as Box<dyn Backend>, flags))
            })),
        };
        let mut options = OnlineOptions::new(
            Box::new(|| locked.set(true)),
            Box::new(|| locked.set(false)),
            Box::new(|_: &Path| {
                disk.rename("db.couch.compact", "db.couch")
                    .and_then(|()| disk.sync_dir())
                    .map_err(|_| Error::Write)?;
                let h = disk.open("db.couch").ok_or(Error::NoSuchFile)?;
                let db = Db::open_backend(Box::new(h), "db.couch".into(), OpenOptions::default())?;
                state.borrow_mut().0 = db;
                state.borrow_mut().3 = true;
                Ok(())
            }),
        );
        options.max_docs_per_hold = Some(40);
        options.max_locked_docs = 20;
        options.max_locked_bytes = 4096;
        options.progress = Some(Box::new(|_| {
            if !locked.get() {
                let s = &mut *state.borrow_mut();
                let (writer, commits, round, _) = (&mut s.0, &mut s.1, &mut s.2, s.3);
                *round += 1;
                let mut rng = rng.borrow_mut();
                if *round < 112 && commits.round(writer, &mut rng, *round).is_err() {
                    return Err(Error::Cancel);
                }
            }
            Ok(())
        }));
        compact_online_files(files, Path::new("db.couch.compact"), options)
    };
    let (mut writer, returned, mut round, switched) = state.into_inner();
    *commits = returned;
    if result.is_ok() && switched {
        let rng = rng.into_inner();
        for _ in 0..4 {
            round += 1;
            if commits.round(&mut writer, rng, round).is_err() {
                return;
            }
        }
    }
}

#[test]
fn power_cuts_during_online_compaction_and_its_switch_lose_no_returned_commit() {
    let n = with_cuts(cuts().max(100), 3, online);
    assert!(n >= 100);
}
