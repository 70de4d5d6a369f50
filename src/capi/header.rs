//! Header navigation beyond the classic API (the original offers it in C++ only as
//! `cb::couchstore::getHeader` and `seek`): the current header's facts, seeking to a
//! header by offset, and seeking to the newest header so a reader sees what a writer
//! committed after the reader opened.

#![allow(non_camel_case_types)]

use std::ffi::c_char;

use super::boundary::{db_mut, db_ref, guard_db, non_null, non_null_mut};
use super::types::*;

/// Facts of a handle's current header (the original's `cb::couchstore::Header`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct couchstore_header_info {
    /// On-disk format version: 11, 12 or 13.
    pub version: u32,
    /// Commit timestamp (format 13; 0 before).
    pub timestamp: u64,
    /// Last sequence number assigned.
    pub update_seq: u64,
    /// Purge sequence number.
    pub purge_seq: u64,
    /// Offset of the header in the file.
    pub header_position: u64,
    /// The path given when opening (valid until the handle is freed).
    pub filename: *const c_char,
    /// Live documents.
    pub doc_count: u64,
    /// Deleted documents.
    pub deleted_count: u64,
    /// Disk space used by live data.
    pub space_used: u64,
    /// Size of the file as the handle knows it.
    pub file_size: u64,
}

/// Fills `info` with the facts of the handle's current header.
///
/// # Safety
/// `db` must be a live handle; `info` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_get_header_info(
    db: *mut CDb,
    info: *mut couchstore_header_info,
) -> couchstore_error_t {
    guard_db("couchstore_get_header_info", db, || {
        // SAFETY: live handle and writable struct by the caller's guarantee.
        let (handle, out) = unsafe { (non_null(db.cast_const())?, non_null_mut(info)?) };
        // SAFETY: live handle.
        let inner = unsafe { db_ref(db) }?;
        let i = inner.info()?;
        let h = inner.header();
        *out = couchstore_header_info {
            version: u32::from(h.version),
            timestamp: h.timestamp,
            update_seq: h.update_seq,
            purge_seq: h.purge_seq,
            header_position: i.header_position,
            filename: handle.filename.as_ptr(),
            doc_count: i.doc_count,
            deleted_count: i.deleted_count,
            space_used: i.space_used,
            file_size: i.file_size,
        };
        Ok(())
    })
}

/// Moves the handle to the header at `offset` (C++: `cb::couchstore::seek(db, offset)`),
/// which must be a valid header of the file: an offset that is not a multiple of 4096 is
/// COUCHSTORE_ERROR_INVALID_ARGUMENTS; one beyond the file, or where no header is,
/// COUCHSTORE_ERROR_NO_HEADER (or the header's checksum or version error); the handle
/// then stays where it was. Uncommitted changes of the handle are dropped.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_seek_header(
    db: *mut CDb,
    offset: cs_off_t,
) -> couchstore_error_t {
    guard_db("couchstore_seek_header", db, || {
        let offset = u64::try_from(offset).map_err(|_| crate::Error::InvalidArguments)?;
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.seek_header(offset)
    })
}

/// Moves the handle to the newest header in the file, re-reading the file's size first,
/// so it sees what other handles committed since it opened (as reopening would).
/// Refused with COUCHSTORE_ERROR_INVALID_ARGUMENTS while the handle has uncommitted
/// changes.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_seek_newest_header(db: *mut CDb) -> couchstore_error_t {
    guard_db("couchstore_seek_newest_header", db, || {
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.seek_newest()
    })
}

/// Moves the handle to the next newer header within the file as it knows it (C++:
/// `cb::couchstore::seek(db, Direction::Forward)`). COUCHSTORE_ERROR_NO_HEADER when there
/// is none; the handle then stays where it was (unlike couchstore_fastforward_db_header,
/// which closes and frees it).
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_seek_next_header(db: *mut CDb) -> couchstore_error_t {
    guard_db("couchstore_seek_next_header", db, || {
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.seek_next()
    })
}

/// Moves the handle to the next older header (C++: `cb::couchstore::seek(db,
/// Direction::Backward)`). COUCHSTORE_ERROR_NO_HEADER when there is none; the handle then
/// stays where it was (unlike couchstore_rewind_db_header, which closes and frees it).
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_seek_previous_header(db: *mut CDb) -> couchstore_error_t {
    guard_db("couchstore_seek_previous_header", db, || {
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.seek_previous()
    })
}

/// Moves the handle to the oldest header holding `seqno` (its update_seq at least
/// `seqno`), then forward to the last header before the next multiple of `granularity`
/// of that header's timestamp (C++: `cb::couchstore::seekFirstHeaderContaining`). Only
/// headers up to the handle's current one count. COUCHSTORE_ERROR_NO_HEADER when none
/// holds `seqno` (the handle stays); COUCHSTORE_ERROR_INVALID_ARGUMENTS for a granularity
/// of 0.
///
/// # Safety
/// `db` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_seek_first_header_containing(
    db: *mut CDb,
    seqno: u64,
    granularity: u64,
) -> couchstore_error_t {
    guard_db("couchstore_seek_first_header_containing", db, || {
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.seek_first_header_containing(seqno, granularity)
    })
}
