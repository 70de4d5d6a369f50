//! The C types and constants, laid out and numbered exactly as the original's
//! `couch_common.h`, `error.h` and `couch_db.h`.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// Error values returned by the API (`COUCHSTORE_SUCCESS` and the
/// `COUCHSTORE_ERROR_*` codes). Declared as a 32-bit integer, the size of the original's
/// enum, so a callback's own negative status can be handed back unchanged.
pub type couchstore_error_t = i32;

/// Success.
pub const COUCHSTORE_SUCCESS: couchstore_error_t = 0;
/// The file could not be opened.
pub const COUCHSTORE_ERROR_OPEN_FILE: couchstore_error_t = -1;
/// Malformed data in the file.
pub const COUCHSTORE_ERROR_CORRUPT: couchstore_error_t = -2;
/// A buffer could not be allocated.
pub const COUCHSTORE_ERROR_ALLOC_FAIL: couchstore_error_t = -3;
/// Reading the file failed.
pub const COUCHSTORE_ERROR_READ: couchstore_error_t = -4;
/// No such document.
pub const COUCHSTORE_ERROR_DOC_NOT_FOUND: couchstore_error_t = -5;
/// No valid header in a non-empty file.
pub const COUCHSTORE_ERROR_NO_HEADER: couchstore_error_t = -6;
/// Writing the file failed, or the handle is read-only.
pub const COUCHSTORE_ERROR_WRITE: couchstore_error_t = -7;
/// The header's format version is not supported.
pub const COUCHSTORE_ERROR_HEADER_VERSION: couchstore_error_t = -8;
/// A checksum did not match.
pub const COUCHSTORE_ERROR_CHECKSUM_FAIL: couchstore_error_t = -9;
/// An argument was invalid.
pub const COUCHSTORE_ERROR_INVALID_ARGUMENTS: couchstore_error_t = -10;
/// The file does not exist.
pub const COUCHSTORE_ERROR_NO_SUCH_FILE: couchstore_error_t = -11;
/// Stopped by cancel.
pub const COUCHSTORE_ERROR_CANCEL: couchstore_error_t = -12;
/// A reduce value grew too large.
pub const COUCHSTORE_ERROR_REDUCTION_TOO_LARGE: couchstore_error_t = -13;
/// A reduce function failed.
pub const COUCHSTORE_ERROR_REDUCER_FAILURE: couchstore_error_t = -14;
/// The handle's file is closed.
pub const COUCHSTORE_ERROR_FILE_CLOSED: couchstore_error_t = -15;
/// The handle is no longer valid.
pub const COUCHSTORE_ERROR_DB_NO_LONGER_VALID: couchstore_error_t = -16;
/// Closing the file failed.
pub const COUCHSTORE_ERROR_FILE_CLOSE: couchstore_error_t = -17;
/// The operation is not supported.
pub const COUCHSTORE_ERROR_NOT_SUPPORTED: couchstore_error_t = -18;
/// A callback asked the scan to yield (temporary condition).
pub const COUCHSTORE_ERROR_SCAN_YIELD: couchstore_error_t = -19;
/// A callback asked the scan to abort.
pub const COUCHSTORE_ERROR_SCAN_ABORTED: couchstore_error_t = -20;

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

/// A generic data blob. Nothing is implied about ownership of the block pointed to.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct _sized_buf {
    /// The bytes.
    pub buf: *mut c_char,
    /// Their number.
    pub size: usize,
}
/// A generic data blob.
pub type sized_buf = _sized_buf;

/// A document: id and body.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct _doc {
    /// The id.
    pub id: sized_buf,
    /// The body.
    pub data: sized_buf,
}
/// A document: id and body.
pub type Doc = _doc;

/// Metadata of a document.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct _docinfo {
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
/// Metadata of a document.
pub type DocInfo = _docinfo;

/// A local (unreplicated) document.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct _local_doc {
    /// The id (begins with `_local/`).
    pub id: sized_buf,
    /// The JSON body.
    pub json: sized_buf,
    /// When saving: delete it instead.
    pub deleted: c_int,
}
/// A local (unreplicated) document.
pub type LocalDoc = _local_doc;

/// Information about the database as a whole.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct _db_info {
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
/// Information about the database as a whole.
pub type DbInfo = _db_info;

/// Flags for `couchstore_open_db`.
pub type couchstore_open_flags = u64;
/// Create the file if it does not exist.
pub const COUCHSTORE_OPEN_FLAG_CREATE: couchstore_open_flags = 1;
/// Open read-only.
pub const COUCHSTORE_OPEN_FLAG_RDONLY: couchstore_open_flags = 2;
/// Use the legacy CRC (format 11) for a new file.
pub const COUCHSTORE_OPEN_WITH_LEGACY_CRC: couchstore_open_flags = 4;
/// Write every append through at once.
pub const COUCHSTORE_OPEN_FLAG_UNBUFFERED: couchstore_open_flags = 8;
/// With CREATE: fail if the file exists.
pub const COUCHSTORE_OPEN_FLAG_EXCL: couchstore_open_flags = 16;
/// With CREATE: write no header when creating the file (the first commit does).
pub const COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE: couchstore_open_flags = 32;
/// Read-buffer configuration (accepted and ignored).
pub const COUCHSTORE_OPEN_WITH_CUSTOM_BUFFER: couchstore_open_flags = 0xff00;
/// B+tree node sizes: bits 16-19 leaf (kv) size, 20-23 interior (kp) size, in KiB.
pub const COUCHSTORE_OPEN_WITH_CUSTOM_NODESIZE: couchstore_open_flags = 0xff_0000;
/// fsync after every 1 KiB << (N-1) bytes written (5 bits).
pub const COUCHSTORE_OPEN_WITH_PERIODIC_SYNC: couchstore_open_flags = 0x1f00_0000;

/// Options for saving documents.
pub type couchstore_save_options = u64;
/// Snappy-compress bodies whose content_meta has COUCH_DOC_IS_COMPRESSED.
pub const COMPRESS_DOC_BODIES: couchstore_save_options = 1;
/// Store the DocInfo's db_seq as given.
pub const COUCHSTORE_SEQUENCE_AS_IS: couchstore_save_options = 2;

/// Options for opening documents.
pub type couchstore_open_options = u64;
/// Decompress bodies whose content_meta has COUCH_DOC_IS_COMPRESSED.
pub const DECOMPRESS_DOC_BODIES: couchstore_open_options = 1;

/// Options for iterating documents.
pub type couchstore_docinfos_options = u64;
/// The ids/sequences given are pairs of inclusive range bounds.
pub const RANGES: couchstore_docinfos_options = 1;
/// Only deleted items.
pub const COUCHSTORE_DELETES_ONLY: couchstore_docinfos_options = 2;
/// Only live items.
pub const COUCHSTORE_NO_DELETES: couchstore_docinfos_options = 4;
/// Skip corrupt nodes instead of failing.
pub const COUCHSTORE_TOLERATE_CORRUPTION: couchstore_docinfos_options = 8;

/// Called for each document by changes_since, all_docs and docinfos_by_*. Return 0 to
/// let the library free the DocInfo, a positive value to keep it (free it later with
/// couchstore_free_docinfo), or a negative value to stop and return that value.
pub type couchstore_changes_callback_fn =
    Option<unsafe extern "C" fn(db: *mut Db, docinfo: *mut DocInfo, ctx: *mut c_void) -> c_int>;

/// Called for each node (doc_info NULL, reduce_value set) and each document (doc_info
/// set, reduce_value NULL) of a tree walk. Return values as for
/// couchstore_changes_callback_fn.
pub type couchstore_walk_tree_callback_fn = Option<
    unsafe extern "C" fn(
        db: *mut Db,
        depth: c_int,
        doc_info: *const DocInfo,
        subtree_size: u64,
        reduce_value: *const sized_buf,
        ctx: *mut c_void,
    ) -> c_int,
>;

/// Called by couchstore_save_documents_and_callback for every document of the batch
/// with its previous entry (NULL for an insert) and its new one.
pub type save_callback_fn = Option<
    unsafe extern "C" fn(
        old_info: *const DocInfo,
        new_info: *const DocInfo,
        ctx: *mut c_void,
        user_req: *mut c_void,
    ),
>;

/// Custom file operations. This library does its own I/O: only NULL or the pointer
/// returned by couchstore_get_default_file_ops are accepted.
pub struct _file_ops_interface {
    _private: u8,
}

/// The value couchstore_get_default_file_ops returns.
pub(crate) static DEFAULT_FILE_OPS: FileOpsInterface = _file_ops_interface { _private: 0 };
/// Custom file operations (opaque; see `_file_ops_interface`).
pub type FileOpsInterface = _file_ops_interface;

/// An open database handle (opaque).
pub struct _db {
    pub(crate) inner: std::cell::RefCell<crate::Db>,
    pub(crate) filename: std::ffi::CString,
}
/// An open database handle (opaque).
pub type Db = _db;
