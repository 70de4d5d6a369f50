//! The checked-in C header is exactly what cbindgen generates from `src/capi`.
//! Run with COUCHSTORE_BLESS=1 to rewrite it after changing the C API.

use std::path::PathBuf;

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let path = root.join("include/libcouchstore/couch_db.h");
    if std::env::var_os("COUCHSTORE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap();
    assert!(
        checked_in == fresh,
        "include/libcouchstore/couch_db.h is stale: regenerate it with \
         `COUCHSTORE_BLESS=1 cargo test --test header`"
    );
}
