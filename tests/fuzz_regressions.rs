//! Inputs the fuzz targets (fuzz/) once failed on, kept in fuzz/regressions/, run through
//! the same steps as the targets: open, read everything, write, compact. The golden
//! files go through the steps too, so the steps themselves are checked on real data.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod exercise;

mod common;

use couchstore::db::OpenOptions;

fn run_all_steps(bytes: &[u8]) {
    if let Ok(db) = exercise::open(bytes, OpenOptions::read_only()) {
        exercise::read_everything(&db);
        exercise::compact_and_read(&db);
    }
    if let Ok(mut db) = exercise::open(bytes, couchstore::db::OpenOptions::default()) {
        exercise::write_and_read(&mut db, bytes);
    }
}

#[test]
fn fuzz_regressions_run_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    inputs.sort();
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let result = std::panic::catch_unwind(|| run_all_steps(&bytes));
        assert!(result.is_ok(), "{name} panics");
    }
}

#[test]
fn the_steps_work_on_the_golden_files() {
    for name in common::golden_names() {
        let bytes = std::fs::read(common::golden_dir().join(format!("{name}.couch"))).unwrap();
        let db = exercise::open(&bytes, OpenOptions::read_only()).unwrap();
        exercise::read_everything(&db);
        exercise::compact_and_read(&db);
        let mut db = exercise::open(&bytes, couchstore::db::OpenOptions::default()).unwrap();
        exercise::write_and_read(&mut db, &bytes);
        // The write step committed: its local document is there.
        assert!(db.open_local_document(b"_local/fuzz").is_ok(), "{name}");
    }
}
