//! The checked-in generated headers are exactly what cbindgen makes of `src/capi`
//! (couch_db.h from the crate, couch_common.h from `src/capi/common.rs`), and the
//! hand-written error.h numbers its codes as the library does. Run with
//! COUCHSTORE_BLESS=1 to rewrite the generated headers after changing the C API.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(config: &str, source: impl FnOnce(cbindgen::Builder) -> cbindgen::Builder, header: &str) {
    let config = cbindgen::Config::from_file(root().join(config)).unwrap();
    let mut fresh = Vec::new();
    source(cbindgen::Builder::new())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let path = root().join(header);
    if std::env::var_os("COUCHSTORE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap();
    assert!(
        checked_in == fresh,
        "{header} is stale: regenerate it with `COUCHSTORE_BLESS=1 cargo test --test header`"
    );
}

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let crate_dir = root();
    check(
        "cbindgen.toml",
        |b| b.with_crate(&crate_dir),
        "include/libcouchstore/couch_db.h",
    );
}

#[test]
fn checked_in_common_header_matches_a_fresh_generation() {
    let common = root().join("src/capi/common.rs");
    check(
        "cbindgen-common.toml",
        |b| b.with_src(&common),
        "include/libcouchstore/couch_common.h",
    );
}

/// The `NAME = value` lines of error.h's enum.
fn error_h_codes(path: &Path) -> Vec<(String, i32)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (name, value) = l.trim().trim_end_matches(',').split_once(" = ")?;
            name.starts_with("COUCHSTORE_")
                .then(|| (name.to_owned(), value.parse().unwrap()))
        })
        .collect()
}

#[test]
fn error_h_numbers_every_code_as_the_library() {
    use couchstore::capi::types::*;
    let want = [
        ("COUCHSTORE_SUCCESS", COUCHSTORE_SUCCESS),
        ("COUCHSTORE_ERROR_OPEN_FILE", COUCHSTORE_ERROR_OPEN_FILE),
        ("COUCHSTORE_ERROR_CORRUPT", COUCHSTORE_ERROR_CORRUPT),
        ("COUCHSTORE_ERROR_ALLOC_FAIL", COUCHSTORE_ERROR_ALLOC_FAIL),
        ("COUCHSTORE_ERROR_READ", COUCHSTORE_ERROR_READ),
        (
            "COUCHSTORE_ERROR_DOC_NOT_FOUND",
            COUCHSTORE_ERROR_DOC_NOT_FOUND,
        ),
        ("COUCHSTORE_ERROR_NO_HEADER", COUCHSTORE_ERROR_NO_HEADER),
        ("COUCHSTORE_ERROR_WRITE", COUCHSTORE_ERROR_WRITE),
        (
            "COUCHSTORE_ERROR_HEADER_VERSION",
            COUCHSTORE_ERROR_HEADER_VERSION,
        ),
        (
            "COUCHSTORE_ERROR_CHECKSUM_FAIL",
            COUCHSTORE_ERROR_CHECKSUM_FAIL,
        ),
        (
            "COUCHSTORE_ERROR_INVALID_ARGUMENTS",
            COUCHSTORE_ERROR_INVALID_ARGUMENTS,
        ),
        (
            "COUCHSTORE_ERROR_NO_SUCH_FILE",
            COUCHSTORE_ERROR_NO_SUCH_FILE,
        ),
        ("COUCHSTORE_ERROR_CANCEL", COUCHSTORE_ERROR_CANCEL),
        (
            "COUCHSTORE_ERROR_REDUCTION_TOO_LARGE",
            COUCHSTORE_ERROR_REDUCTION_TOO_LARGE,
        ),
        (
            "COUCHSTORE_ERROR_REDUCER_FAILURE",
            COUCHSTORE_ERROR_REDUCER_FAILURE,
        ),
        ("COUCHSTORE_ERROR_FILE_CLOSED", COUCHSTORE_ERROR_FILE_CLOSED),
        (
            "COUCHSTORE_ERROR_DB_NO_LONGER_VALID",
            COUCHSTORE_ERROR_DB_NO_LONGER_VALID,
        ),
        ("COUCHSTORE_ERROR_FILE_CLOSE", COUCHSTORE_ERROR_FILE_CLOSE),
        (
            "COUCHSTORE_ERROR_NOT_SUPPORTED",
            COUCHSTORE_ERROR_NOT_SUPPORTED,
        ),
        ("COUCHSTORE_ERROR_SCAN_YIELD", COUCHSTORE_ERROR_SCAN_YIELD),
        (
            "COUCHSTORE_ERROR_SCAN_ABORTED",
            COUCHSTORE_ERROR_SCAN_ABORTED,
        ),
    ];
    let got = error_h_codes(&root().join("include/libcouchstore/error.h"));
    let want: Vec<(String, i32)> = want.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(got, want);
}
