//! The types of the original's `couch_common.h`: file offsets, content metadata flags,
//! file advice, and the structs every call passes (`sized_buf`, `Doc`, `DocInfo`,
//! `LocalDoc`, `DbInfo`, and the opaque `Db`). `include/libcouchstore/couch_common.h` is
//! generated from this file alone (see `cbindgen-common.toml`). The Rust names carry a
//! `C` prefix so they never shadow the core's types; the header gives them the C names.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int};

/// File offsets (64-bit everywhere).
pub type cs_off_t = i64;

/// Document content metadata flags.
pub type couchstore_content_meta_flags = u8;
/// Document contents compressed with Snappy.
pub const COUCH_DOC_IS_COMPRESSED: couchstore_content_meta_flags = 128;
/// Document is valid JSON.
pub const COUCH_DOC_IS_JSON: couchstore_content_meta_flags = 0;
/// Document was checked and is not valid JSON.
pub const COUCH_DOC_INVALID_JSON: couchstore_content_meta_flags = 1;
/// Document was checked and contained reserved keys.
pub const COUCH_DOC_INVALID_JSON_KEY: couchstore_content_meta_flags = 2;
/// Document was not checked.
pub const COUCH_DOC_NON_JSON_MODE: couchstore_content_meta_flags = 3;

/// Advice given to FileOpsInterface::advise about a range of the file.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum couchstore_file_advice_t {
    /// Evict the range from the file system's caches if possible (POSIX_FADV_DONTNEED).
    COUCHSTORE_FILE_ADVICE_EVICT = 4,
}

/// A generic data blob. Nothing is implied about ownership of the block pointed to.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sized_buf {
    /// The bytes.
    pub buf: *mut c_char,
    /// Their number.
    pub size: usize,
}

/// A document: id and body.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CDoc {
    /// The id.
    pub id: sized_buf,
    /// The body.
    pub data: sized_buf,
}

/// Metadata of a document.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CDocInfo {
    /// Document id.
    pub id: sized_buf,
    /// Sequence number in the database.
    pub db_seq: u64,
    /// Revision number.
    pub rev_seq: u64,
    /// Revision metadata (uninterpreted).
    pub rev_meta: sized_buf,
    /// Whether this is a deletion.
    pub deleted: c_int,
    /// Content metadata flags.
    pub content_meta: couchstore_content_meta_flags,
    /// File offset of the body (0: no body).
    pub bp: u64,
    /// Disk space the body occupies (not its length).
    pub physical_size: usize,
}

/// A local (unreplicated) document.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CLocalDoc {
    /// The id (begins with `_local/`).
    pub id: sized_buf,
    /// The JSON body.
    pub json: sized_buf,
    /// When saving: delete it instead.
    pub deleted: c_int,
}

/// Information about the database as a whole.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CDbInfo {
    /// The path given when opening.
    pub filename: *const c_char,
    /// Last sequence number allocated.
    pub last_sequence: u64,
    /// Live documents.
    pub doc_count: u64,
    /// Deleted documents.
    pub deleted_count: u64,
    /// Disk space used by live data.
    pub space_used: u64,
    /// Size of the file.
    pub file_size: u64,
    /// Offset of the current header.
    pub header_position: cs_off_t,
    /// Last purge sequence number.
    pub purge_seq: u64,
}

/// An open database handle (opaque).
pub struct CDb {
    pub(crate) inner: std::cell::RefCell<crate::Db>,
    pub(crate) filename: std::ffi::CString,
    /// The errno of the last failed OS call on this handle, for couchstore_last_os_error.
    pub(crate) last_os_error: std::cell::Cell<i32>,
    /// A call on this handle panicked: its state may be half-updated, so every later
    /// call but close and free is refused.
    pub(crate) poisoned: std::cell::Cell<bool>,
}
