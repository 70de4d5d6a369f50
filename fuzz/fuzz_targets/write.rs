#![no_main]
//! Open a mutated file for writing: save, delete, commit, read everything back.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut db) = couchstore_fuzz::open(data, couchstore::db::OpenOptions::default()) {
        couchstore_fuzz::write_and_read(&mut db, data);
    }
});
