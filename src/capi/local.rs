//! Local documents.

use std::ffi::c_void;

use super::alloc::local_doc_block;
use super::boundary::{
    buf_bytes, bytes, c_free, db_mut, db_ref, guard_db, guard_value, non_null, non_null_mut,
};
use super::types::*;

/// Reads the local document `id`; free it with couchstore_free_local_document.
/// COUCHSTORE_ERROR_DOC_NOT_FOUND if there is none.
///
/// # Safety
/// `db` must be a live handle; `id` must point to `idlen` bytes; `lDoc` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_local_document(
    db: *mut CDb,
    id: *const c_void,
    idlen: usize,
    lDoc: *mut *mut CLocalDoc,
) -> couchstore_error_t {
    guard_db("couchstore_open_local_document", db, || {
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
    db: *mut CDb,
    lDoc: *mut CLocalDoc,
) -> couchstore_error_t {
    guard_db("couchstore_save_local_document", db, || {
        // SAFETY: forwarded from the caller.
        let doc = unsafe { non_null(lDoc.cast_const()) }?;
        // SAFETY: a valid LocalDoc.
        let local = unsafe { read_local(doc) }?;
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.save_local_document(&local)
    })
}

/// Copies a C LocalDoc (its json ignored for a deletion).
///
/// # Safety
/// `doc` must be a valid LocalDoc.
unsafe fn read_local(doc: &CLocalDoc) -> Result<crate::LocalDoc, crate::Error> {
    let deleted = doc.deleted != 0;
    Ok(crate::LocalDoc {
        // SAFETY: the id buffer of a valid LocalDoc.
        id: unsafe { buf_bytes(&doc.id) }?.to_vec(),
        json: if deleted {
            Vec::new()
        } else {
            // SAFETY: the json buffer of a valid LocalDoc.
            unsafe { buf_bytes(&doc.json) }?.to_vec()
        },
        deleted,
    })
}

/// Saves (or, for those with `deleted` set, deletes) `count` local documents in one
/// change (C++: cb::couchstore::saveLocalDocuments); for a repeated id the last wins.
///
/// # Safety
/// `db` must be a live handle; `docs` must point to `count` valid LocalDoc pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_save_local_documents(
    db: *mut CDb,
    docs: *const *mut CLocalDoc,
    count: usize,
) -> couchstore_error_t {
    guard_db("couchstore_save_local_documents", db, || {
        if docs.is_null() && count > 0 {
            return Err(crate::Error::InvalidArguments);
        }
        let ptrs = if count == 0 {
            &[][..]
        } else {
            // SAFETY: `count` pointers by the caller's guarantee.
            unsafe { std::slice::from_raw_parts(docs, count) }
        };
        let locals = ptrs
            .iter()
            // SAFETY: each a valid LocalDoc or NULL (refused).
            .map(|&p| unsafe { read_local(non_null(p.cast_const())?) })
            .collect::<Result<Vec<_>, _>>()?;
        // SAFETY: live handle.
        unsafe { db_mut(db) }?.save_local_documents(&locals)
    })
}

/// Frees a local document from couchstore_open_local_document. NULL is accepted.
///
/// # Safety
/// `lDoc` must be NULL or from couchstore_open_local_document, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_free_local_document(lDoc: *mut CLocalDoc) {
    // SAFETY: one allocation from c_alloc, or NULL.
    guard_value("couchstore_free_local_document", (), || unsafe {
        c_free(lDoc.cast())
    })
}
