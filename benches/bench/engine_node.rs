//! The engine-node scenario: many files open in one process (one per vbucket), two
//! flusher threads committing small batches to each in turn, each file behind its own
//! fair lock, with and without two online compactions running beside them; and a
//! baseline measured in the same run: raw appends that follow the commit protocol (data,
//! fsync, a 4 KiB header, fsync) across the same number of files.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use couchstore::Db;
use couchstore::compact::online::{LockHook, OnlineOptions, compact_online};
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::file::NodeCache;
use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};

/// The scenario's size.
pub struct Scenario {
    pub files: usize,
    pub commits_per_file: usize,
    pub batch: usize,
    pub body: usize,
    pub keys_per_file: usize,
    pub flushers: usize,
    pub compactors: usize,
}

/// One vbucket: the engine's lock, the writer handle and what was last written per key.
struct VBucket {
    lock: Arc<Mutex<()>>,
    state: std::sync::Mutex<State>,
    path: PathBuf,
}

struct State {
    db: Db,
    revs: Vec<u32>,
}

impl VBucket {
    /// A fresh vbucket file at `path` (an earlier run's removed), no key written yet.
    fn create(path: PathBuf, keys: usize) -> VBucket {
        let _ = std::fs::remove_file(&path);
        VBucket {
            lock: Arc::new(Mutex::new(())),
            state: std::sync::Mutex::new(State {
                db: Db::open(&path, OpenOptions::create()).unwrap(),
                revs: vec![0; keys],
            }),
            path,
        }
    }
}

fn key(k: usize) -> Vec<u8> {
    format!("key-{k:08}").into_bytes()
}

fn body(len: usize, file: usize, k: usize, rev: u32) -> Vec<u8> {
    let mut b = format!("{file}:{k}:{rev}:").into_bytes();
    b.resize(len, (k as u8) ^ (rev as u8));
    b
}

/// Resident set of this process, in bytes.
fn rss_bytes() -> u64 {
    super::proc_status_kib("VmRSS:") * 1024
}

/// Returns the allocator's free memory to the OS (glibc), so RSS shows live memory.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn minor_faults() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init().ru_minflt as u64
    }
}

/// The raw baseline: per commit, the batch's bytes appended and fsynced, then a 4 KiB
/// header and another fsync, round-robin over `files` files by the flusher threads.
fn raw_baseline(s: &Scenario, dir: &Path) -> Duration {
    use std::io::Write;
    let data = vec![7u8; s.batch * (s.body + 64)];
    let header = vec![1u8; 4096];
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..s.flushers {
            let (data, header) = (&data, &header);
            scope.spawn(move || {
                let mine: Vec<usize> = (t..s.files).step_by(s.flushers).collect();
                let mut handles: Vec<std::fs::File> = mine
                    .iter()
                    .map(|i| std::fs::File::create(dir.join(format!("raw{i}.bin"))).unwrap())
                    .collect();
                for _ in 0..s.commits_per_file {
                    for f in handles.iter_mut() {
                        f.write_all(data).unwrap();
                        f.sync_data().unwrap();
                        f.write_all(header).unwrap();
                        f.sync_data().unwrap();
                    }
                }
            });
        }
    });
    let t = started.elapsed();
    for i in 0..s.files {
        let _ = std::fs::remove_file(dir.join(format!("raw{i}.bin")));
    }
    t
}

/// One flusher batch on `vb`, committed under its lock; returns the commit's latency.
fn flush_batch(s: &Scenario, file: usize, vb: &VBucket, rev: u32) -> Duration {
    let picks: Vec<usize> = (0..s.batch)
        .map(|i| (rev as usize * 7_919 + i * 104_729 + file * 31) % s.keys_per_file)
        .collect();
    let ids: Vec<Vec<u8>> = picks.iter().map(|&k| key(k)).collect();
    let bodies: Vec<Vec<u8>> = picks.iter().map(|&k| body(s.body, file, k, rev)).collect();
    let mut docs: Vec<NewDoc<'_>> = (0..s.batch)
        .map(|i| NewDoc {
            id: &ids[i],
            body: Some(&bodies[i]),
            rev_seq: u64::from(rev),
            content_meta: 3,
            ..Default::default()
        })
        .collect();
    let guard = vb.lock.lock();
    let started = Instant::now();
    let mut st = vb.state.lock().unwrap();
    st.db
        .save_documents(&mut docs, couchstore::db::SaveOptions::default())
        .unwrap();
    st.db.commit().unwrap();
    for &k in &picks {
        st.revs[k] = rev;
    }
    drop(st);
    let t = started.elapsed();
    parking_lot::MutexGuard::unlock_fair(guard);
    t
}

/// The driver's lock callbacks on a vbucket's lock.
fn lock_hooks<'a>(lock: &Arc<Mutex<()>>) -> (LockHook<'a>, LockHook<'a>) {
    let held: Rc<RefCell<Option<ArcMutexGuard<RawMutex, ()>>>> = Rc::default();
    let (lock, h) = (lock.clone(), held.clone());
    let take = Box::new(move || *h.borrow_mut() = Some(lock.lock_arc()));
    let release = Box::new(move || {
        if let Some(g) = held.borrow_mut().take() {
            ArcMutexGuard::unlock_fair(g);
        }
    });
    (take, release)
}

/// Compacts `vb` online, following its flusher's handle or not; returns the longest hold
/// of its lock.
fn compact(vb: &VBucket, follow: bool) -> Duration {
    let target = vb.path.with_extension("compact");
    let _ = std::fs::remove_file(&target);
    let (take, release) = lock_hooks(&vb.lock);
    let switch = Box::new(|compacted: &Path| {
        std::fs::rename(compacted, &vb.path).map_err(|_| couchstore::Error::Write)?;
        vb.state.lock().unwrap().db = Db::open(&vb.path, OpenOptions::default())?;
        Ok(())
    });
    let mut options = OnlineOptions::new(take, release, switch);
    options.follow_writers = follow;
    compact_online(&vb.path, &target, options)
        .expect("online compaction")
        .longest_lock_hold
}

/// What one run came to.
struct RunFigures {
    elapsed: Duration,
    commits: Vec<Duration>,
    longest_hold: Duration,
    compactions: usize,
    rss_before: u64,
    rss_after: u64,
    faults: u64,
    cache_bytes: usize,
    verified: bool,
}

fn run(s: &Scenario, dir: &Path, compactors: usize, follow: bool) -> RunFigures {
    let rss_before = rss_bytes();
    let faults_before = minor_faults();
    let vbuckets: Vec<VBucket> = (0..s.files)
        .map(|i| {
            let path = dir.join(format!("{i}.couch"));
            VBucket::create(path, s.keys_per_file)
        })
        .collect();
    let done = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let compactions = AtomicUsize::new(0);
    let longest_hold = Mutex::new(Duration::ZERO);
    let started = Instant::now();
    let commits = std::thread::scope(|scope| {
        for _ in 0..compactors {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed) % s.files;
                    let hold = compact(&vbuckets[i], follow);
                    compactions.fetch_add(1, Ordering::Relaxed);
                    let mut l = longest_hold.lock();
                    *l = (*l).max(hold);
                }
            });
        }
        let flushers: Vec<_> = (0..s.flushers)
            .map(|t| {
                let vbuckets = &vbuckets;
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    for round in 1..=s.commits_per_file as u32 {
                        for i in (t..s.files).step_by(s.flushers) {
                            lat.push(flush_batch(s, i, &vbuckets[i], round));
                        }
                    }
                    lat
                })
            })
            .collect();
        let commits: Vec<Duration> = flushers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        done.store(true, Ordering::Relaxed);
        commits
    });
    let elapsed = started.elapsed();
    let rss_after = rss_bytes();
    let faults = minor_faults() - faults_before;
    let cache_bytes = NodeCache::global().bytes();
    let verified = verify(s, &vbuckets);
    for vb in &vbuckets {
        let _ = std::fs::remove_file(&vb.path);
    }
    RunFigures {
        elapsed,
        commits,
        longest_hold: *longest_hold.lock(),
        compactions: compactions.load(Ordering::Relaxed),
        rss_before,
        rss_after,
        faults,
        cache_bytes,
        verified,
    }
}

/// Whether every file, reopened, holds for every key the revision and body last written.
fn verify(s: &Scenario, vbuckets: &[VBucket]) -> bool {
    vbuckets.iter().enumerate().all(|(i, vb)| {
        let revs = vb.state.lock().unwrap().revs.clone();
        let Ok(db) = Db::open(&vb.path, OpenOptions::read_only()) else {
            return false;
        };
        revs.iter().enumerate().all(|(k, &rev)| {
            let found = db.open_document(&key(k), false);
            match (rev, found) {
                (0, Err(e)) => e == couchstore::Error::DocNotFound,
                (0, _) => false,
                // The body names the file, the key and the revision.
                (rev, Ok(doc)) => doc.data == body(s.body, i, k, rev),
                _ => false,
            }
        })
    })
}

/// Runs the scenario and prints its figures.
pub fn bench(full: bool, dir: &Path) {
    let s = Scenario {
        files: if full { 1024 } else { 64 },
        commits_per_file: if full { 20 } else { 16 },
        batch: 100,
        body: 512,
        keys_per_file: if full { 2000 } else { 1000 },
        flushers: 2,
        compactors: 2,
    };
    let dir = dir.join("engine-node");
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "\n[engine node] {} files, {} flusher threads, batches of {} x {} B, {} commits per file; node cache budget {} MiB; compaction rate limit {} MiB/s (0: none)",
        s.files,
        s.flushers,
        s.batch,
        s.body,
        s.commits_per_file,
        NodeCache::global().budget() >> 20,
        couchstore::compact::rate_limit::RateLimit::process_wide().bytes_per_sec() >> 20
    );
    let docs = (s.files * s.commits_per_file * s.batch) as f64;
    let raw = raw_baseline(&s, &dir);
    let raw_rate = docs / raw.as_secs_f64();
    println!(
        "  raw appends (data, fsync, 4 KiB header, fsync): {:.2} s, {raw_rate:.0} docs/s",
        raw.as_secs_f64()
    );
    let mut rate_alone = 0.0;
    // Without compaction, then with compactions following the flushers (the default),
    // then with compactions seeing only the files (as with flushers in another process).
    for (compactors, follow) in [(0, true), (s.compactors, true), (s.compactors, false)] {
        let f = run(&s, &dir, compactors, follow);
        let rate = docs / f.elapsed.as_secs_f64();
        let commits = f.commits.len();
        let (p50, p99, max) = super::percentiles(f.commits);
        println!(
            "  {} online compactions{}: {rate:.0} docs/s ({:.2}x raw{}); commit ms p50 {p50:.2} p99 {p99:.2} max {max:.2} over {commits} commits",
            compactors,
            match (compactors, follow) {
                (0, _) => "",
                (_, true) => ", following the flushers",
                (_, false) => ", seeing only the files",
            },
            raw.as_secs_f64() / f.elapsed.as_secs_f64(),
            if compactors > 0 {
                format!(", {:.2}x without compaction", rate / rate_alone)
            } else {
                String::new()
            }
        );
        if compactors == 0 {
            rate_alone = rate;
        } else {
            println!(
                "    {} compactions finished; longest lock hold {:.1} ms",
                f.compactions,
                f.longest_hold.as_secs_f64() * 1e3
            );
        }
        let grown = f.rss_after.saturating_sub(f.rss_before);
        // The bench's own bookkeeping (the revision last written per key) is not the
        // library's.
        let harness = (s.files * s.keys_per_file * 4) as u64;
        let per_handle = grown.saturating_sub(f.cache_bytes as u64 + harness) / s.files as u64;
        println!(
            "    RSS {:.1} MiB (grew {:.1} MiB; node cache {:.1} MiB; per handle beyond the cache {:.1} KiB); {} minor page faults ({:.1} per commit); read back: {}",
            f.rss_after as f64 / 1048576.0,
            grown as f64 / 1048576.0,
            f.cache_bytes as f64 / 1048576.0,
            per_handle as f64 / 1024.0,
            f.faults,
            f.faults as f64 / commits as f64,
            if f.verified {
                "all correct"
            } else {
                "MISMATCH"
            }
        );
        assert!(f.verified, "the engine-node run lost or garbled a write");
    }
    per_handle_after_commits(&dir, full);
}

/// Memory of written handles after many commits each: 16 handles, 2000 commits of 100
/// documents each (500 under the small run), then idle.
fn per_handle_after_commits(dir: &Path, full: bool) {
    let handles = 16;
    let commits = if full { 2000 } else { 500 };
    let s = Scenario {
        files: handles,
        commits_per_file: commits,
        batch: 100,
        body: 512,
        keys_per_file: 5000,
        flushers: 1,
        compactors: 0,
    };
    NodeCache::global().clear();
    trim_heap();
    let before = rss_bytes();
    let vbuckets: Vec<VBucket> = (0..handles)
        .map(|i| {
            let path = dir.join(format!("h{i}.couch"));
            VBucket::create(path, s.keys_per_file)
        })
        .collect();
    for round in 1..=commits as u32 {
        for (i, vb) in vbuckets.iter().enumerate() {
            flush_batch(&s, i, vb, round);
        }
    }
    let harness = (handles * s.keys_per_file * 4) as u64;
    let grown = rss_bytes().saturating_sub(before + harness);
    let cache = NodeCache::global().bytes() as u64;
    // The cache's evicted generations leave freed memory in the allocator's heap, which
    // RSS still counts; emptying the cache and trimming the heap shows what the handles
    // themselves keep.
    NodeCache::global().clear();
    trim_heap();
    let kept = rss_bytes().saturating_sub(before);
    println!(
        "  {handles} handles after {commits} commits each: RSS grew {:.1} MiB, node cache {:.1} MiB, per handle beyond the cache {:.1} KiB; cache emptied and heap trimmed: per handle {:.1} KiB (the harness's {:.1} KiB of revisions included)",
        grown as f64 / 1048576.0,
        cache as f64 / 1048576.0,
        grown.saturating_sub(cache) as f64 / handles as f64 / 1024.0,
        kept as f64 / handles as f64 / 1024.0,
        harness as f64 / handles as f64 / 1024.0
    );
    for vb in &vbuckets {
        let _ = std::fs::remove_file(&vb.path);
    }
}
