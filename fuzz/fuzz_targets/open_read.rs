#![no_main]
//! Open a mutated file read-only and read everything.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = couchstore_fuzz::open(data, couchstore::db::OpenOptions::read_only()) {
        couchstore_fuzz::read_everything(&db);
    }
});
