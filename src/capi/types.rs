//! The C constants and callback types of the original's `error.h` and `couch_db.h`,
//! numbered exactly as there (the structs of `couch_common.h` are in [`super::common`]).
#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_void};

pub use super::common::*;

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
/// Ask the file operations for tracing (custom ops: their set_tracing_enabled is
/// called, and its error fails the open; this library's own I/O ignores it).
pub const COUCHSTORE_OPEN_WITH_TRACING: couchstore_open_flags = 0x2000_0000;
/// Ask the file operations to validate writes (as for tracing).
pub const COUCHSTORE_OPEN_WITH_WRITE_VALIDATION: couchstore_open_flags = 0x4000_0000;
/// Ask the file operations to mprotect their buffers (as for tracing).
pub const COUCHSTORE_OPEN_WITH_MPROTECT: couchstore_open_flags = 0x8_0000_0000;

/// Flags for couchstore_compact_db_ex.
pub type couchstore_compact_flags = u64;
/// Drop deletions (only when no filter hook is given); the purge counter is bumped.
pub const COUCHSTORE_COMPACT_FLAG_DROP_DELETES: couchstore_compact_flags = 1;
/// Write the target in the current format (a format-11 source otherwise stays 11).
pub const COUCHSTORE_COMPACT_FLAG_UPGRADE_DB: couchstore_compact_flags = 2;
/// Write the target without buffering.
pub const COUCHSTORE_COMPACT_FLAG_UNBUFFERED: couchstore_compact_flags = 4;
/// Skip unreadable nodes and documents, copying everything readable.
pub const COUCHSTORE_COMPACT_RECOVERY_MODE: couchstore_compact_flags = 8;
/// Ours: hold this compaction to the process-wide compaction rate limit (see
/// couchstore_set_compaction_rate_limit), which it then shares with every online
/// compaction. Without it an offline compaction runs as fast as it can, as in the
/// original. A bit of the original's COUCHSTORE_COMPACT_UNUSED range.
pub const COUCHSTORE_COMPACT_FLAG_RATE_LIMITED: couchstore_compact_flags = 0x10;
/// Flag bits without a meaning in the original (0x10 is ours, see above).
pub const COUCHSTORE_COMPACT_UNUSED: couchstore_compact_flags = 0xff_fff0;
/// fsync the target after every N bytes (encoded as COUCHSTORE_OPEN_WITH_PERIODIC_SYNC).
pub const COUCHSTORE_COMPACT_WITH_PERIODIC_SYNC: couchstore_compact_flags = 0x1f00_0000;

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
    Option<unsafe extern "C" fn(db: *mut CDb, docinfo: *mut CDocInfo, ctx: *mut c_void) -> c_int>;

/// Called for each node (doc_info NULL, reduce_value set) and each document (doc_info
/// set, reduce_value NULL) of a tree walk. Return values as for
/// couchstore_changes_callback_fn.
pub type couchstore_walk_tree_callback_fn = Option<
    unsafe extern "C" fn(
        db: *mut CDb,
        depth: c_int,
        doc_info: *const CDocInfo,
        subtree_size: u64,
        reduce_value: *const sized_buf,
        ctx: *mut c_void,
    ) -> c_int,
>;

/// Called by couchstore_save_documents_and_callback for every document of the batch
/// with its previous entry (NULL for an insert) and its new one.
pub type save_callback_fn = Option<
    unsafe extern "C" fn(
        old_info: *const CDocInfo,
        new_info: *const CDocInfo,
        ctx: *mut c_void,
        user_req: *mut c_void,
    ),
>;

/// The caller's file operations: a C++ `FileOpsInterface` (see file_ops.h), opaque
/// here; every call on it goes through the C++ shim.
#[repr(C)]
pub struct FileOpsInterface {
    _opaque: [u8; 0],
}
