//! Concurrent compaction in C: replay between two headers, and the one-call online
//! compaction driver with the engine's lock, unlock and switch callbacks.
#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use super::boundary::{db_mut, guard, guard_db, non_null, non_null_mut};
use super::compact::{
    OwnedHandle, couchstore_compact_hook, couchstore_docinfo_hook, couchstore_precommit_hook,
    filter_hook, precommit_hook, rewrite_hook, status,
};
use super::types::*;
use crate::compact::online::{self, OnlineOptions, Phase, Progress};
use crate::compact::rate_limit::RateLimit;
use crate::compact::replay::{self, ReplayOptions};
use crate::error::Error;

/// Called before replay copies each document (`info` set) or local document (`local`
/// set; `local->deleted` for a deletion). Returning anything but COUCHSTORE_SUCCESS
/// aborts the replay with that code. The source handle must not be used in the hook.
pub type couchstore_replay_precopy_hook = Option<
    unsafe extern "C" fn(
        source: *mut CDb,
        target: *mut CDb,
        info: *const CDocInfo,
        local: *const CLocalDoc,
        ctx: *mut c_void,
    ) -> couchstore_error_t,
>;

/// Copies into `target` every change in `source` between the source handle's current
/// header and the header at `end_header_position`, then commits the target with the
/// end header's timestamp; the source handle is left at the end header. Local documents
/// first (those present at the end header saved, those deleted since the start header
/// deleted), then every document and deletion with a sequence above the start header's,
/// bodies copied as stored and sequence numbers kept, saved in batches of
/// `flush_threshold` bytes of doc infos (0: 16 MiB; bodies are written at once, not
/// buffered). The purge sequence is carried over.
///
/// # Safety
/// `source` and `target` must be live handles; hooks valid functions or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_replay(
    source: *mut CDb,
    target: *mut CDb,
    end_header_position: u64,
    flush_threshold: usize,
    precopy: couchstore_replay_precopy_hook,
    precopy_ctx: *mut c_void,
    precommit: couchstore_precommit_hook,
    precommit_ctx: *mut c_void,
) -> couchstore_error_t {
    guard_db("couchstore_replay", source, || {
        // SAFETY: live handles by the caller's guarantee.
        let handle = unsafe { non_null(target.cast_const()) }?;
        // SAFETY: as above.
        let mut src = unsafe { db_mut(source) }?;
        let target_cell = Rc::new(Cell::new(target));
        let pre_copy = precopy.map(|hook| {
            Box::new(
                move |info: Option<&crate::DocInfo>, local: Option<&crate::LocalDoc>| {
                    let info_block = info.map(super::alloc::docinfo_block).transpose()?;
                    let local_c = local.map(|l| CLocalDoc {
                        id: super::boundary::sized(l.id.as_ptr().cast_mut(), l.id.len()),
                        json: super::boundary::sized(l.json.as_ptr().cast_mut(), l.json.len()),
                        deleted: c_int::from(l.deleted),
                    });
                    let info_ptr = info_block.unwrap_or(std::ptr::null_mut());
                    let local_ptr = local_c
                        .as_ref()
                        .map_or(std::ptr::null(), |l| l as *const CLocalDoc);
                    // SAFETY: a valid C hook; the DocInfo block and LocalDoc live for the
                    // call; the block is freed afterwards.
                    let code = unsafe {
                        let code = hook(source, target, info_ptr, local_ptr, precopy_ctx);
                        super::boundary::c_free(info_ptr.cast());
                        code
                    };
                    status(code)
                },
            ) as replay::PreCopyHook<'_>
        });
        let options = ReplayOptions {
            flush_threshold,
            pre_copy,
            precommit: precommit.map(|p| precommit_hook(p, source, target_cell, precommit_ctx)),
            progress: None,
            skip_commit: false,
            after_seq: None,
            max_docs: None,
            unpublished_target: false,
            buffers: None,
        };
        replay::replay(&mut src, &handle.inner, end_header_position, options).map(|_| ())
    })
}

/// Phases reported to couchstore_online_options.progress.
pub const COUCHSTORE_ONLINE_PHASE_COMPACTING: c_int = 1;
/// Catching up without the lock.
pub const COUCHSTORE_ONLINE_PHASE_CATCHING_UP: c_int = 2;
/// The final replay, under the lock.
pub const COUCHSTORE_ONLINE_PHASE_FINAL_REPLAY: c_int = 3;
/// The switch callback is about to run (under the lock).
pub const COUCHSTORE_ONLINE_PHASE_SWITCHING: c_int = 4;
/// Replaying part of the backlog under the lock, within max_lock_hold_us.
pub const COUCHSTORE_ONLINE_PHASE_PACED_REPLAY: c_int = 5;

/// How couchstore_compact_online runs; initialise with couchstore_online_options_init,
/// then set the callbacks.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct couchstore_online_options {
    /// Takes the engine's lock (the one its flusher holds while committing). Required.
    pub lock: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Releases it. Required.
    pub unlock: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Called with the lock held after the final replay and commit, with the (closed)
    /// compacted file's name: rename it and swap handles here. Required. The compacted
    /// file's contents and name are durable when it is called; the rename is not until
    /// the directory is fsynced: rename, then fsync the directory (`open(dir,
    /// O_RDONLY)` + `fsync`), before the flusher commits to the new file, or a power cut
    /// can bring back the old file without those commits.
    pub switch_file: Option<
        unsafe extern "C" fn(
            target_filename: *const c_char,
            ctx: *mut c_void,
        ) -> couchstore_error_t,
    >,
    /// Passed to lock, unlock and switch_file.
    pub ctx: *mut c_void,
    /// Take the lock for the final replay once the backlog is at most this many bytes of
    /// source file...
    pub max_locked_bytes: u64,
    /// ...and at most this many sequence numbers.
    pub max_locked_docs: u64,
    /// At most this many catch-up rounds without the lock.
    pub max_rounds: u32,
    /// Replay batch size in bytes of doc infos (0: the default, 16 MiB).
    pub flush_threshold: usize,
    /// Memory bound of the by-id sort (0: the default).
    pub id_sort_memory: usize,
    /// Optional: told of progress (phase, documents and body bytes so far in the
    /// phase); a nonzero return cancels (COUCHSTORE_ERROR_CANCEL). Called with the
    /// engine's lock held in the paced, final and switch phases (5, 3, 4): it must not
    /// take that lock, and should return quickly.
    pub progress: Option<
        unsafe extern "C" fn(phase: c_int, docs: u64, bytes: u64, ctx: *mut c_void) -> c_int,
    >,
    /// Passed to progress.
    pub progress_ctx: *mut c_void,
    /// Budget in microseconds for each hold of the lock: while the backlog would take
    /// longer than this to replay, it is replayed in paced rounds of at most this
    /// length, the flusher getting one commit in between; the final round starts once
    /// what is left fits. A hold exceeds it only when one flusher commit alone takes
    /// longer to replay: then a hold replays that commit and an eighth more (0: no
    /// paced rounds, the final round replays whatever is left; default 5 000).
    pub max_lock_hold_us: u64,
    /// Finish within this many paced rounds, whatever the final hold then takes (0, the
    /// default: no limit; the driver paces until what is left fits in one hold).
    pub max_paced_rounds: u32,
    /// The budget of a hold in documents instead of time (0, the default: use
    /// max_lock_hold_us).
    pub max_docs_per_hold: u64,
    /// Bytes per second the work done without the lock may read and write (the
    /// snapshot's copy; catch-up rounds pause between rounds), so compactions leave the
    /// flushers their share; holds of the lock are never slowed. 0, the default: the
    /// process-wide limit every online compaction shares (see
    /// couchstore_set_compaction_rate_limit); UINT64_MAX: no limit; anything else: a
    /// limit of this compaction's own.
    pub max_bytes_per_sec: u64,
    /// Nonzero (the default): follow the source's writers in this process. Handles of
    /// this library writing to the source (opened by any name of the file, with or
    /// without the caller's file ops) tell the compaction each batch as they save it;
    /// the compaction applies it to the target while the flusher is still writing it
    /// and while it waits for the lock, so the final hold has nothing left to replay,
    /// only the commit and the switch. Writers it cannot see (in another process) are
    /// replayed from the file as with 0. Costs such a writer a copy of each batch (doc
    /// infos and bodies as stored) while a compaction follows it. Only one compaction
    /// of a file follows its writers at a time. A batch a writer began before the
    /// compaction began following is waited for (its commit, some 200 ms at most) and
    /// replayed from the file before the lock is asked for. lock, unlock, switch_file
    /// and progress are still called only on the thread that called
    /// couchstore_compact_online.
    pub follow_writers: c_int,
}

/// What couchstore_compact_online did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct couchstore_online_stats {
    /// Documents copied by the initial compaction.
    pub docs_copied: u64,
    /// Catch-up rounds run without the lock.
    pub catch_up_rounds: u32,
    /// Source bytes replayed without the lock.
    pub bytes_replayed_unlocked: u64,
    /// Source bytes replayed under the lock.
    pub bytes_replayed_locked: u64,
    /// Documents replayed without the lock.
    pub docs_replayed_unlocked: u64,
    /// Documents replayed under the lock.
    pub docs_replayed_locked: u64,
    /// Nanoseconds the lock was held at the end.
    pub lock_hold_ns: u64,
    /// Nanoseconds the whole compaction took.
    pub total_ns: u64,
    /// Paced rounds run (lock held, budget-sized replays).
    pub paced_rounds: u32,
    /// Documents replayed in paced rounds.
    pub docs_replayed_paced: u64,
    /// Nanoseconds of the longest hold of the lock, the end included.
    pub longest_lock_hold_ns: u64,
    /// The most documents replayed in one hold of the lock.
    pub most_docs_per_hold: u64,
    /// Nanoseconds the lock was held in paced rounds (what the flusher waited, at most).
    pub paced_lock_ns: u64,
    /// Nanoseconds from the first paced round to the final one.
    pub pacing_ns: u64,
    /// Documents the flusher committed per second while not paced, and while paced.
    pub flusher_docs_per_sec_unpaced: f64,
    /// See flusher_docs_per_sec_unpaced.
    pub flusher_docs_per_sec_paced: f64,
    /// Of lock_hold_ns: nanoseconds of the final replay...
    pub final_replay_ns: u64,
    /// ...of making the target durable (its commit's write-out and fsync)...
    pub final_commit_ns: u64,
    /// ...and of the engine's switch callback.
    pub final_switch_ns: u64,
    /// Documents of the writers' batches applied as they were saved (follow_writers).
    pub docs_followed: u64,
    /// Of those, documents applied after the lock was taken (the rest of the flusher's
    /// last batch); counted in the hold they fell in.
    pub docs_followed_locked: u64,
    /// Writers' commits that confirmed what had been applied of them.
    pub followed_commits: u64,
    /// Times the target was brought up from the file because the writers' batches were
    /// not told of (writers in another process, a queue that overflowed).
    pub follow_source_rounds: u32,
    /// Of lock_hold_ns, before final_replay_ns: nanoseconds spent applying what was
    /// left of the writers' last batch when the lock came.
    pub final_follow_ns: u64,
}

/// Fills `options` with the defaults: no callbacks, 1 MiB / 10000 sequence numbers of
/// backlog before the final round, at most 10 catch-up rounds, lock holds of 5 ms, no
/// limit on paced rounds, the process-wide compaction rate limit, following the
/// source's writers.
///
/// # Safety
/// `options` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_online_options_init(options: *mut couchstore_online_options) {
    // SAFETY: NULL or writable by the caller's guarantee.
    if let Some(o) = unsafe { options.as_mut() } {
        *o = couchstore_online_options {
            lock: None,
            unlock: None,
            switch_file: None,
            ctx: std::ptr::null_mut(),
            max_locked_bytes: online::DEFAULT_MAX_LOCKED_BYTES,
            max_locked_docs: online::DEFAULT_MAX_LOCKED_DOCS,
            max_rounds: online::DEFAULT_MAX_ROUNDS,
            flush_threshold: 0,
            id_sort_memory: 0,
            progress: None,
            progress_ctx: std::ptr::null_mut(),
            max_lock_hold_us: online::DEFAULT_MAX_LOCK_HOLD.as_micros() as u64,
            max_paced_rounds: 0,
            max_docs_per_hold: 0,
            max_bytes_per_sec: 0,
            follow_writers: 1,
        };
    }
}

/// Compacts the database file `source_filename` into the new file `target_filename`
/// while the engine keeps writing to the source through its own handles, holding its
/// lock only for the end: under the lock the source is opened at its newest header;
/// that snapshot is compacted without the lock (with `flags`, `hook`, `dhook` and
/// `hook_ctx` as for couchstore_compact_db_ex); what was committed meanwhile is replayed
/// without the lock, round after round while the backlog exceeds the thresholds and
/// shrinks; then (with `follow_writers`) the writers' batches in this process are
/// applied as they are saved, and once the target holds the source's newest header,
/// the lock is taken while the flusher's batch in progress is applied, leaving nothing
/// to replay under it; if what is left would take longer than `max_lock_hold_us` to replay, it is
/// replayed in paced rounds, each holding the lock for at most that long, the flusher
/// getting one commit in between (a fair lock is needed for that: with an unfair one
/// the flusher may wait several holds); then under the lock the last delta is
/// replayed and committed and `switch_file` is called; then the lock is released.
/// `progress` is called without the lock while compacting and catching up
/// (phases 1 and 2) and with it held in paced rounds (5), the final replay (3) and
/// just before `switch_file` (4); keep it short there. On error or cancellation the
/// target is removed (an existing file at `target_filename` is never replaced: it must
/// not exist or be empty), the lock released and the source untouched. A writer that
/// rolls the source back below what was already copied (its newest header's update
/// sequence below the target's) makes the call fail with
/// COUCHSTORE_ERROR_DB_NO_LONGER_VALID: compact again. `stats` (may be NULL) receives
/// the figures.
///
/// # Safety
/// File names must be NUL-terminated strings; `options` valid with its required
/// callbacks set; hooks valid functions or NULL; `stats` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_compact_online(
    source_filename: *const c_char,
    target_filename: *const c_char,
    flags: couchstore_compact_flags,
    hook: couchstore_compact_hook,
    dhook: couchstore_docinfo_hook,
    hook_ctx: *mut c_void,
    options: *const couchstore_online_options,
    stats: *mut couchstore_online_stats,
) -> couchstore_error_t {
    guard("couchstore_compact_online", || {
        // SAFETY: valid by the caller's guarantee.
        let o = *unsafe { non_null(options) }?;
        let (Some(lock), Some(unlock), Some(switch)) = (o.lock, o.unlock, o.switch_file) else {
            return Err(Error::InvalidArguments);
        };
        if source_filename.is_null() || target_filename.is_null() {
            return Err(Error::InvalidArguments);
        }
        // SAFETY: non-NULL, NUL-terminated by the caller's guarantee.
        let (src_name, dst_name) = unsafe {
            (
                CStr::from_ptr(source_filename),
                CStr::from_ptr(target_filename),
            )
        };
        let source = Path::new(std::ffi::OsStr::from_bytes(src_name.to_bytes()));
        let target = Path::new(std::ffi::OsStr::from_bytes(dst_name.to_bytes()));
        let ctx = o.ctx;
        let handle = Rc::new(Cell::new(std::ptr::null_mut()));
        let mut options = OnlineOptions::new(
            // SAFETY: the caller's lock callbacks, with their context.
            Box::new(move || unsafe { lock(ctx) }),
            // SAFETY: as above.
            Box::new(move || unsafe { unlock(ctx) }),
            // SAFETY: the caller's switch callback, given the target's name.
            Box::new(move |_| status(unsafe { switch(target_filename, ctx) })),
        );
        options.flags = super::flags::compact_flags(flags);
        options.filter = hook.map(|h| filter_hook(h, handle.clone(), hook_ctx));
        options.rewrite = dhook.map(rewrite_hook);
        options.max_locked_bytes = o.max_locked_bytes;
        options.max_locked_docs = o.max_locked_docs;
        options.max_rounds = o.max_rounds;
        options.max_lock_hold = std::time::Duration::from_micros(o.max_lock_hold_us);
        options.max_paced_rounds = o.max_paced_rounds;
        options.max_docs_per_hold = (o.max_docs_per_hold > 0).then_some(o.max_docs_per_hold);
        options.flush_threshold = o.flush_threshold;
        options.id_sort_memory = o.id_sort_memory;
        options.follow_writers = o.follow_writers != 0;
        options.rate_limit = match o.max_bytes_per_sec {
            0 => Some(RateLimit::process_wide().clone()),
            u64::MAX => None,
            rate => Some(RateLimit::new(rate)),
        };
        if let Some(progress) = o.progress {
            let pctx = o.progress_ctx;
            options.progress = Some(Box::new(move |p: Progress| {
                let phase = match p.phase {
                    Phase::Compacting => COUCHSTORE_ONLINE_PHASE_COMPACTING,
                    Phase::CatchingUp => COUCHSTORE_ONLINE_PHASE_CATCHING_UP,
                    Phase::FinalReplay => COUCHSTORE_ONLINE_PHASE_FINAL_REPLAY,
                    Phase::Switching => COUCHSTORE_ONLINE_PHASE_SWITCHING,
                    Phase::PacedReplay => COUCHSTORE_ONLINE_PHASE_PACED_REPLAY,
                };
                // SAFETY: the caller's progress callback.
                match unsafe { progress(phase, p.docs, p.bytes, pctx) } {
                    0 => Ok(()),
                    _ => Err(Error::Cancel),
                }
            }));
        }
        let result = online::compact_online_with(source, target, options, |db| {
            OwnedHandle::new(db, dst_name, &handle)
        })?;
        // SAFETY: NULL or writable by the caller's guarantee.
        if let Ok(out) = unsafe { non_null_mut(stats) } {
            *out = couchstore_online_stats {
                docs_copied: result.compaction.docs_copied,
                catch_up_rounds: result.catch_up_rounds,
                bytes_replayed_unlocked: result.bytes_replayed_unlocked,
                bytes_replayed_locked: result.bytes_replayed_locked,
                docs_replayed_unlocked: result.docs_replayed_unlocked,
                docs_replayed_locked: result.docs_replayed_locked,
                lock_hold_ns: result.lock_hold.as_nanos() as u64,
                total_ns: result.total.as_nanos() as u64,
                paced_rounds: result.paced_rounds,
                docs_replayed_paced: result.docs_replayed_paced,
                longest_lock_hold_ns: result.longest_lock_hold.as_nanos() as u64,
                most_docs_per_hold: result.most_docs_per_hold,
                paced_lock_ns: result.paced_lock_time.as_nanos() as u64,
                pacing_ns: result.pacing.as_nanos() as u64,
                flusher_docs_per_sec_unpaced: result.flusher_docs_per_sec_unpaced,
                flusher_docs_per_sec_paced: result.flusher_docs_per_sec_paced,
                final_replay_ns: result.final_replay.as_nanos() as u64,
                final_commit_ns: result.final_commit.as_nanos() as u64,
                final_switch_ns: result.final_switch.as_nanos() as u64,
                docs_followed: result.docs_followed,
                docs_followed_locked: result.docs_followed_locked,
                followed_commits: result.followed_commits,
                follow_source_rounds: result.follow_source_rounds,
                final_follow_ns: result.final_follow.as_nanos() as u64,
            };
        }
        Ok(())
    })
}

/// Removes the database file `filename` without stalling other writers' fsyncs: unlinks
/// it at once, then gives its blocks back 16 MiB at a time with a 2 ms pause between
/// (freeing a large file at once can hold up every fsync on the device for tens of
/// milliseconds). Meant for the old file after couchstore_compact_online, once no handle
/// has it open: keep a second name for it in the switch callback (link(2) before
/// renaming the compacted file over it) and pass that name here afterwards, from any
/// thread. Returns COUCHSTORE_ERROR_NO_SUCH_FILE if it does not exist,
/// COUCHSTORE_ERROR_FILE_CLOSE on other failures (see couchstore_last_os_error).
///
/// # Safety
/// `filename` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_remove_file_gradually(
    filename: *const c_char,
) -> couchstore_error_t {
    guard("couchstore_remove_file_gradually", || {
        if filename.is_null() {
            return Err(Error::InvalidArguments);
        }
        // SAFETY: non-NULL and NUL-terminated by the caller's guarantee.
        let name = unsafe { CStr::from_ptr(filename) };
        crate::file::remove_gradually(Path::new(std::ffi::OsStr::from_bytes(name.to_bytes())))
    })
}
