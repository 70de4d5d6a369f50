//! Opening, closing and navigating database handles; commits; database info.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::os::unix::ffi::OsStrExt;

use super::boundary::{db_mut, db_ref, guard, guard_db, guard_value, non_null, non_null_mut};
use super::file_ops;
use super::types::*;
use crate::error::Error;

/// Opens a database; see couchstore_open_db_ex.
///
/// # Safety
/// `filename` must be a NUL-terminated string; `db` must point to writable storage for
/// a handle pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_db(
    filename: *const c_char,
    flags: couchstore_open_flags,
    db: *mut *mut CDb,
) -> couchstore_error_t {
    // SAFETY: forwarded from the caller.
    unsafe { couchstore_open_db_ex(filename, flags, std::ptr::null_mut(), db) }
}

/// Opens (with COUCHSTORE_OPEN_FLAG_CREATE, creates) the database file `filename` and
/// stores a new handle in `*db`; close it with couchstore_close_file, then release it
/// with couchstore_free_db. An empty file opened for writing gets its first header
/// (unless COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE); a reader finds none
/// (COUCHSTORE_ERROR_NO_HEADER).
///
/// `ops` NULL or couchstore_get_default_file_ops() means the library's own I/O. Any other
/// FileOpsInterface does all I/O of the handle, as file_ops.h describes (the setters the
/// flags ask for are called after its open, and any error of theirs fails the open); it
/// must outlive the handle.
///
/// # Safety
/// `filename` must be a NUL-terminated string; `db` must point to writable storage for
/// a handle pointer; `ops` NULL or a live FileOpsInterface.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_db_ex(
    filename: *const c_char,
    flags: couchstore_open_flags,
    ops: *mut FileOpsInterface,
    db: *mut *mut CDb,
) -> couchstore_error_t {
    guard("couchstore_open_db", || {
        // SAFETY: the caller passes a valid out-pointer or NULL.
        let out = unsafe { non_null_mut(db) }?;
        *out = std::ptr::null_mut();
        if filename.is_null() {
            return Err(Error::InvalidArguments);
        }
        let options = super::flags::open_options(flags);
        if options.read_only && options.create {
            return Err(Error::InvalidArguments);
        }
        // SAFETY: non-NULL and NUL-terminated by the caller's guarantee.
        let name = unsafe { CStr::from_ptr(filename) };
        // SAFETY: `ops` is NULL or live by the caller's guarantee.
        let inner = if unsafe { file_ops::is_default(ops) } {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
            crate::Db::open(path, options)?
        } else {
            // SAFETY: a live ops object that outlives the handle, by the caller's
            // guarantee.
            unsafe { file_ops::open_db(ops, name, flags) }?
        };
        let handle = Box::new(CDb {
            inner: RefCell::new(inner),
            filename: CString::from(name),
            last_os_error: std::cell::Cell::new(0),
            poisoned: std::cell::Cell::new(false),
        });
        *out = Box::into_raw(handle);
        Ok(())
    })
}

/// Releases a handle (closing its file first if still open). NULL is accepted.
///
/// # Safety
/// `db` must be NULL or a handle from couchstore_open_db not yet freed; it must not be
/// used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_free_db(db: *mut CDb) -> couchstore_error_t {
    guard("couchstore_free_db", || {
        if db.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle by the caller's guarantee.
        unsafe { free_handle(db) }
    })
}

/// Frees a handle unless it is in use further up the stack (a callback freeing the
/// handle that is iterating), which is refused.
///
/// # Safety
/// `db` must be a live handle from couchstore_open_db.
unsafe fn free_handle(db: *mut CDb) -> Result<(), Error> {
    // SAFETY: live handle by the caller's guarantee (poisoned or not: freeing always
    // works).
    let handle = unsafe { non_null(db.cast_const()) }?;
    drop(
        handle
            .inner
            .try_borrow_mut()
            .map_err(|_| Error::InvalidArguments)?,
    );
    // SAFETY: not borrowed (checked just above), created by Box::into_raw.
    drop(unsafe { Box::from_raw(db) });
    Ok(())
}

/// Closes the handle's file. The handle stays valid for couchstore_db_info and
/// couchstore_free_db; other calls return COUCHSTORE_ERROR_FILE_CLOSED. Closing twice
/// is not an error. A handle on which a call failed with an internal error (a bug of
/// ours, reported as COUCHSTORE_ERROR_ALLOC_FAIL with the details in
/// couchstore_last_internal_error) is closed by the library at once, back at its last
/// commit: every later call but this one and couchstore_free_db returns
/// COUCHSTORE_ERROR_FILE_CLOSED.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_close_file(db: *mut CDb) -> couchstore_error_t {
    guard_db("couchstore_close_file", db, || {
        // SAFETY: live handle by the caller's guarantee.
        let handle = unsafe { non_null(db.cast_const()) }?;
        if handle.poisoned.get() {
            // Closed when it was poisoned (or as soon as nothing else has it).
            if let Ok(mut inner) = handle.inner.try_borrow_mut() {
                inner.abandon();
            }
            return Ok(());
        }
        // SAFETY: live handle by the caller's guarantee.
        unsafe { db_mut(db) }?.close()
    })
}

/// Moves the handle to the next older header. If there is none, the handle is closed
/// and freed and COUCHSTORE_ERROR_DB_NO_LONGER_VALID returned, as the original does: do
/// not use or free it afterwards.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_rewind_db_header(db: *mut CDb) -> couchstore_error_t {
    // SAFETY: live handle by the caller's guarantee.
    unsafe { move_or_free(db, "couchstore_rewind_db_header", crate::Db::rewind) }
}

/// Moves the handle to the next newer header in the file as it was opened. If there is
/// none, the handle is closed and freed and COUCHSTORE_ERROR_DB_NO_LONGER_VALID returned.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_fastforward_db_header(db: *mut CDb) -> couchstore_error_t {
    // SAFETY: live handle by the caller's guarantee.
    unsafe {
        move_or_free(
            db,
            "couchstore_fastforward_db_header",
            crate::Db::fast_forward,
        )
    }
}

/// # Safety
/// `db` must be a live handle.
unsafe fn move_or_free(
    db: *mut CDb,
    name: &'static str,
    step: fn(&mut crate::Db) -> crate::Result<()>,
) -> couchstore_error_t {
    guard(name, || {
        // SAFETY: live handle by the caller's guarantee.
        let moved = step(&mut *unsafe { db_mut(db) }?);
        if moved.is_err() {
            // SAFETY: live handle, no longer borrowed.
            unsafe { free_handle(db) }?;
            return Err(Error::DbNoLongerValid);
        }
        Ok(())
    })
}

/// The library's own POSIX file operations: a process-wide FileOpsInterface, never to
/// be deleted (create_default_file_ops() makes one the caller owns). Given to
/// couchstore_open_db_ex (like NULL), the library does that I/O itself without virtual
/// calls; a caller's ops may wrap them and forward to them.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_get_default_file_ops() -> *mut FileOpsInterface {
    file_ops::default_ops()
}

/// The statistics of the handle's file operations (their FHStats), or NULL when they
/// keep none (the library's own I/O keeps none) or the file is closed. C++ callers see
/// the original's return type, FileOpsInterface::FHStats*.
///
/// # Safety
/// `db` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_get_db_filestats(db: *mut CDb) -> *mut std::ffi::c_void {
    // SAFETY: NULL or a live handle by the caller's guarantee.
    guard_value(
        "couchstore_get_db_filestats",
        std::ptr::null_mut(),
        || match unsafe { db_ref(db) } {
            Ok(inner) => file_ops::stats_of(&inner),
            Err(_) => std::ptr::null_mut(),
        },
    )
}

/// Fills `info` with facts about the database as of the handle's current header. Also
/// answers on a closed handle, from the header kept in memory.
///
/// # Safety
/// `db` must be a live handle; `info` must point to a writable DbInfo. `info->filename`
/// stays valid until the handle is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_db_info(
    db: *mut CDb,
    info: *mut CDbInfo,
) -> couchstore_error_t {
    guard_db("couchstore_db_info", db, || {
        // SAFETY: live handle and writable DbInfo by the caller's guarantee.
        let (handle, out) = unsafe { (non_null(db.cast_const())?, non_null_mut(info)?) };
        // SAFETY: as above.
        let i = unsafe { db_ref(db) }?.info()?;
        *out = CDbInfo {
            filename: handle.filename.as_ptr(),
            last_sequence: i.last_sequence,
            doc_count: i.doc_count,
            deleted_count: i.deleted_count,
            space_used: i.space_used,
            file_size: i.file_size,
            header_position: i.header_position as cs_off_t,
            purge_seq: i.purge_seq,
        };
        Ok(())
    })
}

/// The file name the handle was opened with (valid until the handle is freed), or NULL
/// for a NULL handle.
///
/// # Safety
/// `db` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_get_db_filename(db: *mut CDb) -> *const c_char {
    guard_value("couchstore_get_db_filename", std::ptr::null(), || {
        // SAFETY: NULL or a live handle by the caller's guarantee.
        unsafe { db.as_ref() }.map_or(std::ptr::null(), |h| h.filename.as_ptr())
    })
}

/// The position of the handle's current header (0 for a NULL handle).
///
/// # Safety
/// `db` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_get_header_position(db: *mut CDb) -> u64 {
    guard_value("couchstore_get_header_position", 0, || {
        // SAFETY: NULL or a live handle by the caller's guarantee.
        unsafe { db_ref(db) }.map_or(0, |d| d.header_position())
    })
}

/// Encodes a periodic sync interval in bytes as open flags (rounded down to a power of
/// two, clamped to 1 KiB .. 1 TiB; 0 disables periodic sync).
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_encode_periodic_sync_flags(bytes: u64) -> couchstore_open_flags {
    super::flags::encode_periodic_sync(bytes)
}

/// Commits all pending changes: writes them out, fsyncs, appends a header stamped with
/// the current time (nanoseconds since the epoch) and fsyncs again.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_commit(db: *mut CDb) -> couchstore_error_t {
    // SAFETY: live handle by the caller's guarantee.
    guard_db("couchstore_commit", db, || unsafe { db_mut(db) }?.commit())
}

/// Commits like couchstore_commit, storing the caller's `timestamp` in the header.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_commit_ex(db: *mut CDb, timestamp: u64) -> couchstore_error_t {
    guard_db("couchstore_commit_ex", db, || {
        // SAFETY: live handle by the caller's guarantee.
        unsafe { db_mut(db) }?.commit_with_timestamp(timestamp)
    })
}

/// Sets the purge sequence stored by the next commit.
///
/// # Safety
/// `target` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_set_purge_seq(
    target: *mut CDb,
    purge_seq: u64,
) -> couchstore_error_t {
    guard_db("couchstore_set_purge_seq", target, || {
        // SAFETY: live handle by the caller's guarantee.
        unsafe { db_mut(target) }?.set_purge_seq(purge_seq)
    })
}
