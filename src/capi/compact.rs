//! Offline compaction with the original's C entry points and hooks.
#![allow(non_camel_case_types)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use super::alloc::docinfo_block;
use super::boundary::{c_free, db_ref, guard_db, non_null, sized};
use super::codes::error_from_code;
use super::file_ops;
use super::types::*;
use crate::compact::pitr::PointInTime;
use crate::compact::rate_limit::RateLimit;
use crate::compact::target::TargetFile;
use crate::compact::{self, CompactOptions, FilterAction};
use crate::db::OpenOptions;
use crate::error::Error;

/// Filter hook answer: copy the document.
pub const COUCHSTORE_COMPACT_KEEP_ITEM: c_int = 0;
/// Filter hook answer: leave the document out.
pub const COUCHSTORE_COMPACT_DROP_ITEM: c_int = 1;
/// Filter hook answer: call again with the document's body (as stored).
pub const COUCHSTORE_COMPACT_NEED_BODY: c_int = 2;

/// Called with the target handle, each document's DocInfo (valid during the call) and
/// its body (`buf` NULL until asked for with COUCHSTORE_COMPACT_NEED_BODY; then the body
/// as stored, compressed if it was stored compressed), and once more with a NULL
/// DocInfo after the last document. Returns COUCHSTORE_COMPACT_KEEP_ITEM, _DROP_ITEM,
/// _NEED_BODY, or an error code that aborts the compaction.
pub type couchstore_compact_hook = Option<
    unsafe extern "C" fn(
        target: *mut CDb,
        info: *mut CDocInfo,
        body: sized_buf,
        ctx: *mut c_void,
    ) -> c_int,
>;

/// May rewrite the DocInfo of a kept document that has a body (it may replace `*info`
/// with another DocInfo from couchstore_alloc_docinfo, freeing the old one); returns
/// nonzero when it changed it. Only used together with a filter hook.
pub type couchstore_docinfo_hook =
    Option<unsafe extern "C" fn(info: *mut *mut CDocInfo, body: *const sized_buf) -> c_int>;

/// Called after all data is copied, before the target's header is written; an error
/// code aborts the compaction.
pub type couchstore_precommit_hook = Option<
    unsafe extern "C" fn(
        source: *mut CDb,
        target: *mut CDb,
        ctx: *mut c_void,
    ) -> couchstore_error_t,
>;

/// Compacts `source` (at its current header) into the file `target_filename`, which must
/// not exist or be empty: couchstore_compact_db_ex without flags, hooks or ops.
///
/// # Safety
/// `source` must be a live handle; `target_filename` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db(
    source: *mut CDb,
    target_filename: *const c_char,
) -> couchstore_error_t {
    guard_db("couchstore_compact_db", source, || {
        // SAFETY: forwarded from the caller.
        unsafe {
            compact_c(
                source,
                target_filename,
                0,
                std::ptr::null_mut(),
                CHooks::default(),
            )
        }
    })
}

/// couchstore_compact_db_ex as C callers see it (the header gives this symbol the name
/// couchstore_compact_db_ex in C; C++ callers get the original's eight-parameter form,
/// defined by the C++ shim). See couchstore_compact_db_with_precommit.
///
/// # Safety
/// As for couchstore_compact_db_with_precommit.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db_ex_c(
    source: *mut CDb,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    ops: *mut FileOpsInterface,
) -> couchstore_error_t {
    guard_db("couchstore_compact_db_ex", source, || {
        let hooks = CHooks {
            hook,
            dhook,
            hook_ctx,
            ..Default::default()
        };
        // SAFETY: forwarded from the caller.
        unsafe { compact_c(source, target_filename, flags, ops, hooks) }
    })
}

/// Compacts `source` (at its current header) into the file `target_filename`: every
/// document and deletion in sequence order (bodies copied as stored), the local
/// documents, update and purge sequences, node sizes and format. The target must not
/// exist, or be an empty file (tools pass names from mkstemp); any other file there is
/// COUCHSTORE_ERROR_OPEN_FILE and left alone. `hook` filters documents (and is called
/// once more with a NULL DocInfo at the end), `dhook` rewrites doc infos (needs `hook`),
/// `hook_ctx` is passed to `hook`; while they run, the target's header already holds the
/// source's update_seq and purge_seq. `ops` (NULL or couchstore_get_default_file_ops():
/// the library's own I/O) does all I/O of the target. `precommit` is called with both
/// handles and `precommit_ctx` before the target's header is written. On error the
/// target is removed (emptied again if it existed empty). With
/// COUCHSTORE_COMPACT_RECOVERY_MODE unreadable parts are skipped: the target is complete
/// but for them, and the first read error met is returned (as the original does) while
/// the target is kept.
///
/// # Safety
/// `source` must be a live handle; `target_filename` a NUL-terminated string; the hooks
/// valid functions or NULL; `ops` NULL or a live FileOpsInterface.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db_with_precommit(
    source: *mut CDb,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    ops: *mut FileOpsInterface,
    precommit: couchstore_precommit_hook,
    precommit_ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_compact_db", source, || {
        let hooks = CHooks {
            hook,
            dhook,
            hook_ctx,
            precommit,
            precommit_ctx,
        };
        // SAFETY: forwarded from the caller.
        unsafe { compact_c(source, target_filename, flags, ops, hooks) }
    })
}

/// The C hooks of a compaction.
#[derive(Clone, Copy)]
struct CHooks {
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    precommit: couchstore_precommit_hook,
    precommit_ctx: *mut c_void,
}

impl Default for CHooks {
    fn default() -> Self {
        CHooks {
            hook: None,
            dhook: None,
            hook_ctx: std::ptr::null_mut(),
            precommit: None,
            precommit_ctx: std::ptr::null_mut(),
        }
    }
}

/// A compaction with C hooks.
///
/// # Safety
/// As for couchstore_compact_db_with_precommit.
unsafe fn compact_c(
    source: *mut CDb,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    ops: *mut FileOpsInterface,
    c: CHooks,
) -> Result<(), Error> {
    let hooks = |target: &TargetSlot| Hooks {
        filter: c.hook.map(|h| filter_hook(h, target.clone(), c.hook_ctx)),
        rewrite: c.dhook.map(rewrite_hook),
        precommit: c
            .precommit
            .map(|p| precommit_hook(p, source, target.clone(), c.precommit_ctx)),
    };
    // SAFETY: forwarded from the caller.
    unsafe { run_compaction(source, target_filename, flags, ops, hooks, None) }
}

/// Where a compaction's target handle is, for hooks built before it exists.
pub(crate) type TargetSlot = Rc<Cell<*mut CDb>>;

/// The hooks of one compaction, whatever their origin (C callbacks or the C++ shim's
/// std::function trampolines).
#[derive(Default)]
pub(crate) struct Hooks<'a> {
    pub(crate) filter: Option<compact::FilterHook<'a>>,
    pub(crate) rewrite: Option<compact::RewriteHook<'a>>,
    pub(crate) precommit: Option<compact::PrecommitHook<'a>>,
}

/// What a point-in-time compaction adds to a compaction, its hooks built once the
/// target's handle exists.
pub(crate) type PointInTimePlan<'a> = Box<dyn FnOnce(&TargetSlot) -> PointInTime<'a> + 'a>;

/// Runs one compaction for a C or C++ entry point: opens the target (through `ops`
/// unless they are the default ones), wraps it in a C handle for the hooks that
/// `hooks` builds, compacts (point-in-time when `pitr` is given), and keeps the target
/// only on success.
///
/// # Safety
/// `source` must be a live handle; `target_filename` NULL or NUL-terminated; `ops`
/// NULL or a live FileOpsInterface.
pub(crate) unsafe fn run_compaction<'a>(
    source: *mut CDb,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    ops: *mut FileOpsInterface,
    hooks: impl FnOnce(&TargetSlot) -> Hooks<'a>,
    pitr: Option<PointInTimePlan<'a>>,
) -> Result<(), Error> {
    // SAFETY: a live handle by the caller's guarantee.
    let handle = unsafe { non_null(source.cast_const()) }?;
    if target_filename.is_null() {
        return Err(Error::InvalidArguments);
    }
    // SAFETY: non-NULL, NUL-terminated by the caller's guarantee.
    let name = unsafe { CStr::from_ptr(target_filename) };
    let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let target_flags = {
        // SAFETY: a live handle.
        let src = unsafe { db_ref(source) }?;
        src.file()?;
        compact::target_open_options(&src, super::flags::compact_flags(flags))
    };
    // SAFETY: `ops` is NULL or live, by the caller's guarantee.
    let (inner, file) = if unsafe { file_ops::is_default(ops) } {
        TargetFile::create(path, target_flags)?
    } else {
        TargetFile::create_with(path, target_flags, |open_options| {
            let open_flags = super::flags::open_flags_of(open_options);
            // SAFETY: a live ops object, used while the target lives.
            let backend = unsafe { file_ops::OpsBackend::open(ops, name, open_flags) }?;
            // The ops do the periodic sync.
            let own = OpenOptions {
                periodic_sync: None,
                ..open_options
            };
            Ok((Box::new(backend) as Box<dyn crate::file::Backend>, own))
        })?
    };
    let slot = Rc::new(Cell::new(std::ptr::null_mut()));
    let target = OwnedHandle::new(inner, name, &slot);
    let hooks = hooks(&slot);
    let options = CompactOptions {
        flags: super::flags::compact_flags(flags),
        filter: hooks.filter,
        rewrite: hooks.rewrite,
        precommit: hooks.precommit,
        rate_limit: (flags & COUCHSTORE_COMPACT_FLAG_RATE_LIMITED != 0)
            .then(|| RateLimit::process_wide().clone()),
        ..Default::default()
    };
    let result = match pitr {
        None => {
            // SAFETY: a live handle.
            let src = unsafe { db_ref(source) }?;
            compact::compact_into(&src, &target, options)
        }
        Some(plan) => {
            compact::pitr::compact_point_in_time(&handle.inner, &target, options, plan(&slot))
        }
    };
    let stats = result?;
    target.borrow_mut().close()?;
    drop(target);
    file.keep();
    stats.tolerated_error.map_or(Ok(()), Err)
}

/// A C handle this library creates around a database it opened (a compaction target),
/// so hooks can be given a `Db*` for it; freed when dropped.
pub(crate) struct OwnedHandle(*mut CDb);

impl OwnedHandle {
    /// Wraps `db`, named `name`, and records the handle's pointer in `slot` for hooks.
    pub(crate) fn new(db: crate::Db, name: &CStr, slot: &Cell<*mut CDb>) -> Self {
        let ptr = Box::into_raw(Box::new(CDb {
            inner: RefCell::new(db),
            filename: CString::from(name),
            last_os_error: Cell::new(0),
            poisoned: Cell::new(false),
        }));
        slot.set(ptr);
        OwnedHandle(ptr)
    }
}

impl Deref for OwnedHandle {
    type Target = RefCell<crate::Db>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: the pointer comes from Box::into_raw and lives until drop.
        unsafe { &(*self.0).inner }
    }
}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: created by Box::into_raw in `new`, dropped once.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A filter hook calling the C hook `hook` with `ctx`.
pub(crate) fn filter_hook<'a>(
    hook: unsafe extern "C" fn(*mut CDb, *mut CDocInfo, sized_buf, *mut c_void) -> c_int,
    target: TargetSlot,
    ctx: *mut c_void,
) -> compact::FilterHook<'a> {
    // SAFETY: a valid C hook by the entry point's contract, given what filter_with gives.
    filter_with(target, move |t, i, b| unsafe { hook(t, i, b, ctx) })
}

/// A filter hook calling `call` with the target handle, a DocInfo block (NULL after the
/// last document) and the body (`buf` NULL until asked for), mapping its answer.
pub(crate) fn filter_with<'a>(
    target: TargetSlot,
    call: impl Fn(*mut CDb, *mut CDocInfo, sized_buf) -> c_int + 'a,
) -> compact::FilterHook<'a> {
    Box::new(move |info, body| {
        let target = target.get();
        let block = match info {
            Some(i) => docinfo_block(i)?,
            None => std::ptr::null_mut(),
        };
        let body = match body {
            Some(b) => sized(b.as_ptr().cast_mut(), b.len()),
            None => sized(std::ptr::null_mut(), 0),
        };
        let action = call(target, block, body);
        // SAFETY: the block is ours again after the call (free(NULL) is a no-op).
        unsafe { c_free(block.cast()) };
        match action {
            COUCHSTORE_COMPACT_KEEP_ITEM => Ok(FilterAction::Keep),
            COUCHSTORE_COMPACT_DROP_ITEM => Ok(FilterAction::Drop),
            COUCHSTORE_COMPACT_NEED_BODY => Ok(FilterAction::NeedBody),
            other => Err(error_from_code(other).unwrap_or(Error::Callback(other))),
        }
    })
}

/// A rewrite hook calling the C hook `hook`.
pub(crate) fn rewrite_hook<'a>(
    hook: unsafe extern "C" fn(*mut *mut CDocInfo, *const sized_buf) -> c_int,
) -> compact::RewriteHook<'a> {
    // SAFETY: a valid C hook by the entry point's contract, given our block.
    rewrite_with(move |info, body| unsafe { hook(info, &body) })
}

/// A rewrite hook calling `call` with a DocInfo block it may replace (freeing the old
/// one) and the body; nonzero means it changed the DocInfo.
pub(crate) fn rewrite_with<'a>(
    call: impl Fn(*mut *mut CDocInfo, sized_buf) -> c_int + 'a,
) -> compact::RewriteHook<'a> {
    Box::new(move |info, body| {
        let mut block = docinfo_block(info)?;
        let body = sized(body.as_ptr().cast_mut(), body.len());
        let changed = call(&mut block, body) != 0;
        let result = if changed {
            // SAFETY: the hook leaves a valid DocInfo in `block`.
            unsafe { read_docinfo(block) }.map(|new| *info = new)
        } else {
            Ok(())
        };
        // SAFETY: whatever block the hook left is ours to free.
        unsafe { c_free(block.cast()) };
        result.map(|()| changed)
    })
}

/// Copies a C DocInfo into the safe type.
///
/// # Safety
/// `info` must be NULL or a valid DocInfo.
unsafe fn read_docinfo(info: *const CDocInfo) -> Result<crate::DocInfo, Error> {
    // SAFETY: forwarded from the caller.
    let i = unsafe { non_null(info) }?;
    Ok(crate::DocInfo {
        // SAFETY: the buffers of a valid DocInfo.
        id: unsafe { super::boundary::buf_bytes(&i.id) }?.to_vec(),
        db_seq: i.db_seq,
        rev_seq: i.rev_seq,
        // SAFETY: as above.
        rev_meta: unsafe { super::boundary::buf_bytes(&i.rev_meta) }?.to_vec(),
        deleted: i.deleted != 0,
        content_meta: i.content_meta,
        bp: i.bp,
        physical_size: i.physical_size as u64,
    })
}

/// A precommit hook calling the C hook `hook` with both handles and `ctx`.
pub(crate) fn precommit_hook<'a>(
    hook: unsafe extern "C" fn(*mut CDb, *mut CDb, *mut c_void) -> couchstore_error_t,
    source: *mut CDb,
    target: TargetSlot,
    ctx: *mut c_void,
) -> compact::PrecommitHook<'a> {
    // SAFETY: a valid C hook with both live handles.
    status_hook(move || unsafe { hook(source, target.get(), ctx) })
}

/// A hook whose C status maps to the result (SUCCESS: go on; anything else stops with it).
pub(crate) fn status_hook<'a>(
    call: impl FnMut() -> couchstore_error_t + 'a,
) -> Box<dyn FnMut() -> Result<(), Error> + 'a> {
    let mut call = call;
    Box::new(move || status(call()))
}

/// The result a callback's status means.
pub(crate) fn status(code: couchstore_error_t) -> Result<(), Error> {
    match code {
        COUCHSTORE_SUCCESS => Ok(()),
        code => Err(error_from_code(code).unwrap_or(Error::Callback(code))),
    }
}
