//! Local documents.

use std::ffi::c_void;

use super::alloc::local_doc_block;
use super::boundary::{
    buf_bytes, bytes, c_free, db_mut, db_ref, guard, guard_value, non_null, non_null_mut,
};
use super::types::*;

/// Reads the local document `id`; free it with couchstore_free_local_document.
/// COUCHSTORE_ERROR_DOC_NOT_FOUND if there is none.
///
/// # Safety
/// `db` must be a live handle; `id` must point to `idlen` bytes; `lDoc` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_local_document(
    db: *mut Db,
    id: *const c_void,
    idlen: usize,
    lDoc: *mut *mut LocalDoc,
) -> couchstore_error_t {
    guard("couchstore_open_local_document", || {
        // SAFETY: forwarded from the caller.
        let (out, id) = unsafe { (non_null_mut(lDoc)?, bytes(id, idlen)?) };
        *out = std::ptr::null_mut();
        // SAFETY: live handle.
        let doc = unsafe { db_ref(db) }?.open_local_document(id)?;
        *out = local_doc_block(&doc)?;
        Ok(())
    })
}

/// Saves or replaces a local document, or deletes it when `lDoc->deleted` is set (its
/// json is then ignored; deleting one that does not exist is not an error).
///
/// # Safety
/// `db` must be a live handle; `lDoc` a valid LocalDoc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_save_local_document(
    db: *mut Db,
    lDoc: *mut LocalDoc,
) -> couchstore_error_t {
    guard("couchstore_save_local_document", || {
        // SAFETY: forwarded from the caller.
        let doc = unsafe { non_null(lDoc.cast_const()) }?;
        let deleted = doc.deleted != 0;
        // SAFETY: the id buffer of a valid LocalDoc.
        let id = unsafe { buf_bytes(&doc.id) }?.to_vec();
        let json = if deleted {
            Vec::new()
        } else {
            // SAFETY: the json buffer of a valid LocalDoc (ignored for a deletion).
            unsafe { buf_bytes(&doc.json) }?.to_vec()
        };
        let local = crate::LocalDoc { id, json, deleted };
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.save_local_document(&local)
    })
}

/// Frees a local document from couchstore_open_local_document. NULL is accepted.
///
/// # Safety
/// `lDoc` must be NULL or from couchstore_open_local_document, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_free_local_document(lDoc: *mut LocalDoc) {
    // SAFETY: one allocation from c_alloc, or NULL.
    guard_value((), || unsafe { c_free(lDoc.cast()) })
}
