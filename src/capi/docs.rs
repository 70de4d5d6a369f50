//! Saving and reading documents and doc infos.

use std::ffi::{c_int, c_void};
use std::mem::size_of;

use super::alloc::{doc_block, docinfo_block};
use super::boundary::{
    buf_bytes, bytes, c_alloc, c_free, db_mut, db_ref, guard_db, guard_value, non_null,
    non_null_mut, put, sized,
};
use super::types::*;
use crate::db::{NewDoc, SavedDoc};
use crate::error::Error;

/// Saves one document, or a deletion when `doc` is NULL. Only `id`, `rev_seq`,
/// `rev_meta`, `deleted` and `content_meta` of `info` are used (and `db_seq` with
/// COUCHSTORE_SEQUENCE_AS_IS); on return `info->db_seq` holds the sequence assigned.
///
/// # Safety
/// `db` must be a live handle; `doc` NULL or a valid Doc; `info` a valid DocInfo.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_save_document(
    db: *mut CDb,
    doc: *const CDoc,
    info: *mut CDocInfo,
    options: couchstore_save_options,
) -> couchstore_error_t {
    let docs = [doc];
    let infos = [info];
    guard_db("couchstore_save_document", db, || {
        // SAFETY: one-element arrays of the caller's pointers.
        unsafe {
            save(
                db,
                docs.as_ptr(),
                infos.as_ptr(),
                std::ptr::null(),
                1,
                options,
                None,
                std::ptr::null_mut(),
            )
        }
    })
}

/// Saves `numDocs` documents in one batch. `docs` may be NULL (all deletions) and any
/// `docs[i]` may be NULL (that one a deletion); `infos[i]` describes each and receives
/// its sequence number. A repeated id is stored once: the last copy wins.
///
/// # Safety
/// `db` must be a live handle; `infos` must hold `numDocs` valid DocInfo pointers;
/// `docs`, when not NULL, `numDocs` Doc pointers (each NULL or valid).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_save_documents(
    db: *mut CDb,
    docs: *const *mut CDoc,
    infos: *mut *mut CDocInfo,
    numDocs: u32,
    options: couchstore_save_options,
) -> couchstore_error_t {
    guard_db("couchstore_save_documents", db, || {
        // SAFETY: forwarded from the caller.
        unsafe {
            save(
                db,
                docs.cast(),
                infos.cast_const(),
                std::ptr::null(),
                numDocs,
                options,
                None,
                std::ptr::null_mut(),
            )
        }
    })
}

/// Saves a batch like couchstore_save_documents and calls `save_cb` for every document
/// of the batch with its previous entry (NULL for an insert), its new entry, `save_cb_ctx`
/// and `userReqs[i]` (`userReqs` may be NULL). The DocInfos passed are valid only
/// during the call. For an id repeated in the batch, the copies that lose are reported
/// with the entry that existed before the batch as their previous one.
///
/// # Safety
/// As for couchstore_save_documents; `userReqs`, when not NULL, must hold `numDocs`
/// pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_save_documents_and_callback(
    db: *mut CDb,
    docs: *const *const CDoc,
    infos: *const *mut CDocInfo,
    userReqs: *const *mut c_void,
    numDocs: u32,
    options: couchstore_save_options,
    save_cb: save_callback_fn,
    save_cb_ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_save_documents_and_callback", db, || {
        // SAFETY: forwarded from the caller.
        unsafe {
            save(
                db,
                docs,
                infos,
                userReqs,
                numDocs,
                options,
                save_cb,
                save_cb_ctx,
            )
        }
    })
}

/// The shared body of the save functions.
///
/// # Safety
/// As for couchstore_save_documents_and_callback.
#[allow(clippy::too_many_arguments)]
unsafe fn save(
    db: *mut CDb,
    docs: *const *const CDoc,
    infos: *const *mut CDocInfo,
    user_reqs: *const *mut c_void,
    n: u32,
    options: couchstore_save_options,
    save_cb: save_callback_fn,
    ctx: *mut c_void,
) -> Result<(), Error> {
    // SAFETY: live handle by the caller's guarantee.
    let mut inner = unsafe { db_mut(db) }?;
    let n = n as usize;
    if n == 0 {
        return Ok(());
    }
    if infos.is_null() {
        return Err(Error::InvalidArguments);
    }
    let mut batch = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `infos` holds n pointers, each to a valid DocInfo (checked non-NULL).
        let info = unsafe { non_null(infos.add(i).read().cast_const()) }?;
        let doc = if docs.is_null() {
            None
        } else {
            // SAFETY: `docs` holds n pointers, each NULL or to a valid Doc.
            unsafe { docs.add(i).read().as_ref() }
        };
        let body = match doc {
            // SAFETY: the body buffer of a valid Doc.
            Some(d) => Some(unsafe { buf_bytes(&d.data) }?),
            None => None,
        };
        batch.push(NewDoc {
            // SAFETY: as above.
            id: unsafe { buf_bytes(&info.id) }?,
            body,
            deleted: info.deleted != 0,
            rev_seq: info.rev_seq,
            // SAFETY: as above.
            rev_meta: unsafe { buf_bytes(&info.rev_meta) }?,
            content_meta: info.content_meta,
            db_seq: info.db_seq,
        });
    }
    let mut callback_error = None;
    let mut report = |saved: SavedDoc<'_>| {
        let Some(cb) = save_cb else { return };
        let old = saved.old.map(docinfo_block).transpose();
        let new = docinfo_block(saved.new);
        let (old, new) = match (old, new) {
            (Ok(old), Ok(new)) => (old.unwrap_or(std::ptr::null_mut()), new),
            (Err(e), _) | (_, Err(e)) => {
                callback_error = Some(e);
                return;
            }
        };
        let req = if user_reqs.is_null() {
            std::ptr::null_mut()
        } else {
            // SAFETY: `userReqs` holds n pointers; saved.index < n.
            unsafe { user_reqs.add(saved.index).read() }
        };
        // SAFETY: a C callback given by the caller, with blocks valid for the call;
        // both are freed afterwards (free(NULL) is a no-op).
        unsafe {
            cb(old, new, ctx, req);
            c_free(old.cast());
            c_free(new.cast());
        }
    };
    let result = inner.save_documents_with(
        &mut batch,
        super::flags::save_options(options),
        Some(&mut report),
    );
    result?;
    if let Some(e) = callback_error {
        return Err(e);
    }
    for (i, saved) in batch.iter().enumerate() {
        // SAFETY: `infos` holds n valid, writable DocInfo pointers.
        unsafe { (*infos.add(i).read()).db_seq = saved.db_seq };
    }
    Ok(())
}

/// Looks up the doc info of `id` (deletions included); free it with
/// couchstore_free_docinfo. COUCHSTORE_ERROR_DOC_NOT_FOUND if there is none.
///
/// # Safety
/// `db` must be a live handle; `id` must point to `idlen` bytes; `pInfo` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_docinfo_by_id(
    db: *mut CDb,
    id: *const c_void,
    idlen: usize,
    pInfo: *mut *mut CDocInfo,
) -> couchstore_error_t {
    guard_db("couchstore_docinfo_by_id", db, || {
        // SAFETY: forwarded from the caller.
        let (out, id) = unsafe { (non_null_mut(pInfo)?, bytes(id, idlen)?) };
        *out = std::ptr::null_mut();
        // SAFETY: live handle.
        let info = unsafe { db_ref(db) }?.docinfo_by_id(id)?;
        *out = docinfo_block(&info)?;
        Ok(())
    })
}

/// Looks up the doc info of the change with `sequence`; free it with
/// couchstore_free_docinfo. COUCHSTORE_ERROR_DOC_NOT_FOUND if there is none.
///
/// # Safety
/// `db` must be a live handle; `pInfo` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_docinfo_by_sequence(
    db: *mut CDb,
    sequence: u64,
    pInfo: *mut *mut CDocInfo,
) -> couchstore_error_t {
    guard_db("couchstore_docinfo_by_sequence", db, || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { non_null_mut(pInfo) }?;
        *out = std::ptr::null_mut();
        // SAFETY: live handle.
        let info = unsafe { db_ref(db) }?.docinfo_by_sequence(sequence)?;
        *out = docinfo_block(&info)?;
        Ok(())
    })
}

/// Reads the document `id`; free it with couchstore_free_document. Its `id` points at
/// the caller's `id` buffer, which must outlive it. With DECOMPRESS_DOC_BODIES a body
/// stored compressed is decompressed. COUCHSTORE_ERROR_DOC_NOT_FOUND for a missing id or
/// a deletion without a body.
///
/// # Safety
/// `db` must be a live handle; `id` must point to `idlen` bytes; `pDoc` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_document(
    db: *mut CDb,
    id: *const c_void,
    idlen: usize,
    pDoc: *mut *mut CDoc,
    options: couchstore_open_options,
) -> couchstore_error_t {
    guard_db("couchstore_open_document", db, || {
        // SAFETY: forwarded from the caller.
        let (out, key) = unsafe { (non_null_mut(pDoc)?, bytes(id, idlen)?) };
        *out = std::ptr::null_mut();
        // SAFETY: live handle.
        let inner = unsafe { db_ref(db) }?;
        let info = inner.docinfo_by_id(key)?;
        let data = inner.read_doc_body(
            info.bp,
            info.content_meta,
            options & DECOMPRESS_DOC_BODIES != 0,
        )?;
        *out = doc_block(sized(id.cast_mut().cast(), idlen), &data)?;
        Ok(())
    })
}

/// Reads the body of the document `docinfo` describes (as returned by another call);
/// free it with couchstore_free_document before freeing `docinfo`, whose id it shares.
///
/// # Safety
/// `db` must be a live handle; `docinfo` valid; `pDoc` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_open_doc_with_docinfo(
    db: *mut CDb,
    docinfo: *const CDocInfo,
    pDoc: *mut *mut CDoc,
    options: couchstore_open_options,
) -> couchstore_error_t {
    guard_db("couchstore_open_doc_with_docinfo", db, || {
        // SAFETY: forwarded from the caller.
        let (out, info) = unsafe { (non_null_mut(pDoc)?, non_null(docinfo)?) };
        *out = std::ptr::null_mut();
        // SAFETY: live handle.
        let data = unsafe { db_ref(db) }?.read_doc_body(
            info.bp,
            info.content_meta,
            options & DECOMPRESS_DOC_BODIES != 0,
        )?;
        *out = doc_block(info.id, &data)?;
        Ok(())
    })
}

/// Frees a document from couchstore_open_document. NULL is accepted.
///
/// # Safety
/// `doc` must be NULL or from couchstore_open_document / open_doc_with_docinfo.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_free_document(doc: *mut CDoc) {
    // SAFETY: one allocation from c_alloc, or NULL.
    guard_value("couchstore_free_document", (), || unsafe {
        c_free(doc.cast())
    })
}

/// Allocates a DocInfo holding copies of `id` and `rev_meta` (either may be NULL, leaving
/// that field empty), other fields zero; free it with couchstore_free_docinfo. NULL if
/// the allocation fails.
///
/// # Safety
/// `id` and `rev_meta` must be NULL or valid sized_bufs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_alloc_docinfo(
    id: *const sized_buf,
    rev_meta: *const sized_buf,
) -> *mut CDocInfo {
    guard_value("couchstore_alloc_docinfo", std::ptr::null_mut(), || {
        // SAFETY: NULL or valid by the caller's guarantee.
        let (id, meta) = unsafe { (id.as_ref(), rev_meta.as_ref()) };
        // SAFETY: valid sized_bufs.
        let id_bytes = id.map(|b| unsafe { buf_bytes(b) }).transpose();
        // SAFETY: valid sized_bufs.
        let meta_bytes = meta.map(|b| unsafe { buf_bytes(b) }).transpose();
        let (Ok(id_bytes), Ok(meta_bytes)) = (id_bytes, meta_bytes) else {
            return std::ptr::null_mut();
        };
        let (id_len, meta_len) = (
            id_bytes.map_or(0, <[u8]>::len),
            meta_bytes.map_or(0, <[u8]>::len),
        );
        let Ok(p) = c_alloc(size_of::<CDocInfo>() + id_len + meta_len) else {
            return std::ptr::null_mut();
        };
        // SAFETY: room for the struct and both strings; written whole before use.
        unsafe {
            let id_at = p.add(size_of::<CDocInfo>());
            let meta_at = put(id_at, id_bytes.unwrap_or(&[]));
            put(meta_at, meta_bytes.unwrap_or(&[]));
            let field = |present: bool, at: *mut u8, len| {
                if present {
                    sized(at, len)
                } else {
                    sized(std::ptr::null_mut(), 0)
                }
            };
            p.cast::<CDocInfo>().write(CDocInfo {
                id: field(id_bytes.is_some(), id_at, id_len),
                db_seq: 0,
                rev_seq: 0,
                rev_meta: field(meta_bytes.is_some(), meta_at, meta_len),
                deleted: 0 as c_int,
                content_meta: 0,
                bp: 0,
                physical_size: 0,
            });
        }
        p.cast()
    })
}

/// Frees a DocInfo from this library. NULL is accepted.
///
/// # Safety
/// `docinfo` must be NULL or a DocInfo this library allocated, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_free_docinfo(docinfo: *mut CDocInfo) {
    // SAFETY: one allocation from c_alloc, or NULL.
    guard_value("couchstore_free_docinfo", (), || unsafe {
        c_free(docinfo.cast())
    })
}
