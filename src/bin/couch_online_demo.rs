//! couch_online_demo: an engine's flusher writing at full speed while its database is
//! compacted: online at several sizes (the flusher stalls only for short holds of its
//! lock) and offline once (the flusher is blocked for the whole compaction). Prints the
//! flusher's commit latency before and during each compaction, the catch-up and paced
//! rounds, the time under the lock, a summary table, and checks that nothing committed
//! was lost.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use couchstore::compact::online::{LockHook, OnlineOptions, compact_online};
use couchstore::compact::{self, CompactOptions};
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::{Db, Error};
use parking_lot::{ArcMutexGuard, MutexGuard, RawMutex};

const USAGE: &str = "\
usage: couch_online_demo [--sizes N,N,..] [--full] [--dir DIR] [--only online|offline]
                         [--rate-limit MIB_PER_SEC] [--cold] [--follow on|off|both]

  --sizes N,..  sizes in MiB of the databases compacted online (default 100,300);
                the offline compaction runs at the first size
  --size-mb N   the same as --sizes N
  --full        sizes 100,300,1024
  --dir DIR     where to put the files (default: a temporary directory here)
  --only MODE   run only the online or only the offline compaction
  --rate-limit N  hold the online compaction's work outside the lock to N MiB/s
                (default 0: as fast as it can, to show the lock holds at full speed;
                the library's own default is 16 MiB/s, shared by all compactions)
  --cold        drop the OS page cache (clean pages) just before each compaction, so it
                and the flusher read the files from disk (Linux, needs root; an error
                otherwise)
  --follow MODE on (default): the online compaction follows the flusher's handle (it
                applies each batch as the flusher saves it); off: it sees only the file,
                as with a flusher in another process; both: each size both ways, one
                after the other, for a comparison in the same run";

const BATCH: usize = 1000;
const BODY: usize = 1024;

/// The engine's lock, which its flusher holds while committing: parking_lot's mutex,
/// released with its fair unlock (handed to the longest waiter), so a flusher that
/// releases and re-takes it at once cannot starve the compactor, nor the other way round.
type EngineLock = Arc<parking_lot::Mutex<()>>;

/// The driver's lock and unlock callbacks on the engine's lock: separate calls, so the
/// guard waits between them.
fn lock_hooks<'a>(lock: &EngineLock) -> (LockHook<'a>, LockHook<'a>) {
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

/// The engine: the writer handle and, per key, the revision last committed.
struct Engine {
    db: Db,
    revs: Vec<u32>,
    round: u32,
}

fn key(k: usize) -> Vec<u8> {
    format!("key-{k:010}").into_bytes()
}

fn body(k: usize, rev: u32) -> Vec<u8> {
    let mut b = format!("{k}:{rev}:").into_bytes();
    b.resize(BODY, (k as u8) ^ (rev as u8));
    b
}

/// One flusher batch over pseudo-random keys, committed; records the revisions.
fn flush_batch(e: &mut Engine, keys: usize) -> couchstore::Result<()> {
    e.round += 1;
    let rev = e.round;
    let picks: Vec<usize> = (0..BATCH)
        .map(|i| (rev as usize * 7_919 + i * 104_729) % keys)
        .collect();
    let ids: Vec<Vec<u8>> = picks.iter().map(|&k| key(k)).collect();
    let bodies: Vec<Vec<u8>> = picks.iter().map(|&k| body(k, rev)).collect();
    let mut batch: Vec<NewDoc<'_>> = (0..BATCH)
        .map(|i| NewDoc {
            id: &ids[i],
            body: Some(&bodies[i]),
            rev_seq: u64::from(rev),
            content_meta: 3,
            ..Default::default()
        })
        .collect();
    e.db.save_documents(&mut batch, couchstore::db::SaveOptions::default())?;
    e.db.commit()?;
    for &k in &picks {
        e.revs[k] = rev;
    }
    Ok(())
}

/// Which compaction a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Online, following the flusher's handle or (false) seeing only the file.
    Online { follow: bool },
    /// Offline, holding the engine's lock throughout.
    Offline,
}

/// What one compaction under the flusher came to, for the summary table.
struct Row {
    /// The size asked for, and the database's size as built.
    requested_mb: u64,
    size_mb: f64,
    mode: Mode,
    total: Duration,
    /// The final hold's parts: the rest of the flusher's batch applied, the replay
    /// from the file, making the target durable, the switch.
    final_parts: [Duration; 4],
    /// Documents replayed from the file under the lock at the end.
    final_docs: u64,
    longest_hold: Duration,
    paced_rounds: u32,
    most_docs_per_hold: u64,
    worst_before: Duration,
    worst_during: Duration,
    docs_per_sec_before: f64,
    docs_per_sec_paced: f64,
}

fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no commits".into();
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    format!(
        "{} commits, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        v.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the flusher until `stop`; returns when each commit started and how long it
/// took (waiting for the lock included).
fn flusher(
    engine: Arc<Mutex<Engine>>,
    lock: EngineLock,
    keys: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, Duration)> {
    let mut commits = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        let held = lock.lock();
        let r = flush_batch(&mut engine.lock().expect("not poisoned"), keys);
        MutexGuard::unlock_fair(held);
        r.expect("flusher commit");
        commits.push((t, t.elapsed()));
    }
    commits
}

/// Splits commit latencies into those before the window and those overlapping it.
fn split(
    commits: &[(Instant, Duration)],
    from: Instant,
    to: Instant,
) -> (Vec<Duration>, Vec<Duration>) {
    let before = commits
        .iter()
        .filter(|(t, d)| *t + *d <= from)
        .map(|c| c.1)
        .collect();
    let during = commits
        .iter()
        .filter(|(t, d)| *t < to && *t + *d > from)
        .map(|c| c.1)
        .collect();
    (before, during)
}

/// Checks every key's revision and body in the file at `path`.
fn verify(path: &Path, revs: &[u32]) -> couchstore::Result<usize> {
    let db = Db::open(path, OpenOptions::read_only())?;
    let mut checked = 0;
    for (k, &rev) in revs.iter().enumerate() {
        if rev == 0 {
            continue;
        }
        let info = db.docinfo_by_id(&key(k))?;
        let doc = db.open_doc_with_docinfo(&info, true)?;
        if info.rev_seq != u64::from(rev) || doc.data != body(k, rev) {
            return Err(Error::Corrupt);
        }
        checked += 1;
    }
    Ok(checked)
}

/// The old file's second name, kept so it can be removed gradually after the switch.
fn old_name(source: &Path) -> PathBuf {
    source.with_extension("couch.old")
}

fn switch_to(engine: &Mutex<Engine>, compacted: &Path, source: &Path) -> couchstore::Result<()> {
    // Keep the old file reachable: dropping its last name and handle here would free all
    // its blocks at once, which holds up the flusher's fsyncs on the new file.
    std::fs::hard_link(source, old_name(source)).map_err(|_| Error::Write)?;
    std::fs::rename(compacted, source).map_err(|_| Error::Write)?;
    // The rename survives a power cut only once the directory is fsynced; until then a
    // restart would find the old file, without the commits the flusher makes next.
    let dir = source.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|_| Error::Write)?;
    engine.lock().expect("not poisoned").db = Db::open(source, OpenOptions::default())?;
    Ok(())
}

/// Drops the clean pages of the OS page cache (Linux, root), for a compaction that
/// starts cold.
fn drop_page_cache() -> couchstore::Result<()> {
    std::fs::write("/proc/sys/vm/drop_caches", "1").map_err(|e| {
        eprintln!(
            "couch_online_demo: --cold: cannot drop the page cache ({e}); it needs root on Linux"
        );
        Error::Write
    })
}

fn run(dir: &Path, size_mb: u64, mode: Mode, cold: bool) -> couchstore::Result<Row> {
    let online = mode != Mode::Offline;
    let source = dir.join(if online {
        "online.couch"
    } else {
        "offline.couch"
    });
    let target = dir.join(if online {
        "online.couch.compact"
    } else {
        "offline.couch.compact"
    });
    let (e, keys, size) = build(&source, &target, size_mb, mode)?;

    let engine = Arc::new(Mutex::new(e));
    let lock = EngineLock::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let (e, l, s) = (engine.clone(), lock.clone(), stop.clone());
        std::thread::spawn(move || flusher(e, l, keys, s))
    };
    std::thread::sleep(Duration::from_secs(2)); // the flusher's baseline
    if cold {
        drop_page_cache()?;
        println!("page cache dropped: the compaction starts cold");
    }
    let t = Instant::now();
    let mut row = Row {
        requested_mb: size_mb,
        size_mb: size as f64 / 1048576.0,
        mode,
        total: Duration::ZERO,
        final_parts: [Duration::ZERO; 4],
        final_docs: 0,
        longest_hold: Duration::ZERO,
        paced_rounds: 0,
        most_docs_per_hold: 0,
        worst_before: Duration::ZERO,
        worst_during: Duration::ZERO,
        docs_per_sec_before: 0.0,
        docs_per_sec_paced: 0.0,
    };
    match mode {
        Mode::Online { follow } => {
            compact_online_demo(&engine, &lock, &source, &target, follow, &mut row)?
        }
        Mode::Offline => compact_offline_demo(&engine, &lock, &source, &target, t, &mut row)?,
    }
    // The engine's handles on the old file are closed; give its space back gradually,
    // still inside the measured window.
    couchstore::file::remove_gradually(&old_name(&source))?;
    let window_end = Instant::now();
    std::thread::sleep(Duration::from_millis(500)); // the flusher goes on with the new file
    stop.store(true, Ordering::SeqCst);
    let commits = handle.join().map_err(|_| Error::Write)?;
    let (before, inside) = split(&commits, t, window_end);
    row.worst_before = before.iter().copied().max().unwrap_or_default();
    row.worst_during = inside.iter().copied().max().unwrap_or_default();
    // Commits per second over the wall time before the compaction started.
    let first = commits.first().map_or(t, |c| c.0);
    row.docs_per_sec_before = (before.len() * BATCH) as f64 / (t - first).as_secs_f64();
    println!("flusher before compaction: {}", percentiles(before));
    println!("flusher during compaction: {}", percentiles(inside));
    let e = engine.lock().expect("not poisoned");
    let checked = verify(&source, &e.revs)?;
    let after = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
    println!(
        "verified: all {checked} keys hold their last committed revision and body ({} flusher batches); file now {:.0} MiB",
        e.round,
        after as f64 / 1048576.0
    );
    Ok(row)
}

/// Builds a fresh database of about `size_mb` MiB (removing what an earlier run left). Returns the engine over it, the
/// number of keys, and the file's size.
fn build(
    source: &Path,
    target: &Path,
    size_mb: u64,
    mode: Mode,
) -> couchstore::Result<(Engine, usize, u64)> {
    // A fresh database each run, even in a directory kept from an earlier one.
    for f in [source, target, &old_name(source)] {
        let _ = std::fs::remove_file(f);
    }
    // Enough keys that the live data is about half the file once updates pile up.
    let keys = ((size_mb << 20) as usize / BODY / 2).max(BATCH);
    let mut e = Engine {
        db: Db::open(source, OpenOptions::create())?,
        revs: vec![0; keys],
        round: 0,
    };
    let t = Instant::now();
    while std::fs::metadata(source).map(|m| m.len()).unwrap_or(0) < size_mb << 20 {
        flush_batch(&mut e, keys)?;
    }
    let size = std::fs::metadata(source).map(|m| m.len()).unwrap_or(0);
    println!("\n=== {} compaction, {size_mb} MiB ===", mode_name(mode));
    println!(
        "database: {:.0} MiB, {} keys, built in {:.1} s",
        size as f64 / 1048576.0,
        keys,
        t.elapsed().as_secs_f64()
    );
    Ok((e, keys, size))
}

/// The online compaction, the flusher running: prints its figures into `row`.
fn compact_online_demo(
    engine: &Arc<Mutex<Engine>>,
    lock: &EngineLock,
    source: &Path,
    target: &Path,
    follow: bool,
    row: &mut Row,
) -> couchstore::Result<()> {
    let (eng, src) = (engine.clone(), source.to_path_buf());
    let (take, release) = lock_hooks(lock);
    let mut options = OnlineOptions::new(
        take,
        release,
        Box::new(move |compacted: &Path| switch_to(&eng, compacted, &src)),
    );
    // fsync the target every 4 MiB, so its writeback never piles up in front of the
    // flusher's own fsyncs.
    options.flags.periodic_sync = Some(4 << 20);
    options.follow_writers = follow;
    let stats = compact_online(source, target, options)?;
    println!(
        "online compaction: {:.2} s; {} docs copied; {} catch-up rounds ({:.1} MiB, {} docs without the lock){}; final replay {} docs, {:.1} MiB",
        stats.total.as_secs_f64(),
        stats.compaction.docs_copied,
        stats.catch_up_rounds,
        stats.bytes_replayed_unlocked as f64 / 1048576.0,
        stats.docs_replayed_unlocked,
        if stats.rate_limit_lifted {
            ", the rate limit lifted when it left the backlog growing"
        } else {
            ""
        },
        stats.docs_replayed_locked,
        stats.bytes_replayed_locked as f64 / 1048576.0
    );
    if stats.followed {
        println!(
            "following the flusher: {} of its batches ({} docs) applied as it saved them, {} commits confirming them; rounds from the file where its batches were not told of: {}; docs applied once the lock was held: {}",
            stats.followed_saves,
            stats.docs_followed,
            stats.followed_commits,
            stats.follow_source_rounds,
            stats.docs_followed_locked
        );
    }
    println!(
        "time under the lock: final {:.1} ms (rest of the flusher's batch {:.1}, replay {:.1}, commit {:.1}, switch {:.1}); {} paced rounds ({} docs) before it; longest hold {:.1} ms",
        stats.lock_hold.as_secs_f64() * 1e3,
        ms(stats.final_follow),
        ms(stats.final_replay),
        ms(stats.final_commit),
        ms(stats.final_switch),
        stats.paced_rounds,
        stats.docs_replayed_paced,
        stats.longest_lock_hold.as_secs_f64() * 1e3
    );
    if stats.paced_rounds > 0 {
        println!(
            "pacing: {:.2} s, {:.1} ms of it under the lock; most docs in one hold {}; flusher {:.0} docs/s while paced, {:.0} before",
            stats.pacing.as_secs_f64(),
            ms(stats.paced_lock_time),
            stats.most_docs_per_hold,
            stats.flusher_docs_per_sec_paced,
            stats.flusher_docs_per_sec_unpaced
        );
    }
    row.total = stats.total;
    row.final_parts = [
        stats.final_follow,
        stats.final_replay,
        stats.final_commit,
        stats.final_switch,
    ];
    row.final_docs = stats.docs_replayed_locked;
    row.longest_hold = stats.longest_lock_hold;
    row.paced_rounds = stats.paced_rounds;
    row.most_docs_per_hold = stats.most_docs_per_hold;
    row.docs_per_sec_paced = stats.flusher_docs_per_sec_paced;
    Ok(())
}

/// The offline compaction, holding the engine's lock throughout, as an engine without
/// online compaction does.
fn compact_offline_demo(
    engine: &Arc<Mutex<Engine>>,
    lock: &EngineLock,
    source: &Path,
    target: &Path,
    t: Instant,
    row: &mut Row,
) -> couchstore::Result<()> {
    let held = lock.lock();
    let result = Db::open(source, OpenOptions::read_only())
        .and_then(|db| compact::compact(&db, target, CompactOptions::default()))
        .and_then(|stats| switch_to(engine, target, source).map(|()| stats));
    let took = t.elapsed();
    MutexGuard::unlock_fair(held);
    let stats = result?;
    row.total = took;
    row.longest_hold = took;
    row.most_docs_per_hold = stats.docs_copied;
    println!(
        "offline compaction: {:.2} s; {} docs copied",
        took.as_secs_f64(),
        stats.docs_copied
    );
    println!(
        "time under the lock: {:.1} ms (the whole compaction)",
        took.as_secs_f64() * 1e3
    );
    Ok(())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Online { follow: true } => "online, following",
        Mode::Online { follow: false } => "online, file only",
        Mode::Offline => "offline",
    }
}

fn summary(rows: &[Row]) {
    println!("\n=== summary ===");
    println!(
        "| mode | database | compaction | longest hold | final hold: rest of batch / replay / durable / switch | docs replayed from the file in it | paced rounds | most docs in a hold | flusher worst commit: before / during (ratio) | flusher docs/s: before / paced |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let paced = if r.paced_rounds > 0 {
            format!("{:.0} / {:.0}", r.docs_per_sec_before, r.docs_per_sec_paced)
        } else {
            format!("{:.0} / -", r.docs_per_sec_before)
        };
        let [follow, replay, durable, switch] = r.final_parts.map(ms);
        let (parts, docs) = match r.mode {
            Mode::Offline => ("—".to_string(), "—".to_string()),
            _ => (
                format!("{follow:.1} / {replay:.1} / {durable:.1} / {switch:.1} ms"),
                r.final_docs.to_string(),
            ),
        };
        println!(
            "| {} | {:.0} MiB | {:.1} s | {:.1} ms | {parts} | {docs} | {} | {} | {:.1} / {:.1} ms ({:.1}x) | {} |",
            mode_name(r.mode),
            r.size_mb,
            r.total.as_secs_f64(),
            ms(r.longest_hold),
            r.paced_rounds,
            r.most_docs_per_hold,
            ms(r.worst_before),
            ms(r.worst_during),
            r.worst_during.as_secs_f64() / r.worst_before.as_secs_f64(),
            paced
        );
    }
    follow_ratios(rows);
}

/// For each size compacted online both ways in this run: the longest holds, following
/// against seeing only the file.
fn follow_ratios(rows: &[Row]) {
    let longest = |size: u64, follow: bool| {
        rows.iter()
            .find(|r| r.requested_mb == size && r.mode == Mode::Online { follow })
            .map(|r| r.longest_hold)
    };
    for r in rows
        .iter()
        .filter(|r| r.mode == Mode::Online { follow: true })
    {
        if let (Some(with), Some(without)) = (
            longest(r.requested_mb, true),
            longest(r.requested_mb, false),
        ) {
            println!(
                "{} MiB: longest hold following the flusher {:.1} ms, seeing only the file {:.1} ms ({:.1}x shorter)",
                r.requested_mb,
                ms(with),
                ms(without),
                without.as_secs_f64() / with.as_secs_f64()
            );
        }
    }
}

fn parse_sizes(v: Option<&String>) -> Option<Vec<u64>> {
    let sizes: Option<Vec<u64>> = v?
        .split(',')
        .map(|n| n.trim().parse().ok().filter(|&n| n > 0))
        .collect();
    sizes.filter(|s| !s.is_empty())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = Some(vec![100u64, 300]);
    let mut dir: Option<PathBuf> = None;
    let mut modes = vec![true, false];
    let mut rate_mib: Option<u64> = Some(0);
    let mut cold = false;
    let mut follow = Some(vec![true]);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" | "--size-mb" => sizes = parse_sizes(it.next()),
            "--full" => sizes = Some(vec![100, 300, 1024]),
            "--dir" => dir = it.next().map(PathBuf::from),
            "--rate-limit" => rate_mib = it.next().and_then(|n| n.parse().ok()),
            "--cold" => cold = true,
            "--follow" => {
                follow = match it.next().map(String::as_str) {
                    Some("on") => Some(vec![true]),
                    Some("off") => Some(vec![false]),
                    Some("both") => Some(vec![true, false]),
                    _ => None,
                }
            }
            "--only" => match it.next().map(String::as_str) {
                Some("online") => modes = vec![true],
                Some("offline") => modes = vec![false],
                _ => sizes = None,
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            _ => sizes = None,
        }
    }
    let (Some(sizes), Some(rate_mib), Some(follow)) = (sizes, rate_mib, follow) else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    couchstore::compact::rate_limit::RateLimit::process_wide().set_bytes_per_sec(rate_mib << 20);
    let tmp = match tempfile_dir(dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("couch_online_demo: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "couch_online_demo: a flusher committing batches of {BATCH} x {BODY} B documents at full speed while databases of {sizes:?} MiB are compacted ({})",
        match rate_mib {
            0 => "no rate limit".to_string(),
            n => format!("rate limit {n} MiB/s"),
        }
    );
    let mut runs: Vec<(u64, Mode)> = Vec::new();
    if modes.contains(&true) {
        for &s in &sizes {
            runs.extend(follow.iter().map(|&follow| (s, Mode::Online { follow })));
        }
    }
    if modes.contains(&false) {
        runs.push((sizes[0], Mode::Offline));
    }
    let mut rows = Vec::new();
    for (size_mb, mode) in runs {
        match run(&tmp.0, size_mb, mode, cold) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("couch_online_demo: {}", couchstore::capi::codes::report(&e));
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    summary(&rows);
    std::process::ExitCode::SUCCESS
}

/// A scratch directory, removed at exit unless the user named one.
struct Scratch(PathBuf, bool);

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tempfile_dir(dir: Option<PathBuf>) -> std::io::Result<Scratch> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            Ok(Scratch(d, false))
        }
        None => {
            let d = std::env::current_dir()?.join(format!("couch-demo-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            Ok(Scratch(d, true))
        }
    }
}
