//! Crash consistency: a child process runs a workload and is killed with SIGKILL at a
//! random moment, many times. After each kill the file must open at a valid header that
//! holds exactly the state after some commit no older than the last one the child
//! reported (reports are written after commit returned), with nothing half-written.
//!
//! Workloads: a flusher committing batches; offline compaction of a prepared file;
//! online compaction beside a flusher (the switch renames the target over the source).
//! COUCHSTORE_CRASH_ITERATIONS sets the number of kills per workload (default 12; the
//! long run uses a few hundred).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use couchstore::btree::Step;
use couchstore::compact::online::{OnlineOptions, compact_online};
use couchstore::compact::{self, CompactOptions};
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::{Db, Error, LocalDoc};

const KEYS: u64 = 2000;
const BATCH: u64 = 150;

/// The documents round `r` writes: (key, deleted).
fn round_docs(r: u64) -> Vec<(u64, bool)> {
    (0..BATCH)
        .map(|j| ((r * 7919 + j * 131) % KEYS, (r + j).is_multiple_of(9)))
        .collect()
}

fn body(key: u64, r: u64) -> Vec<u8> {
    format!("{key}@{r}:")
        .repeat((key % 30 + 1) as usize)
        .into_bytes()
}

/// Saves and commits round `r`.
fn write_round(db: &mut Db, r: u64) -> couchstore::Result<()> {
    let docs = round_docs(r);
    let ids: Vec<Vec<u8>> = docs
        .iter()
        .map(|(k, _)| format!("k{k:05}").into_bytes())
        .collect();
    let bodies: Vec<Vec<u8>> = docs.iter().map(|(k, _)| body(*k, r)).collect();
    let mut batch: Vec<NewDoc<'_>> = docs
        .iter()
        .enumerate()
        .map(|(i, (_, del))| NewDoc {
            id: &ids[i],
            body: if *del { None } else { Some(&bodies[i]) },
            deleted: *del,
            rev_seq: r + 1,
            ..Default::default()
        })
        .collect();
    db.save_documents(&mut batch, couchstore::db::SaveOptions::default())?;
    db.save_local_document(&LocalDoc {
        id: b"_local/round".to_vec(),
        json: r.to_string().into_bytes(),
        deleted: false,
    })?;
    db.commit()
}

/// The expected (rev_seq, deleted) per key after rounds 0..=r.
fn model(r: u64) -> BTreeMap<Vec<u8>, (u64, bool)> {
    let mut m = BTreeMap::new();
    for round in 0..=r {
        for (k, del) in round_docs(round) {
            m.insert(format!("k{k:05}").into_bytes(), (round + 1, del));
        }
    }
    m
}

/// Checks that `path` holds exactly the state after some round in `[min, max]`;
/// returns that round.
fn check_file(path: &Path, min: u64, max: u64) -> u64 {
    let db = Db::open(path, OpenOptions::read_only())
        .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
    let local = db
        .open_local_document(b"_local/round")
        .expect("round marker");
    let round: u64 = String::from_utf8(local.json).unwrap().parse().unwrap();
    assert!(
        (min..=max).contains(&round),
        "file at round {round}, expected {min}..={max}"
    );
    let want = model(round);
    let mut seen = BTreeMap::new();
    db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |info| {
        seen.insert(info.id.clone(), (info.rev_seq, info.deleted));
        let rev = info.rev_seq - 1;
        match db.open_doc_with_docinfo(info, false) {
            Ok(doc) => assert_eq!(
                doc.data,
                body(
                    std::str::from_utf8(&info.id[1..])
                        .unwrap()
                        .parse::<u64>()
                        .unwrap(),
                    rev
                )
            ),
            Err(e) if e == Error::DocNotFound => assert!(info.deleted),
            Err(e) => panic!("body unreadable: {e}"),
        }
        Ok(Step::Continue)
    })
    .unwrap();
    assert_eq!(seen, want, "content of round {round}");
    let live = want.values().filter(|(_, d)| !d).count() as u64;
    let info = db.info().unwrap();
    assert_eq!(
        (info.doc_count, info.deleted_count),
        (live, want.len() as u64 - live)
    );
    assert_eq!(db.changes_count(0, u64::MAX).unwrap(), want.len() as u64);
    round
}

// ----- the child side -----

/// Entry point of the child process (selected by environment; ignored otherwise).
#[test]
#[ignore = "run by the crash tests as a child process"]
fn crash_child() {
    let Ok(work) = std::env::var("COUCHSTORE_CRASH_WORKLOAD") else {
        return;
    };
    let path = PathBuf::from(std::env::var("COUCHSTORE_CRASH_PATH").unwrap());
    let first: u64 = std::env::var("COUCHSTORE_CRASH_FIRST")
        .unwrap()
        .parse()
        .unwrap();
    match work.as_str() {
        "flusher" => {
            let mut db = Db::open(&path, OpenOptions::create()).unwrap();
            for r in first.. {
                write_round(&mut db, r).unwrap();
                println!("committed {r}");
            }
        }
        "compact" => {
            let db = Db::open(&path, OpenOptions::read_only()).unwrap();
            let target = path.with_extension("compact");
            // Unbuffered, with an fsync every 4 KiB: many small steps to be killed between.
            let flags = compact::CompactFlags {
                unbuffered: true,
                periodic_sync: Some(4096),
                ..Default::default()
            };
            compact::compact(
                &db,
                &target,
                CompactOptions {
                    flags,
                    ..Default::default()
                },
            )
            .unwrap();
            println!("compacted");
            std::thread::sleep(Duration::from_secs(60));
        }
        "online" => {
            let target = path.with_extension("compact");
            let db = std::sync::Arc::new(std::sync::Mutex::new(
                Db::open(&path, OpenOptions::default()).unwrap(),
            ));
            let flusher = {
                let db = db.clone();
                std::thread::spawn(move || {
                    for r in first.. {
                        let mut d = db.lock().unwrap();
                        write_round(&mut d, r).unwrap();
                        println!("committed {r}");
                    }
                })
            };
            // The engine lock is the mutex around the writer handle: the compactor holds
            // it through a guard kept in a cell between its lock and unlock callbacks.
            let guard: std::cell::RefCell<Option<std::sync::MutexGuard<'_, Db>>> =
                Default::default();
            let options = OnlineOptions::new(
                Box::new(|| *guard.borrow_mut() = Some(db.lock().unwrap())),
                Box::new(|| *guard.borrow_mut() = None),
                Box::new(|compacted: &Path| {
                    std::fs::rename(compacted, &path).map_err(|_| Error::Write)?;
                    let mut g = guard.borrow_mut();
                    **g.as_mut().expect("locked") = Db::open(&path, OpenOptions::default())?;
                    println!("switched");
                    Ok(())
                }),
            );
            compact_online(&path, &target, options).unwrap();
            flusher.join().unwrap();
        }
        other => panic!("unknown workload {other}"),
    }
}

fn spawn_child(work: &str, path: &Path, first: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("COUCHSTORE_CRASH_WORKLOAD", work)
        .env("COUCHSTORE_CRASH_PATH", path)
        .env("COUCHSTORE_CRASH_FIRST", first.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn iterations() -> u64 {
    std::env::var("COUCHSTORE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// A small deterministic generator for kill timings.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads the child's reports until `lines` have arrived (or it ends), then waits a
/// random few hundred microseconds and kills it. Returns the reports.
fn kill_after(mut child: Child, lines: u64, rng: &mut Rng) -> Vec<String> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut line = String::new();
    // libtest's own lines ("running 1 test", "test crash_child ... ") are not reports.
    let is_report =
        |l: &str| l.contains("committed ") || l.contains("switched") || l.contains("compacted");
    while (seen.iter().filter(|l: &&String| is_report(l)).count() as u64) < lines {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push(line.trim().to_owned());
    }
    std::thread::sleep(Duration::from_micros(rng.below(4000)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Reports written before the kill but not read yet count as well.
    for l in out.lines() {
        seen.push(l.unwrap());
    }
    seen
}

fn last_committed(reports: &[String]) -> Option<u64> {
    reports
        .iter()
        .filter_map(|l| {
            l[l.find("committed ")? + "committed ".len()..]
                .trim()
                .parse()
                .ok()
        })
        .max()
}

#[test]
fn killed_flusher_loses_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flusher.couch");
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut next = 0u64;
    for _ in 0..iterations() {
        let reports = kill_after(
            spawn_child("flusher", &path, next),
            1 + rng.below(6),
            &mut rng,
        );
        let reported = last_committed(&reports).expect("the child committed at least once");
        // The file holds the reported round or the one after (committed, not reported).
        let round = check_file(&path, reported, reported + 1);
        next = round + 1;
    }
}

#[test]
fn killed_offline_compaction_leaves_the_source_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compact.couch");
    let mut db = Db::open(&path, OpenOptions::create()).unwrap();
    for r in 0..400 {
        write_round(&mut db, r).unwrap();
    }
    drop(db);
    let before = std::fs::read(&path).unwrap();
    let target = path.with_extension("compact");
    // How long a child takes to start and compact, to spread the kills over it.
    let started = std::time::Instant::now();
    let child = spawn_child("compact", &path, 0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    kill_after(child, 1, &mut rng);
    let full = started.elapsed().as_micros() as u64;
    let mut completed = 0;
    for _ in 0..iterations() {
        let _ = std::fs::remove_file(&target);
        let child = spawn_child("compact", &path, 0);
        std::thread::sleep(Duration::from_micros(rng.below(full)));
        let reports = kill_after(child, 0, &mut rng);
        assert_eq!(std::fs::read(&path).unwrap(), before, "source changed");
        check_file(&path, 399, 399);
        // A target is either complete and exact, or not a database at all (it gets its
        // only header last).
        match Db::open(&target, OpenOptions::read_only()) {
            Ok(_) => {
                check_file(&target, 399, 399);
                completed += 1;
            }
            Err(e) => {
                assert!(e == Error::NoSuchFile || e == Error::NoHeader, "{e}");
                assert!(
                    !reports.iter().any(|l| l.ends_with("compacted")),
                    "reported done but no target"
                );
            }
        }
    }
    eprintln!(
        "offline compaction: {completed} of {} kills after completion",
        iterations()
    );
}

#[test]
fn killed_online_compaction_keeps_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("online.couch");
    let mut db = Db::open(&path, OpenOptions::create()).unwrap();
    for r in 0..30 {
        write_round(&mut db, r).unwrap();
    }
    drop(db);
    let mut next = 30u64;
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut switches = 0;
    for _ in 0..iterations() {
        let target = path.with_extension("compact");
        let _ = std::fs::remove_file(&target); // an engine discards a stale target on restart
        let reports = kill_after(
            spawn_child("online", &path, next),
            1 + rng.below(12),
            &mut rng,
        );
        switches += reports.iter().filter(|l| l.ends_with("switched")).count();
        let reported = last_committed(&reports).unwrap_or(next - 1);
        // Whichever file is at the source path now (the old one or the switched-in
        // compacted one) holds every reported commit and nothing half-written.
        let round = check_file(&path, reported, reported + 1);
        next = round + 1;
    }
    eprintln!(
        "online compaction: {switches} switches in {} kills",
        iterations()
    );
}
