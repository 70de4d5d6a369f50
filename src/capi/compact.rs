//! Offline compaction with the original's C entry points and hooks.
#![allow(non_camel_case_types)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use super::alloc::docinfo_block;
use super::boundary::{c_free, db_ref, guard, non_null, sized};
use super::types::*;
use crate::compact::{self, CompactOptions, FilterAction};
use crate::error::Error;

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
/// Flag bits without a meaning (yet).
pub const COUCHSTORE_COMPACT_UNUSED: couchstore_compact_flags = 0xff_fff0;
/// fsync the target after every N bytes (encoded as COUCHSTORE_OPEN_WITH_PERIODIC_SYNC).
pub const COUCHSTORE_COMPACT_WITH_PERIODIC_SYNC: couchstore_compact_flags = 0x1f00_0000;

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
        target: *mut Db,
        info: *mut DocInfo,
        body: sized_buf,
        ctx: *mut c_void,
    ) -> c_int,
>;

/// May rewrite the DocInfo of a kept document that has a body (it may replace `*info`
/// with another DocInfo from couchstore_alloc_docinfo, freeing the old one); returns
/// nonzero when it changed it. Only used together with a filter hook.
pub type couchstore_docinfo_hook =
    Option<unsafe extern "C" fn(info: *mut *mut DocInfo, body: *const sized_buf) -> c_int>;

/// Called after all data is copied, before the target's header is written; an error
/// code aborts the compaction.
pub type couchstore_precommit_hook = Option<
    unsafe extern "C" fn(source: *mut Db, target: *mut Db, ctx: *mut c_void) -> couchstore_error_t,
>;

/// Compacts `source` into the new file `target_filename` (it must not exist).
///
/// # Safety
/// `source` must be a live handle; `target_filename` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db(
    source: *mut Db,
    target_filename: *const c_char,
) -> couchstore_error_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        couchstore_compact_db_with_precommit(
            source,
            target_filename,
            0,
            None,
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            None,
            std::ptr::null_mut(),
        )
    }
}

/// Compacts `source` (at its current header) into the new file `target_filename`: every
/// document and deletion in sequence order (bodies copied as stored), the local
/// documents, update and purge sequences, node sizes and format. `hook` filters
/// documents, `dhook` rewrites doc infos (needs `hook`), `hook_ctx` is passed to `hook`;
/// `ops` must be NULL or couchstore_get_default_file_ops(). On error the target is
/// removed. With COUCHSTORE_COMPACT_RECOVERY_MODE unreadable parts are skipped: the
/// target is complete but for them, and the first read error met is returned (as the
/// original does) while the target is kept.
///
/// # Safety
/// `source` must be a live handle; `target_filename` a NUL-terminated string; the hooks
/// valid functions or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db_ex(
    source: *mut Db,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    ops: *mut FileOpsInterface,
) -> couchstore_error_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        couchstore_compact_db_with_precommit(
            source,
            target_filename,
            flags,
            hook,
            dhook,
            hook_ctx,
            ops,
            None,
            std::ptr::null_mut(),
        )
    }
}

/// couchstore_compact_db_ex with a precommit hook, called with the source and target
/// handles and `precommit_ctx` before the target's header is written (the original
/// offers this only through C++).
///
/// # Safety
/// As for couchstore_compact_db_ex; `precommit` a valid function or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_db_with_precommit(
    source: *mut Db,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    ops: *mut FileOpsInterface,
    precommit: couchstore_precommit_hook,
    precommit_ctx: *mut c_void,
) -> couchstore_error_t {
    guard("couchstore_compact_db", || {
        if !ops.is_null() && !std::ptr::eq(ops.cast_const(), &DEFAULT_FILE_OPS) {
            return Err(Error::NotSupported);
        }
        // SAFETY: a live handle by the caller's guarantee; only read during compaction.
        let src = unsafe { db_ref(source) }?;
        if target_filename.is_null() {
            return Err(Error::InvalidArguments);
        }
        // SAFETY: non-NULL, NUL-terminated by the caller's guarantee.
        let name = unsafe { CStr::from_ptr(target_filename) };
        let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
        let (inner, file) =
            compact::target::TargetFile::create(path, compact::target_open_flags(&src, flags))?;
        let handle = Rc::new(Cell::new(std::ptr::null_mut()));
        let target = OwnedHandle::new(inner, name, &handle);
        let options = CompactOptions {
            flags,
            filter: hook.map(|h| filter_hook(h, handle.clone(), hook_ctx)),
            rewrite: dhook.map(rewrite_hook),
            precommit: precommit.map(|p| precommit_hook(p, source, handle.clone(), precommit_ctx)),
            ..Default::default()
        };
        let result = compact::compact_into(&src, &target, options);
        drop(target);
        let stats = result?;
        file.keep();
        stats.tolerated_error.map_or(Ok(()), Err)
    })
}

/// A C handle this library creates around a database it opened (a compaction target),
/// so hooks can be given a `Db*` for it; freed when dropped.
pub(crate) struct OwnedHandle(*mut Db);

impl OwnedHandle {
    /// Wraps `db`, named `name`, and records the handle's pointer in `slot` for hooks.
    pub(crate) fn new(db: crate::Db, name: &CStr, slot: &Cell<*mut Db>) -> Self {
        let ptr = Box::into_raw(Box::new(Db {
            inner: RefCell::new(db),
            filename: CString::from(name),
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

pub(crate) fn filter_hook<'a>(
    hook: unsafe extern "C" fn(*mut Db, *mut DocInfo, sized_buf, *mut c_void) -> c_int,
    target: Rc<Cell<*mut Db>>,
    ctx: *mut c_void,
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
        // SAFETY: a valid C hook; the block and body live for the call; the block is
        // ours again afterwards (free(NULL) is a no-op).
        let action = unsafe {
            let a = hook(target, block, body, ctx);
            c_free(block.cast());
            a
        };
        match action {
            COUCHSTORE_COMPACT_KEEP_ITEM => Ok(FilterAction::Keep),
            COUCHSTORE_COMPACT_DROP_ITEM => Ok(FilterAction::Drop),
            COUCHSTORE_COMPACT_NEED_BODY => Ok(FilterAction::NeedBody),
            other => Err(Error::from_code(other).unwrap_or(Error::Callback(other))),
        }
    })
}

pub(crate) fn rewrite_hook<'a>(
    hook: unsafe extern "C" fn(*mut *mut DocInfo, *const sized_buf) -> c_int,
) -> compact::RewriteHook<'a> {
    Box::new(move |info, body| {
        let mut block = docinfo_block(info)?;
        let body = sized(body.as_ptr().cast_mut(), body.len());
        // SAFETY: a valid C hook given our block, which it may replace.
        let changed = unsafe { hook(&mut block, &body) } != 0;
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
unsafe fn read_docinfo(info: *const DocInfo) -> Result<crate::DocInfo, Error> {
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

pub(crate) fn precommit_hook<'a>(
    hook: unsafe extern "C" fn(*mut Db, *mut Db, *mut c_void) -> couchstore_error_t,
    source: *mut Db,
    target: Rc<Cell<*mut Db>>,
    ctx: *mut c_void,
) -> compact::PrecommitHook<'a> {
    Box::new(move || {
        // SAFETY: a valid C hook with both live handles.
        match unsafe { hook(source, target.get(), ctx) } {
            COUCHSTORE_SUCCESS => Ok(()),
            code => Err(Error::from_code(code).unwrap_or(Error::Callback(code))),
        }
    })
}
