#![no_main]
//! Compact a mutated file and read the compacted copy.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = couchstore_fuzz::open(data, couchstore::db::OpenOptions::read_only()) {
        couchstore_fuzz::compact_and_read(&db);
    }
});
