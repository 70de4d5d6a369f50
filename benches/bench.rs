//! couchstore-rs benchmarks: the flusher, reads and compaction, each beside a physical
//! baseline measured in the same run (these machines are shared and noisy, so ratios
//! are what to compare).
//!
//!     cargo bench                 # small (CI checks it runs)
//!     cargo bench --bench bench -- --full   # a few hundred MB
//!     cargo bench --bench bench -- --engine-node [--full]   # only the engine-node scenario
//!
//! Prints figures only; nothing here asserts a timing.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use couchstore::Db;
use couchstore::btree::Step;
use couchstore::compact::rate_limit::{DEFAULT_BYTES_PER_SEC, RateLimit};
use couchstore::compact::{self, CompactOptions};
use couchstore::db::{NewDoc, OpenOptions};

#[path = "bench/engine_node.rs"]
mod engine_node;

struct Config {
    docs: usize,
    batch: usize,
    body: usize,
    dir: PathBuf,
}

/// Latency percentiles of a set of durations.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99), at(1.0))
}

/// A `kB` field of `/proc/self/status` (Linux), 0 when absent.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Peak resident set since the last reset, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    proc_status_kib("VmHWM:") as f64 / 1024.0
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A flusher batch of `n` updates of random keys among `keys`, each with `body`.
fn random_updates<'a>(
    keys: &'a [Vec<u8>],
    body: &'a [u8],
    rng: &mut Rng,
    n: usize,
    rev_seq: u64,
) -> Vec<NewDoc<'a>> {
    (0..n)
        .map(|_| NewDoc {
            id: &keys[(rng.next() % keys.len() as u64) as usize],
            body: Some(body),
            rev_seq,
            content_meta: 3,
            ..Default::default()
        })
        .collect()
}

fn keys(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| format!("key-{:010}", rng.next() % 10_000_000_000).into_bytes())
        .collect()
}

/// The flusher workload: insert every key, then update every key, in batches, with a
/// commit (fsync) after each. Returns commit latencies.
fn flusher(cfg: &Config, path: &Path, keys: &[Vec<u8>]) -> Vec<Duration> {
    let mut db = Db::open(path, OpenOptions::create()).unwrap();
    let body: Vec<u8> = (0..cfg.body).map(|i| (i * 31 % 251) as u8).collect();
    let meta = [0u8; 18];
    let mut latencies = Vec::new();
    for round in 0..2u64 {
        for chunk in keys.chunks(cfg.batch) {
            let mut batch: Vec<NewDoc<'_>> = chunk
                .iter()
                .map(|k| NewDoc {
                    id: k,
                    body: Some(&body),
                    rev_seq: round + 1,
                    rev_meta: &meta,
                    content_meta: 3,
                    ..Default::default()
                })
                .collect();
            let t = Instant::now();
            db.save_documents(&mut batch, couchstore::db::SaveOptions::default())
                .unwrap();
            db.commit().unwrap();
            latencies.push(t.elapsed());
        }
    }
    latencies
}

/// The raw cost of the flusher's bytes: the same volume appended following the commit
/// protocol (data, fsync, a 4 KiB header, fsync) per batch.
fn raw_append(cfg: &Config, path: &Path, batches: usize) -> Duration {
    let mut f = File::create(path).unwrap();
    let chunk = vec![7u8; cfg.batch * (cfg.body + 64)];
    let header = vec![1u8; 4096];
    let t = Instant::now();
    for _ in 0..batches {
        f.write_all(&chunk).unwrap();
        f.sync_data().unwrap();
        f.write_all(&header).unwrap();
        f.sync_data().unwrap();
    }
    t.elapsed()
}

/// A plain sequential copy: read, write, fsync.
fn sequential_copy(from: &Path, to: &Path) -> Duration {
    let t = Instant::now();
    let mut src = File::open(from).unwrap();
    let mut dst = File::create(to).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).unwrap();
    }
    dst.sync_all().unwrap();
    t.elapsed()
}

/// Times `rounds` flusher batches of 1000 random-key updates on `source`, then the
/// replay of exactly those batches onto `target` (a compaction of `source` before
/// them), hold by hold as the online driver paces them: B-tree nodes as literals, the
/// nodes to rewrite read ahead by a second thread, appends kept in memory during a
/// hold and written out and fsynced after it, no commit between holds, one at the end.
fn replay_vs_flusher(source: &Path, target: &Path, keys: &[Vec<u8>], body_len: usize) {
    use couchstore::compact::replay::{ReplayOptions, replay};
    const BATCH: usize = 1000;
    let rounds = 20;
    let mut db = Db::open(source, OpenOptions::default()).unwrap();
    let start = db.header_position();
    let body = vec![5u8; body_len];
    let mut rng = Rng(7);
    let mut flush_time = Duration::ZERO;
    let mut ends = Vec::new();
    for r in 0..rounds {
        let mut batch = random_updates(keys, &body, &mut rng, BATCH, r + 10);
        let t = Instant::now();
        db.save_documents(&mut batch, couchstore::db::SaveOptions::default())
            .unwrap();
        db.commit().unwrap();
        flush_time += t.elapsed();
        ends.push(db.header_position());
    }
    let mut src = Db::open(source, OpenOptions::read_only()).unwrap();
    src.seek_header(start).unwrap();
    let mut t = Db::open(target, OpenOptions::default()).unwrap();
    t.set_literal_nodes(true).unwrap();
    // As in a hold, a second thread reads ahead the nodes each batch rewrites.
    t.set_prefetch(true).unwrap();
    // As in a paced hold: appends stay in memory, written out (and fsynced) between
    // holds, without the lock.
    t.set_deferred_writes(Some(64 << 20)).unwrap();
    let target = std::cell::RefCell::new(t);
    let mut held = Duration::ZERO;
    let t = Instant::now();
    for &end in &ends {
        let options = ReplayOptions {
            skip_commit: true,
            unpublished_target: true,
            ..Default::default()
        };
        let hold = Instant::now();
        replay(&mut src, &target, end, options).unwrap();
        held += hold.elapsed();
        target.borrow_mut().sync_data().unwrap();
    }
    let replay_all = t.elapsed();
    target.borrow_mut().commit().unwrap();
    let docs = (rounds as usize * BATCH) as f64;
    let rate = |d: Duration| docs / d.as_secs_f64();
    println!("\n[replay vs flusher] {rounds} batches of {BATCH} random-key updates");
    println!(
        "  flusher (save + commit): {:.0} docs/s; replay onto the compacted file, under the lock: {:.0} docs/s ({:.0} with the write-out and fsync between holds)",
        rate(flush_time),
        rate(held),
        rate(replay_all)
    );
    println!(
        "  replay under the lock / flusher = {:.2}x (target 2x; {:.2}x with the write-out and fsync); a 5 ms hold replays about {:.0} docs",
        flush_time.as_secs_f64() / held.as_secs_f64(),
        flush_time.as_secs_f64() / replay_all.as_secs_f64(),
        rate(held) * 0.005
    );
}

/// What following costs the flusher: the same batches of random-key updates, saved
/// and committed alternately with no compaction following the file and with one
/// following it (a subscription to the file's writers, whose events another thread
/// takes as the online driver does, without applying them). The ratio of the two sums
/// is the flusher's cost of telling a compaction what it saves (a copy of each batch's
/// doc infos and bodies).
fn feed_cost(path: &Path, keys: &[Vec<u8>], body_len: usize) {
    use couchstore::db::feed::Subscription;
    const BATCH: usize = 1000;
    let rounds = 20;
    let mut db = Db::open(path, OpenOptions::default()).unwrap();
    let identity = db.identity().expect("an OS file tells its identity");
    let body = vec![6u8; body_len];
    let mut rng = Rng(11);
    let mut times = [Duration::ZERO; 2];
    let mut events = 0u64;
    for r in 0..rounds {
        let followed = r % 2 == 1;
        let mut batch = random_updates(keys, &body, &mut rng, BATCH, r + 100);
        let sub = followed.then(|| Subscription::new(identity, 32 << 20).unwrap());
        std::thread::scope(|scope| {
            let taker = sub.as_ref().map(|sub| {
                scope.spawn(move || {
                    let mut n = 0u64;
                    while let Some(event) = sub.next_until_stopped() {
                        if let couchstore::db::feed::FeedEvent::Saved(b) = event {
                            sub.recycle(b.bytes);
                        }
                        n += 1;
                    }
                    n
                })
            });
            let t = Instant::now();
            db.save_documents(&mut batch, couchstore::db::SaveOptions::default())
                .unwrap();
            db.commit().unwrap();
            times[usize::from(followed)] += t.elapsed();
            if let (Some(sub), Some(taker)) = (sub.as_ref(), taker) {
                sub.stop();
                events += taker.join().unwrap();
            }
        });
    }
    let per_doc = |d: Duration| d.as_secs_f64() * 1e6 / (rounds as f64 / 2.0 * BATCH as f64);
    println!(
        "\n[flusher followed by a compaction] {rounds} batches of {BATCH} random-key updates, alternately not followed and followed ({events} events taken)"
    );
    println!(
        "  save + commit: {:.2} us/doc not followed, {:.2} us/doc followed: followed / not = {:.2}x",
        per_doc(times[0]),
        per_doc(times[1]),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--full");
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    if std::env::args().any(|a| a == "--engine-node") {
        engine_node::bench(full, dir.path());
        return;
    }
    // The sections before the engine node measure compaction at full speed, as the
    // README's earlier figures do; the engine node runs at the default limit.
    RateLimit::process_wide().set_bytes_per_sec(0);
    let cfg = Config {
        docs: if full { 200_000 } else { 20_000 },
        batch: 1000,
        body: 1024,
        dir: dir.path().to_path_buf(),
    };
    println!(
        "couchstore-rs bench ({}): {} docs of {} B, batches of {}",
        if full { "full" } else { "small" },
        cfg.docs,
        cfg.body,
        cfg.batch
    );
    let keys = keys(cfg.docs);
    let db_path = cfg.dir.join("bench.couch");

    // 1. Flusher.
    reset_peak_rss();
    let t = Instant::now();
    let lat = flusher(&cfg, &db_path, &keys);
    let flush_time = t.elapsed();
    let flush_rss = peak_rss_mib();
    let raw = raw_append(&cfg, &cfg.dir.join("raw.bin"), lat.len());
    let (p50, p99, max) = percentiles(lat.clone());
    let docs = 2 * cfg.docs;
    println!(
        "\n[flusher] {} saves in {:.2} s: {:.0} docs/s",
        docs,
        flush_time.as_secs_f64(),
        docs as f64 / flush_time.as_secs_f64()
    );
    println!("  commit latency ms: p50 {p50:.2}  p99 {p99:.2}  max {max:.2}");
    println!(
        "  raw appends of the same volume (data, fsync, 4 KiB header, fsync per batch): {:.2} s; flusher / raw = {:.2}x",
        raw.as_secs_f64(),
        flush_time.as_secs_f64() / raw.as_secs_f64()
    );
    println!("  peak RSS {flush_rss:.1} MiB");

    // 2. Reads.
    let db = Db::open(&db_path, OpenOptions::read_only()).unwrap();
    reset_peak_rss();
    let mut rng = Rng(42);
    let reads = cfg.docs / 2;
    let t = Instant::now();
    for _ in 0..reads {
        let k = &keys[(rng.next() % keys.len() as u64) as usize];
        let doc = db.open_document(k, true).unwrap();
        std::hint::black_box(doc);
    }
    let read_time = t.elapsed();
    let t = Instant::now();
    let mut n = 0u64;
    db.changes_since(0, couchstore::db::ScanOptions::default(), &mut |_| {
        n += 1;
        Ok(Step::Continue)
    })
    .unwrap();
    let scan_time = t.elapsed();
    println!(
        "\n[reads] {reads} random open_document: {:.0} ops/s",
        reads as f64 / read_time.as_secs_f64()
    );
    println!(
        "  changes_since scan of {n} docs: {:.0} docs/s",
        n as f64 / scan_time.as_secs_f64()
    );
    println!("  peak RSS {:.1} MiB", peak_rss_mib());

    // 3. Offline compaction.
    let size = std::fs::metadata(&db_path).unwrap().len();
    let copy = sequential_copy(&db_path, &cfg.dir.join("copy.bin"));
    reset_peak_rss();
    let target = cfg.dir.join("bench.compact");
    let t = Instant::now();
    let stats = compact::compact(&db, &target, CompactOptions::default()).unwrap();
    let compact_time = t.elapsed();
    let mb = size as f64 / (1 << 20) as f64;
    println!(
        "\n[compaction] source {mb:.1} MiB, {} docs -> {:.1} MiB",
        stats.docs_copied,
        std::fs::metadata(&target).unwrap().len() as f64 / (1 << 20) as f64
    );
    println!(
        "  compaction {:.1} MiB/s; sequential copy {:.1} MiB/s; ratio {:.2}",
        mb / compact_time.as_secs_f64(),
        mb / copy.as_secs_f64(),
        copy.as_secs_f64() / compact_time.as_secs_f64()
    );
    let compact_rss = peak_rss_mib();
    println!("  peak RSS {compact_rss:.1} MiB");
    drop(db);

    // 3b. Replay (what online compaction does under the lock) against the flusher
    //     writing the same documents: sparse random-key updates onto the compacted file.
    replay_vs_flusher(&db_path, &target, &keys, cfg.body);
    feed_cost(&db_path, &keys, cfg.body);

    // 4. Online compaction beside a full-speed flusher, and offline for comparison
    //    (the demo binary, which prints both).
    let demo_sizes = if full { "100,300,1024" } else { "40" };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_couch_online_demo"))
        .args(["--sizes", demo_sizes, "--follow", "both", "--dir"])
        .arg(cfg.dir.join("demo"))
        .output()
        .expect("the demo runs");
    println!("\n[online vs offline compaction under a flusher] ({demo_sizes} MiB)");
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("couch_online_demo"))
    {
        println!("  {line}");
    }
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 5. Memory as the data grows: peak RSS of the flusher and of compaction at 1x and
    //    4x the documents.
    println!("\n[peak RSS growth]");
    let mut rows = Vec::new();
    for factor in [1usize, 4] {
        let docs = cfg.docs * factor / 2;
        let c = Config {
            docs,
            batch: cfg.batch,
            body: cfg.body,
            dir: cfg.dir.clone(),
        };
        let path = cfg.dir.join(format!("rss{factor}.couch"));
        let growth_keys = self::keys(docs);
        reset_peak_rss();
        flusher(&c, &path, &growth_keys);
        let flush_rss = peak_rss_mib();
        let db = Db::open(&path, OpenOptions::read_only()).unwrap();
        reset_peak_rss();
        compact::compact(
            &db,
            &cfg.dir.join(format!("rss{factor}.compact")),
            CompactOptions::default(),
        )
        .unwrap();
        rows.push((
            factor,
            docs,
            std::fs::metadata(&path).unwrap().len(),
            flush_rss,
            peak_rss_mib(),
        ));
    }
    for (factor, docs, size, f, c) in &rows {
        println!(
            "  {factor}x: {docs} docs, {:.0} MiB file: flusher peak {f:.1} MiB, compaction peak {c:.1} MiB",
            *size as f64 / 1048576.0
        );
    }
    println!(
        "  growth 1x -> 4x: flusher {:.2}x, compaction {:.2}x",
        rows[1].3 / rows[0].3,
        rows[1].4 / rows[0].4
    );

    // 6. The engine node: many files, two flushers, online compactions beside them.
    RateLimit::process_wide().set_bytes_per_sec(DEFAULT_BYTES_PER_SEC);
    engine_node::bench(full, &cfg.dir);
}
