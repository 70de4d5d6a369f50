//! The panic boundary: a panic inside a call (a bug of ours, injected here) becomes an
//! error code with its text in couchstore_last_internal_error, and poisons the handle:
//! its state may be half-updated, so every later call but close and free is refused,
//! and the file keeps what was committed.

use std::ffi::{CString, c_char};

use couchstore::capi::db::*;
use couchstore::capi::local::*;
use couchstore::capi::misc::*;
use couchstore::capi::panic_in_next_call;
use couchstore::capi::types::*;

fn local(id: &str, json: &str) -> (Vec<u8>, Vec<u8>) {
    (id.as_bytes().to_vec(), json.as_bytes().to_vec())
}

/// Saves a local document through the C API.
fn save_local(db: *mut CDb, id: &[u8], json: &[u8]) -> couchstore_error_t {
    let mut doc = CLocalDoc {
        id: sized_buf {
            buf: id.as_ptr() as *mut c_char,
            size: id.len(),
        },
        json: sized_buf {
            buf: json.as_ptr() as *mut c_char,
            size: json.len(),
        },
        deleted: 0,
    };
    // SAFETY: a live handle and a document valid for the call.
    unsafe { couchstore_save_local_document(db, &mut doc) }
}

fn has_local(db: *mut CDb, id: &[u8]) -> couchstore_error_t {
    let mut doc: *mut CLocalDoc = std::ptr::null_mut();
    // SAFETY: a live handle, an id valid for the call, a writable out pointer.
    let code =
        unsafe { couchstore_open_local_document(db, id.as_ptr().cast(), id.len(), &mut doc) };
    if code == COUCHSTORE_SUCCESS {
        // SAFETY: returned by the library just now.
        unsafe { couchstore_free_local_document(doc) };
    }
    code
}

fn last_internal_error() -> String {
    let mut buf = vec![0 as c_char; 512];
    // SAFETY: a writable buffer of the size given.
    let code =
        unsafe { couchstore_last_internal_error(std::ptr::null(), buf.as_mut_ptr(), buf.len()) };
    assert_eq!(code, COUCHSTORE_SUCCESS);
    // SAFETY: NUL-terminated by the library.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn open(path: &CString, flags: couchstore_open_flags) -> *mut CDb {
    let mut db: *mut CDb = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path and a writable out pointer.
    let code = unsafe { couchstore_open_db(path.as_ptr(), flags, &mut db) };
    assert_eq!(code, COUCHSTORE_SUCCESS);
    db
}

#[test]
fn a_panic_poisons_the_handle_and_keeps_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().join("p.couch").to_str().unwrap()).unwrap();
    let db = open(&path, COUCHSTORE_OPEN_FLAG_CREATE);
    let (id1, json1) = local("_local/one", "{}");
    let (id2, json2) = local("_local/two", "{}");
    assert_eq!(save_local(db, &id1, &json1), COUCHSTORE_SUCCESS);
    // SAFETY: a live handle.
    assert_eq!(unsafe { couchstore_commit(db) }, COUCHSTORE_SUCCESS);

    panic_in_next_call();
    assert_eq!(save_local(db, &id2, &json2), COUCHSTORE_ERROR_ALLOC_FAIL);
    let text = last_internal_error();
    assert!(
        text.contains("couchstore_save_local_document: internal error: injected"),
        "{text}"
    );
    // Every later call on the handle is refused...
    assert_eq!(has_local(db, &id1), COUCHSTORE_ERROR_FILE_CLOSED);
    assert_eq!(save_local(db, &id2, &json2), COUCHSTORE_ERROR_FILE_CLOSED);
    // SAFETY: a live handle.
    let code = unsafe { couchstore_commit(db) };
    assert_eq!(code, COUCHSTORE_ERROR_FILE_CLOSED);
    // ...but closing and freeing it work.
    // SAFETY: a live handle, freed once.
    unsafe {
        assert_eq!(couchstore_close_file(db), COUCHSTORE_SUCCESS);
        assert_eq!(couchstore_free_db(db), COUCHSTORE_SUCCESS);
    }
    // The file holds its last commit.
    let db = open(&path, COUCHSTORE_OPEN_FLAG_RDONLY);
    assert_eq!(has_local(db, &id1), COUCHSTORE_SUCCESS);
    assert_eq!(has_local(db, &id2), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    // Other handles are not affected by a panic on one.
    let other = open(&path, COUCHSTORE_OPEN_FLAG_RDONLY);
    panic_in_next_call();
    assert_eq!(has_local(other, &id1), COUCHSTORE_ERROR_ALLOC_FAIL);
    assert_eq!(has_local(db, &id1), COUCHSTORE_SUCCESS);
    // SAFETY: live handles, freed once.
    unsafe {
        couchstore_close_file(other);
        couchstore_free_db(other);
        couchstore_close_file(db);
        couchstore_free_db(db);
    }
}

#[test]
fn a_panic_in_a_value_returning_call_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().join("v.couch").to_str().unwrap()).unwrap();
    let db = open(&path, COUCHSTORE_OPEN_FLAG_CREATE);
    // SAFETY: a live handle.
    let pos = unsafe { couchstore_get_header_position(db) };
    panic_in_next_call();
    // SAFETY: a live handle.
    assert_eq!(unsafe { couchstore_get_header_position(db) }, 0);
    let text = last_internal_error();
    assert!(
        text.contains("couchstore_get_header_position: internal error"),
        "{text}"
    );
    // SAFETY: a live handle.
    assert_eq!(unsafe { couchstore_get_header_position(db) }, pos);
    // SAFETY: a live handle, freed once.
    unsafe {
        couchstore_close_file(db);
        couchstore_free_db(db);
    }
}
