//! couch_compact: compacts a couchstore database file into a new one.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use couchstore::compact::{self, CompactFlags, CompactOptions};
use couchstore::db::OpenOptions;
use couchstore::{Db, Error};

const USAGE: &str = "\
usage: couch_compact [options] SOURCE TARGET

Writes the live data of SOURCE (as of its newest header) into the new file TARGET.

  --dropdeletes   leave out deleted documents (bumps the purge sequence)
  --upgrade       write the current format (a format-11 source otherwise stays 11)
  --recovery      skip unreadable parts of SOURCE, copying everything readable
  --quiet         print nothing on success
  -h, --help      print this help";

fn main() -> ExitCode {
    let mut flags_set = CompactFlags::default();
    let mut quiet = false;
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--dropdeletes" => flags_set.drop_deletes = true,
            "--upgrade" => flags_set.upgrade = true,
            "--recovery" => flags_set.recovery = true,
            "--quiet" => quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("couch_compact: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => files.push(a),
        }
    }
    let [source, target] = files.as_slice() else {
        eprintln!("couch_compact: give SOURCE and TARGET\n{USAGE}");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let result = Db::open(source, OpenOptions::read_only()).and_then(|db| {
        let stats = compact::compact(
            &db,
            Path::new(target),
            CompactOptions {
                flags: flags_set,
                ..Default::default()
            },
        )?;
        Ok((db.info()?.file_size, stats))
    });
    let (before, stats) = match result {
        Ok(r) => r,
        Err(e) => return fail(source, e),
    };
    let after = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    if !quiet {
        println!(
            "compacted {source} -> {target} in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        println!("  documents copied: {}", stats.docs_copied);
        println!("  documents dropped by filter: {}", stats.docs_dropped);
        println!("  deletions dropped: {}", stats.deletes_dropped);
        println!("  body bytes copied: {}", stats.body_bytes);
        println!("  file size: {before} -> {after}");
        if let Some(e) = stats.tolerated_error {
            println!(
                "  recovery: skipped {} documents and {} nodes ({e})",
                stats.docs_skipped, stats.nodes_skipped
            );
        }
    }
    ExitCode::SUCCESS
}

fn fail(file: &str, e: Error) -> ExitCode {
    eprintln!(
        "couch_compact: {file}: {}",
        couchstore::capi::codes::report(&e)
    );
    ExitCode::FAILURE
}
