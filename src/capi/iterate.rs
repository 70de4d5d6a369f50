//! Iterations and tree walks with C callbacks.

use std::ffi::{c_int, c_void};

use super::alloc::docinfo_block;
use super::boundary::{buf_bytes, bytes, c_free, db_ref, guard_db, opt_buf_bytes};
use super::codes::error_from_code;
use super::types::*;
use crate::btree::Step;
use crate::db::TreeWalkItem;
use crate::error::Error;

/// Lends a copy of `info` to a C callback (`call` receives the block): the block is
/// freed unless the callback keeps it (returns > 0). Returns the callback's status.
fn lend(info: &crate::DocInfo, call: impl FnOnce(*mut CDocInfo) -> c_int) -> Result<c_int, Error> {
    let block = docinfo_block(info)?;
    let status = call(block);
    if status <= 0 {
        // SAFETY: a block from docinfo_block that the callback did not keep.
        unsafe { c_free(block.cast()) };
    }
    Ok(status)
}

/// A callback's status as the iteration's next step: a negative one stops it and is
/// returned as the error.
fn step_for(status: c_int) -> Result<Step, Error> {
    match status {
        s if s < 0 => Err(error_from_code(s).unwrap_or(Error::Callback(s))),
        _ => Ok(Step::Continue),
    }
}

/// Hands one doc info to a changes callback (see [`lend`] and [`step_for`]).
///
/// # Safety
/// `cb` must be a valid C callback.
unsafe fn deliver(
    cb: unsafe extern "C" fn(*mut CDb, *mut CDocInfo, *mut c_void) -> c_int,
    db: *mut CDb,
    info: &crate::DocInfo,
    ctx: *mut c_void,
) -> Result<Step, Error> {
    // SAFETY: a valid callback with a block it may keep or leave to us.
    step_for(lend(info, |block| unsafe { cb(db, block, ctx) })?)
}

/// Calls `callback` for every change with sequence number ≥ `since`, in sequence
/// order. Options: COUCHSTORE_DELETES_ONLY, COUCHSTORE_NO_DELETES,
/// COUCHSTORE_TOLERATE_CORRUPTION.
///
/// # Safety
/// `db` must be a live handle; `callback` a valid function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_changes_since(
    db: *mut CDb,
    since: u64,
    options: couchstore_docinfos_options,
    callback: couchstore_changes_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_changes_since", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.changes_since(
            since,
            super::flags::scan_options(options),
            &mut |i| unsafe { deliver(cb, db, i, ctx) },
        )
    })
}

/// Calls `callback` for every document with id ≥ `*startKeyPtr` (all when NULL), in id
/// order. Options as for couchstore_changes_since.
///
/// # Safety
/// `db` must be a live handle; `startKeyPtr` NULL or valid; `callback` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_all_docs(
    db: *mut CDb,
    startKeyPtr: *const sized_buf,
    options: couchstore_docinfos_options,
    callback: couchstore_changes_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_all_docs", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        // SAFETY: NULL or a valid sized_buf by the caller's guarantee.
        let start = unsafe { opt_buf_bytes(startKeyPtr) }?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.all_docs(
            start,
            super::flags::scan_options(options),
            &mut |i| unsafe { deliver(cb, db, i, ctx) },
        )
    })
}

/// Calls `callback` for each of the `numDocs` sequences that exists, in ascending
/// order. With RANGES the array holds pairs of inclusive bounds (an odd last one
/// starts a range that runs to the end).
///
/// # Safety
/// `db` must be a live handle; `sequence` must hold `numDocs` values; `callback` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_docinfos_by_sequence(
    db: *mut CDb,
    sequence: *const u64,
    numDocs: u32,
    options: couchstore_docinfos_options,
    callback: couchstore_changes_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_docinfos_by_sequence", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        let n = numDocs as usize;
        // SAFETY: `sequence` holds numDocs values (NULL only with 0).
        let raw = unsafe { bytes(sequence.cast(), n * 8) }?;
        let seqs: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8")))
            .collect();
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.docinfos_by_sequence(
            &seqs,
            super::flags::scan_options(options),
            &mut |i| unsafe { deliver(cb, db, i, ctx) },
        )
    })
}

/// Calls `callback` for each of the `numDocs` ids that exists, in ascending id order.
/// With RANGES the array holds pairs of inclusive bounds (an odd last one starts a range to the end).
///
/// # Safety
/// `db` must be a live handle; `ids` must hold `numDocs` valid sized_bufs; `callback`
/// valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_docinfos_by_id(
    db: *mut CDb,
    ids: *const sized_buf,
    numDocs: u32,
    options: couchstore_docinfos_options,
    callback: couchstore_changes_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_docinfos_by_id", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        let n = numDocs as usize;
        if ids.is_null() && n > 0 {
            return Err(Error::InvalidArguments);
        }
        let keys = (0..n)
            // SAFETY: `ids` holds n valid sized_bufs.
            .map(|i| unsafe { buf_bytes(&*ids.add(i)) })
            .collect::<Result<Vec<&[u8]>, Error>>()?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.docinfos_by_id(
            &keys,
            super::flags::scan_options(options),
            &mut |i| unsafe { deliver(cb, db, i, ctx) },
        )
    })
}

/// Hands one walk item to a walk callback, with the same ownership rules as changes
/// callbacks for the doc info.
///
/// # Safety
/// `cb` must be a valid C callback.
unsafe fn deliver_walk(
    cb: unsafe extern "C" fn(
        *mut CDb,
        c_int,
        *const CDocInfo,
        u64,
        *const sized_buf,
        *mut c_void,
    ) -> c_int,
    db: *mut CDb,
    item: TreeWalkItem<'_>,
    ctx: *mut c_void,
) -> Result<Step, Error> {
    let status = match item {
        TreeWalkItem::Node {
            depth,
            subtree_size,
            reduce,
        } => {
            let reduce = sized_buf {
                buf: reduce.as_ptr().cast_mut().cast(),
                size: reduce.len(),
            };
            // SAFETY: a valid callback; the reduce value lives for the call.
            unsafe {
                cb(
                    db,
                    depth as c_int,
                    std::ptr::null(),
                    subtree_size,
                    &reduce,
                    ctx,
                )
            }
        }
        TreeWalkItem::Doc { depth, info } => lend(info, |block| {
            // SAFETY: a valid callback with a block it may keep or leave to us.
            unsafe { cb(db, depth as c_int, block, 0, std::ptr::null(), ctx) }
        })?,
        TreeWalkItem::Local { depth, doc } => {
            let info = crate::DocInfo {
                id: doc.id.clone(),
                ..Default::default()
            };
            lend(&info, |block| {
                // SAFETY: as above.
                unsafe { cb(db, depth as c_int, block, 0, std::ptr::null(), ctx) }
            })?
        }
    };
    step_for(status)
}

/// Walks the by-id tree depth-first from `startDocID` (all when NULL): `callback` sees
/// each node before its children (doc_info NULL, with subtree size and reduce value; the
/// root first, at depth 0) and each document (reduce_value NULL, one level below its
/// leaf). Options: COUCHSTORE_DELETES_ONLY, COUCHSTORE_NO_DELETES.
///
/// # Safety
/// `db` must be a live handle; `startDocID` NULL or valid; `callback` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_walk_id_tree(
    db: *mut CDb,
    startDocID: *const sized_buf,
    options: couchstore_docinfos_options,
    callback: couchstore_walk_tree_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_walk_id_tree", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        // SAFETY: NULL or a valid sized_buf by the caller's guarantee.
        let start = unsafe { opt_buf_bytes(startDocID) }?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.walk_id_tree(
            start,
            super::flags::scan_options(options),
            &mut |item| unsafe { deliver_walk(cb, db, item, ctx) },
        )
    })
}

/// Walks the by-sequence tree from `startSequence`, as couchstore_walk_id_tree does.
///
/// # Safety
/// `db` must be a live handle; `callback` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_walk_seq_tree(
    db: *mut CDb,
    startSequence: u64,
    options: couchstore_docinfos_options,
    callback: couchstore_walk_tree_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_walk_seq_tree", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.walk_seq_tree(
            startSequence,
            super::flags::scan_options(options),
            &mut |item| unsafe { deliver_walk(cb, db, item, ctx) },
        )
    })
}

/// Walks the local-documents tree from `startLocalID` (all when NULL); each document is
/// reported as a DocInfo carrying its id.
///
/// # Safety
/// `db` must be a live handle; `startLocalID` NULL or valid; `callback` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_walk_local_tree(
    db: *mut CDb,
    startLocalID: *const sized_buf,
    callback: couchstore_walk_tree_callback_fn,
    ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_walk_local_tree", db, || {
        let cb = callback.ok_or(Error::InvalidArguments)?;
        // SAFETY: NULL or a valid sized_buf by the caller's guarantee.
        let start = unsafe { opt_buf_bytes(startLocalID) }?;
        // SAFETY: live handle; valid callback.
        unsafe { db_ref(db) }?.walk_local_tree(start, &mut |item| unsafe {
            deliver_walk(cb, db, item, ctx)
        })
    })
}

/// Stores in `*count` the number of changes with sequence numbers in
/// `[min_seq, max_seq]`, computed from the by-sequence tree's reduce values.
///
/// # Safety
/// `db` must be a live handle; `count` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_changes_count(
    db: *mut CDb,
    min_seq: u64,
    max_seq: u64,
    count: *mut u64,
) -> couchstore_error_t {
    guard_db("couchstore_changes_count", db, || {
        // SAFETY: writable by the caller's guarantee (checked non-NULL).
        let out = unsafe { super::boundary::non_null_mut(count) }?;
        // SAFETY: live handle.
        *out = unsafe { db_ref(db) }?.changes_count(min_seq, max_seq)?;
        Ok(())
    })
}
