//! couch_dbinfo: prints the header and counters of couchstore database files.

use std::process::ExitCode;

use couchstore::db::OpenOptions;
use couchstore::format::ChecksumKind;
use couchstore::{Db, Error};

const USAGE: &str = "\
usage: couch_dbinfo [--history] FILE...

Prints each file's current header: format, sequences, document counts, space used,
tree sizes and file size.

  --history   also print every older header, newest first
  -h, --help  print this help";

fn print_header(db: &Db) -> Result<(), Error> {
    let info = db.info()?;
    let h = db.header();
    let crc = match ChecksumKind::for_version(h.version) {
        ChecksumKind::Crc32 => "CRC-32",
        ChecksumKind::Crc32c => "CRC-32C",
    };
    let tree =
        |r: &Option<couchstore::format::NodePointer>| r.as_ref().map_or(0, |p| p.subtree_size);
    println!("  header position: {}", info.header_position);
    println!("  file format version: {} ({crc})", h.version);
    println!("  update_seq: {}", info.last_sequence);
    println!("  purge_seq: {}", info.purge_seq);
    if h.version >= 13 {
        println!("  timestamp: {}", h.timestamp);
    }
    println!("  doc count: {}", info.doc_count);
    println!("  deleted doc count: {}", info.deleted_count);
    println!("  space used: {}", info.space_used);
    println!("  by-id tree size: {}", tree(&h.by_id_root));
    println!("  by-seq tree size: {}", tree(&h.by_seq_root));
    println!("  local tree size: {}", tree(&h.local_root));
    println!("  file size: {}", info.file_size);
    Ok(())
}

fn dump(path: &str, history: bool) -> Result<(), Error> {
    let mut db = Db::open(path, OpenOptions::read_only())?;
    println!("DB Info ({path})");
    print_header(&db)?;
    if history {
        let mut n = 1;
        while db.rewind().is_ok() {
            println!("Older header {n}");
            print_header(&db)?;
            n += 1;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let history = args.iter().any(|a| a == "--history");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if files.is_empty() || args.iter().any(|a| a.starts_with("--") && a != "--history") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for file in files {
        if let Err(e) = dump(file, history) {
            eprintln!(
                "couch_dbinfo: {file}: {}",
                couchstore::capi::codes::report(&e)
            );
            status = ExitCode::FAILURE;
        }
    }
    status
}
