//! The Rust side of the C++ shim (`src/cxx/shim.cc`): what the `cb::couchstore`
//! functions and the eight-parameter `couchstore_compact_db_ex` call, with their
//! std::function hooks turned into plain callbacks by the shim. These symbols are for
//! the shim only: the linker version script keeps them out of the library's exports,
//! and the public headers do not declare them.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

use super::alloc::docinfo_block;
use super::boundary::{c_free, db_mut, guard_db, non_null};
use super::compact::{
    Hooks, PointInTimePlan, TargetSlot, filter_with, rewrite_with, run_compaction, status,
    status_hook,
};
use super::types::*;
use crate::compact::pitr::{PointInTime, replay_intervals};
use crate::compact::replay;

/// A compaction's hooks, as the shim passes them (`cs_compact_hooks`).
#[repr(C)]
pub struct cs_compact_hooks {
    filter: Option<unsafe extern "C" fn(*mut c_void, *mut CDb, *mut CDocInfo, sized_buf) -> c_int>,
    filter_ctx: *mut c_void,
    rewrite: Option<unsafe extern "C" fn(*mut c_void, *mut *mut CDocInfo, sized_buf) -> c_int>,
    rewrite_ctx: *mut c_void,
    precommit: Option<unsafe extern "C" fn(*mut c_void, *mut CDb, *mut CDb) -> couchstore_error_t>,
    precommit_ctx: *mut c_void,
}

/// A replay's hooks (`cs_replay_hooks`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct cs_replay_hooks {
    pre_copy: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *mut CDb,
            *mut CDb,
            *const CDocInfo,
            *const CDocInfo,
        ) -> couchstore_error_t,
    >,
    pre_copy_ctx: *mut c_void,
    precommit: Option<unsafe extern "C" fn(*mut c_void, *mut CDb) -> couchstore_error_t>,
    precommit_ctx: *mut c_void,
}

/// A point-in-time compaction's parameters and hooks (`cs_pitr`).
#[repr(C)]
pub struct cs_pitr {
    timestamp: u64,
    delta: u64,
    pre_compaction: Option<unsafe extern "C" fn(*mut c_void, *mut CDb) -> couchstore_error_t>,
    pre_compaction_ctx: *mut c_void,
    post_compaction: Option<unsafe extern "C" fn(*mut c_void, *mut CDb) -> couchstore_error_t>,
    post_compaction_ctx: *mut c_void,
    replay: cs_replay_hooks,
}

/// A replay pre-copy hook calling the shim's, with a DocInfo for a document or for a
/// local document (its id and, for a deletion, `deleted`; physical_size the JSON's
/// length), as the original's PreCopyHook gets them.
fn pre_copy_hook<'a>(
    hooks: cs_replay_hooks,
    source: *mut CDb,
    target: impl Fn() -> *mut CDb + 'a,
) -> Option<replay::PreCopyHook<'a>> {
    let hook = hooks.pre_copy?;
    Some(Box::new(move |info, local| {
        let doc = match (info, local) {
            (Some(i), _) => docinfo_block(i)?,
            (None, Some(l)) => docinfo_block(&crate::DocInfo {
                id: l.id.clone(),
                deleted: l.deleted,
                physical_size: l.json.len() as u64,
                ..Default::default()
            })?,
            (None, None) => return Ok(()),
        };
        let (doc_ptr, local_ptr) = if info.is_some() {
            (doc.cast_const(), std::ptr::null())
        } else {
            (std::ptr::null(), doc.cast_const())
        };
        // SAFETY: the shim's trampoline with its context; the block lives for the call
        // and is freed after it.
        let code = unsafe {
            let code = hook(hooks.pre_copy_ctx, source, target(), doc_ptr, local_ptr);
            c_free(doc.cast());
            code
        };
        status(code)
    }))
}

/// A hook of the shim's called with one handle.
fn handle_hook<'a>(
    hook: Option<unsafe extern "C" fn(*mut c_void, *mut CDb) -> couchstore_error_t>,
    ctx: *mut c_void,
    db: impl Fn() -> *mut CDb + 'a,
) -> Option<Box<dyn FnMut() -> Result<(), crate::Error> + 'a>> {
    let hook = hook?;
    // SAFETY: the shim's trampoline with its context and a live handle.
    Some(status_hook(move || unsafe { hook(ctx, db()) }))
}

/// Compacts `source` into `target_filename` for the C++ API (plain, or point-in-time
/// when `pitr` is not NULL), as couchstore_compact_db_with_precommit does.
///
/// # Safety
/// The shim passes a live source handle, a NUL-terminated name or NULL, NULL or a live
/// FileOpsInterface, and hook tables that outlive the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_rs_compact(
    source: *mut CDb,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    ops: *mut FileOpsInterface,
    hooks: *const cs_compact_hooks,
    pitr: *const cs_pitr,
) -> couchstore_error_t {
    guard_db("couchstore_compact_db_ex", source, || {
        // SAFETY: the shim passes a valid table.
        let h = unsafe { non_null(hooks) }?;
        // SAFETY: NULL or a valid table.
        let pitr = unsafe { pitr.as_ref() };
        let make_hooks = |target: &TargetSlot| Hooks {
            filter: h.filter.map(|f| {
                let ctx = h.filter_ctx;
                // SAFETY: the shim's trampoline with its context.
                filter_with(target.clone(), move |t, i, b| unsafe { f(ctx, t, i, b) })
            }),
            rewrite: h.rewrite.map(|f| {
                let ctx = h.rewrite_ctx;
                // SAFETY: the shim's trampoline with its context.
                rewrite_with(move |i, b| unsafe { f(ctx, i, b) })
            }),
            precommit: h.precommit.map(|f| {
                let (ctx, target) = (h.precommit_ctx, target.clone());
                // SAFETY: the shim's trampoline with its context and both handles.
                status_hook(move || unsafe { f(ctx, source, target.get()) })
            }),
        };
        let plan = pitr.map(|p| {
            Box::new(move |target: &TargetSlot| {
                let (t1, t2, t3) = (target.clone(), target.clone(), target.clone());
                PointInTime {
                    timestamp: p.timestamp,
                    delta: p.delta,
                    pre_compaction: handle_hook(
                        p.pre_compaction,
                        p.pre_compaction_ctx,
                        move || source,
                    ),
                    post_compaction: handle_hook(
                        p.post_compaction,
                        p.post_compaction_ctx,
                        move || t1.get(),
                    ),
                    pre_copy: pre_copy_hook(p.replay, source, move || t2.get()),
                    replay_precommit: handle_hook(
                        p.replay.precommit,
                        p.replay.precommit_ctx,
                        move || t3.get(),
                    ),
                }
            }) as PointInTimePlan<'_>
        });
        // SAFETY: forwarded from the shim.
        unsafe { run_compaction(source, target_filename, flags, ops, make_hooks, plan) }
    })
}

/// Replays `source` into `target` from the source's current header to the header at
/// `end`, one commit per `delta` interval (cb::couchstore::replay).
///
/// # Safety
/// The shim passes two live handles and a hook table that outlives the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_rs_replay(
    source: *mut CDb,
    target: *mut CDb,
    delta: u64,
    end: u64,
    hooks: *const cs_replay_hooks,
) -> couchstore_error_t {
    guard_db("couchstore_replay", source, || {
        // SAFETY: the shim passes a valid table and live handles.
        let (h, target_handle) = unsafe { (*non_null(hooks)?, non_null(target.cast_const())?) };
        let mut pre_copy = pre_copy_hook(h, source, move || target);
        let mut precommit = handle_hook(h.precommit, h.precommit_ctx, move || target);
        // SAFETY: a live handle.
        let mut src = unsafe { db_mut(source) }?;
        replay_intervals(
            &mut src,
            &target_handle.inner,
            delta,
            end,
            pre_copy.as_mut(),
            precommit.as_mut(),
        )
    })
}
