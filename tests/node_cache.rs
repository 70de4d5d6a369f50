//! The process-wide node cache: one budget across many handles, no entry of one handle
//! served to another, no rolled-back position served, and flushers and readers on many
//! threads reading what was written. Every test here uses the same small budget (the
//! cache is one per process), small enough that eviction happens all the time.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use couchstore::db::{NewDoc, OpenOptions};
use couchstore::file::{Backend, MemoryBackend, NodeCache};
use couchstore::{Db, Error};

const BUDGET: usize = 512 << 10;
/// Each of the cache's 16 shards may hold one entry beyond its share.
const SLACK: usize = 16 * (4096 + 128);

fn cache() -> &'static NodeCache {
    let c = NodeCache::global();
    c.set_budget(BUDGET);
    c
}

fn id(k: usize) -> Vec<u8> {
    format!("doc-{k:07}").into_bytes()
}

fn body(tag: &str, k: usize, rev: u32) -> Vec<u8> {
    format!("{tag}:{k}:{rev}").into_bytes()
}

fn save(
    db: &mut Db,
    tag: &str,
    keys: impl Iterator<Item = usize>,
    rev: u32,
) -> couchstore::Result<()> {
    let keys: Vec<usize> = keys.collect();
    let ids: Vec<Vec<u8>> = keys.iter().map(|&k| id(k)).collect();
    let bodies: Vec<Vec<u8>> = keys.iter().map(|&k| body(tag, k, rev)).collect();
    let mut docs: Vec<NewDoc<'_>> = ids
        .iter()
        .zip(&bodies)
        .map(|(i, b)| NewDoc {
            id: i,
            body: Some(b),
            rev_seq: u64::from(rev),
            ..Default::default()
        })
        .collect();
    db.save_documents(&mut docs, couchstore::db::SaveOptions::default())?;
    db.commit()
}

fn memory_db(mem: &MemoryBackend) -> Db {
    Db::open_backend(
        Box::new(mem.clone()),
        "mem.couch".into(),
        OpenOptions::create(),
    )
    .unwrap()
}

#[test]
fn the_budget_holds_across_many_handles() {
    let cache = cache();
    let mems: Vec<MemoryBackend> = (0..40).map(|_| MemoryBackend::new()).collect();
    let mut dbs: Vec<Db> = mems.iter().map(memory_db).collect();
    for round in 1..=6u32 {
        for (f, db) in dbs.iter_mut().enumerate() {
            save(
                db,
                &format!("f{f}"),
                (0..400).map(|k| (k * 7 + round as usize) % 3000),
                round,
            )
            .unwrap();
            assert!(
                cache.bytes() <= BUDGET + SLACK,
                "{} bytes held, budget {BUDGET}",
                cache.bytes()
            );
        }
    }
    // Reads through every handle fill the cache again; it stays within the budget.
    for (f, db) in dbs.iter().enumerate() {
        for k in (0..3000).step_by(37) {
            match db.open_document(&id(k), false) {
                Ok(doc) => assert!(doc.data.starts_with(format!("f{f}:{k}:").as_bytes())),
                Err(e) if e == Error::DocNotFound => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(cache.bytes() <= BUDGET + SLACK);
    }
}

/// Two files written the same way, so their nodes lie at the same positions with
/// different contents: each handle reads only its own file's.
#[test]
fn handles_on_different_files_never_see_each_others_nodes() {
    cache();
    let (a_mem, b_mem) = (MemoryBackend::new(), MemoryBackend::new());
    let (mut a, mut b) = (memory_db(&a_mem), memory_db(&b_mem));
    // Same lengths everywhere (tags "A" and "B"), so the files have the same layout.
    save(&mut a, "A", 0..2000, 1).unwrap();
    save(&mut b, "B", 0..2000, 1).unwrap();
    assert_eq!(a_mem.snapshot().len(), b_mem.snapshot().len());
    let root = |db: &Db| db.header().by_id_root.as_ref().map(|r| r.pos);
    assert_eq!(root(&a), root(&b));
    for round in 0..3 {
        for k in (round..2000).step_by(3) {
            assert_eq!(
                a.open_document(&id(k), false).unwrap().data,
                body("A", k, 1)
            );
            assert_eq!(
                b.open_document(&id(k), false).unwrap().data,
                body("B", k, 1)
            );
        }
    }
    // A second handle on the same file reads it right too.
    let a2 = Db::open_backend(Box::new(a_mem.clone()), "a".into(), OpenOptions::default()).unwrap();
    assert_eq!(
        a2.open_document(&id(5), false).unwrap().data,
        body("A", 5, 1)
    );
}

/// A backend whose writes fail while `failing` is set.
#[derive(Debug, Clone)]
struct Flaky {
    inner: MemoryBackend,
    failing: Arc<AtomicBool>,
}

impl Backend for Flaky {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.inner.write_at(buf, pos)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn sync(&self) -> io::Result<()> {
        self.inner.sync()
    }
}

/// A batch whose write-out fails is rolled back; the next batch writes other nodes at
/// the same positions. The nodes the failed batch cached there must never be served.
#[test]
fn a_rolled_back_position_is_never_served() {
    cache();
    let failing = Arc::new(AtomicBool::new(false));
    let backend = Flaky {
        inner: MemoryBackend::new(),
        failing: failing.clone(),
    };
    let mut db =
        Db::open_backend(Box::new(backend), "flaky".into(), OpenOptions::create()).unwrap();
    save(&mut db, "base", 0..3000, 1).unwrap();
    let committed_end = db.info().unwrap().file_size;
    for attempt in 0..5u32 {
        failing.store(true, Ordering::SeqCst);
        // Interior nodes rewritten by this batch are cached as they are written.
        let failed = save(&mut db, "lost", (0..3000).step_by(2), 10 + attempt);
        assert_eq!(failed, Err(Error::Write));
        failing.store(false, Ordering::SeqCst);
        // Other keys this time: other nodes, written from the same end of the file.
        save(&mut db, "kept", (1..3000).step_by(2), 2 + attempt).unwrap();
        assert!(db.info().unwrap().file_size > committed_end);
        for k in 0..3000 {
            let doc = db.open_document(&id(k), false).unwrap();
            let want = if k % 2 == 1 {
                body("kept", k, 2 + attempt)
            } else {
                body("base", k, 1)
            };
            assert_eq!(doc.data, want, "key {k} after attempt {attempt}");
        }
    }
}

struct Finished<'a>(&'a AtomicU32);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Four flushers, each on its own file, and four readers opening handles on those files
/// as they go: every document a reader finds is one a flusher committed, and every
/// flusher's last commit reads back whole. The budget is small, so entries are evicted
/// and read again all along.
#[test]
fn concurrent_flushers_and_readers_read_what_was_written() {
    cache();
    let dir = tempfile::tempdir().unwrap();
    let files = 4;
    let rounds = 30u32;
    let keys = 1500;
    let committed: Arc<Vec<AtomicU32>> = Arc::new((0..files).map(|_| AtomicU32::new(0)).collect());
    let reads = AtomicU64::new(0);
    let finished = AtomicU32::new(0);
    let paths: Vec<_> = (0..files)
        .map(|f| dir.path().join(format!("{f}.couch")))
        .collect();
    for p in &paths {
        let mut db = Db::open(p, OpenOptions::create()).unwrap();
        db.commit().unwrap();
    }
    std::thread::scope(|scope| {
        for (f, path) in paths.iter().enumerate() {
            let committed = committed.clone();
            let finished = &finished;
            scope.spawn(move || {
                // Counted even if this flusher panics, so the readers stop and the
                // scope reports the panic instead of hanging.
                let _done = Finished(finished);
                let mut db = Db::open(path, OpenOptions::default()).unwrap();
                for rev in 1..=rounds {
                    // Every key each round, so a reader knows which revisions can exist.
                    save(&mut db, &format!("f{f}"), 0..keys, rev).unwrap();
                    committed[f].store(rev, Ordering::SeqCst);
                }
            });
        }
        for r in 0..4usize {
            let (paths, committed, reads, finished) =
                (&paths, committed.clone(), &reads, &finished);
            scope.spawn(move || {
                let mut n = 0;
                while finished.load(Ordering::SeqCst) < files as u32 || n < 3 {
                    n += 1;
                    for (f, path) in paths.iter().enumerate() {
                        let before = committed[f].load(Ordering::SeqCst);
                        let db = Db::open(path, OpenOptions::read_only()).unwrap();
                        let after = committed[f].load(Ordering::SeqCst);
                        for k in (r..keys).step_by(97) {
                            let doc = match db.open_document(&id(k), false) {
                                Err(e) if e == Error::DocNotFound && before == 0 => continue,
                                other => other.unwrap(),
                            };
                            let text = String::from_utf8(doc.data).unwrap();
                            let (tag, rest) = text.split_once(':').unwrap();
                            let (key, rev) = rest.split_once(':').unwrap();
                            let rev: u32 = rev.parse().unwrap();
                            assert_eq!(tag, format!("f{f}"));
                            assert_eq!(key, k.to_string());
                            // Committed between what was seen before and after opening.
                            assert!(
                                rev >= before && rev <= after + 1,
                                "{rev} not in {before}..={after}"
                            );
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert!(reads.load(Ordering::Relaxed) > 100);
    for (f, path) in paths.iter().enumerate() {
        let db = Db::open(path, OpenOptions::read_only()).unwrap();
        for k in 0..keys {
            assert_eq!(
                db.open_document(&id(k), false).unwrap().data,
                body(&format!("f{f}"), k, rounds)
            );
        }
    }
    assert!(cache().bytes() <= BUDGET + SLACK);
}

/// The same at the file layer, where positions can be chosen: a node cached as it was
/// appended, a write-out that fails, and another chunk appended at the same position.
/// The cache must not answer for it, on the failed handle or on a second one.
#[test]
fn a_position_reused_after_a_failed_write_out_is_read_from_the_file() {
    use couchstore::file::CouchFile;
    use couchstore::format::ChecksumKind;
    cache();
    let failing = Arc::new(AtomicBool::new(false));
    let backend = Flaky {
        inner: MemoryBackend::new(),
        failing: failing.clone(),
    };
    let mut file = CouchFile::new(Box::new(backend.clone())).unwrap();
    file.set_checksum(ChecksumKind::Crc32c);
    let kept = file.append_chunk(b"kept node").unwrap();
    file.sync().unwrap();
    file.remember(kept.pos, Arc::from(&b"kept node"[..]));
    for attempt in 0..3u8 {
        let lost = file.append_chunk(&[b'L', attempt]).unwrap();
        file.remember(lost.pos, Arc::from(&[b'L', attempt][..]));
        assert_eq!(file.cached(lost.pos).as_deref(), Some(&[b'L', attempt][..]));
        failing.store(true, Ordering::SeqCst);
        assert!(file.flush().is_err());
        failing.store(false, Ordering::SeqCst);
        let again = file.append_chunk(&[b'A', attempt]).unwrap();
        assert_eq!(
            again.pos, lost.pos,
            "the failed append's position is reused"
        );
        assert_eq!(file.cached(again.pos), None);
        file.sync().unwrap();
        let mut out = Vec::new();
        file.read_chunk(again.pos, &mut out).unwrap();
        assert_eq!(out, [b'A', attempt]);
        let other = CouchFile::new(Box::new(backend.clone())).unwrap();
        assert_eq!(other.cached(again.pos), None);
        assert_eq!(other.cached(kept.pos), None, "spaces are per handle");
    }
}
