//! Online compaction: compacting a database while the engine's flusher keeps writing
//! to it, finishing with a short replay under the engine's lock.
//!
//! Protocol: under the lock, open the source at its newest header and release the lock;
//! compact that snapshot without the lock; catch up with what was committed meanwhile,
//! round after round without the lock while the backlog is large; then take the lock,
//! replay the last (small) delta, commit, and let the engine switch files; release.
//! Writers stall only for the last step.

use std::cell::RefCell;
use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};

use super::replay::{ReplayOptions, ReplayStats, replay};
use super::{
    CompactOptions, CompactStats, FilterHook, RewriteHook, compact_into, target_open_flags,
};
use crate::db::{Db, OpenFlags};
use crate::error::Result;

/// Default backlog (source bytes) below which the final, locked round starts.
pub const DEFAULT_MAX_LOCKED_BYTES: u64 = 1 << 20;
/// Default backlog (sequence numbers) below which the final, locked round starts.
pub const DEFAULT_MAX_LOCKED_DOCS: u64 = 10_000;
/// Default number of catch-up rounds without the lock.
pub const DEFAULT_MAX_ROUNDS: u32 = 10;

/// A fair lock with separate `lock` and `unlock` calls, as the driver's callbacks need:
/// tickets are served in order, so a flusher that releases and immediately re-takes it
/// cannot starve the compactor's final step (an unfair lock can, for seconds).
#[derive(Debug, Default)]
pub struct TicketLock {
    /// (next ticket to hand out, ticket being served)
    tickets: std::sync::Mutex<(u64, u64)>,
    served: std::sync::Condvar,
}

impl TicketLock {
    /// Waits for this caller's turn.
    pub fn lock(&self) {
        let mut t = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        let mine = t.0;
        t.0 += 1;
        while t.1 != mine {
            t = self.served.wait(t).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Passes the lock to the next ticket. Call once per `lock`.
    pub fn unlock(&self) {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        self.served.notify_all();
    }

    /// Whether nobody holds or waits for the lock.
    pub fn is_free(&self) -> bool {
        let t = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        t.0 == t.1
    }
}

/// The phase an online compaction is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Copying the snapshot taken at the start.
    Compacting = 1,
    /// Replaying what was committed meanwhile, without the lock.
    CatchingUp = 2,
    /// Replaying the last delta under the lock.
    FinalReplay = 3,
    /// The engine's switch callback is running (under the lock).
    Switching = 4,
}

/// Progress as reported to the progress hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The current phase.
    pub phase: Phase,
    /// Documents copied or replayed so far in this phase.
    pub docs: u64,
    /// Body bytes copied so far in this phase.
    pub bytes: u64,
}

/// Takes or releases the engine's lock.
pub type LockHook<'a> = Box<dyn FnMut() + 'a>;
/// Switches the engine to the compacted file (called with the lock held).
pub type SwitchHook<'a> = Box<dyn FnMut(&Path) -> Result<()> + 'a>;
/// Told of progress; an error (e.g. CANCEL) aborts.
pub type ProgressHook<'a> = Box<dyn FnMut(Progress) -> Result<()> + 'a>;

/// Statistics of an online compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnlineStats {
    /// The initial compaction of the snapshot.
    pub compaction: CompactStats,
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
    /// How long the lock was held at the end (final replay, commit and switch).
    pub lock_hold: Duration,
    /// The whole compaction.
    pub total: Duration,
}

/// How to run an online compaction. Only `lock`, `unlock` and `switch` are required.
pub struct OnlineOptions<'a> {
    /// Compaction flags (see [`super::flags`]).
    pub flags: u64,
    /// Filter hook for the snapshot's compaction.
    pub filter: Option<FilterHook<'a>>,
    /// Doc info rewrite hook for the snapshot's compaction.
    pub rewrite: Option<RewriteHook<'a>>,
    /// Takes the engine's lock (the one its flusher holds while committing).
    pub lock: LockHook<'a>,
    /// Releases it.
    pub unlock: LockHook<'a>,
    /// Called with the lock held after the final replay and commit, with the target's
    /// path: the engine renames the file and swaps its handle here. The target file is
    /// closed by then.
    pub switch: SwitchHook<'a>,
    /// Take the lock for the final replay once the backlog is at most this many source
    /// bytes...
    pub max_locked_bytes: u64,
    /// ...and at most this many sequence numbers.
    pub max_locked_docs: u64,
    /// Give up catching up without the lock after this many rounds (the final round
    /// under the lock always completes).
    pub max_rounds: u32,
    /// Replay batch size in bytes of doc infos (0: the default).
    pub flush_threshold: usize,
    /// Memory bound of the by-id sort (0: the default).
    pub id_sort_memory: usize,
    /// Told of progress between batches; an error (e.g. CANCEL) aborts.
    pub progress: Option<ProgressHook<'a>>,
}

impl<'a> OnlineOptions<'a> {
    /// Options with the given lock and switch callbacks and default thresholds
    /// (1 MiB, 10 000 sequence numbers, 10 rounds).
    pub fn new(lock: LockHook<'a>, unlock: LockHook<'a>, switch: SwitchHook<'a>) -> Self {
        OnlineOptions {
            flags: 0,
            filter: None,
            rewrite: None,
            lock,
            unlock,
            switch,
            max_locked_bytes: DEFAULT_MAX_LOCKED_BYTES,
            max_locked_docs: DEFAULT_MAX_LOCKED_DOCS,
            max_rounds: DEFAULT_MAX_ROUNDS,
            flush_threshold: 0,
            id_sort_memory: 0,
            progress: None,
        }
    }
}

/// Holds the engine's lock while alive, so every exit path releases it.
struct LockGuard<'o, 'a> {
    unlock: &'o mut LockHook<'a>,
}

impl Drop for LockGuard<'_, '_> {
    fn drop(&mut self) {
        (self.unlock)();
    }
}

fn locked<'o, 'a>(lock: &mut LockHook<'a>, unlock: &'o mut LockHook<'a>) -> LockGuard<'o, 'a> {
    lock();
    LockGuard { unlock }
}

/// Compacts the database file `source` into the new file `target` while other handles
/// keep writing to `source` under the caller's lock; see the module documentation.
/// On any error or cancellation the target is removed, the lock is released and the
/// source is untouched.
pub fn compact_online(
    source: &Path,
    target: &Path,
    options: OnlineOptions<'_>,
) -> Result<OnlineStats> {
    compact_online_with(source, target, options, |db| Box::new(RefCell::new(db)))
}

/// [`compact_online`], letting the caller hold the target database while it is being
/// written: `wrap` receives it once it is created (for hooks that need a handle to it)
/// and returns what the driver works through; that is dropped before the switch.
pub fn compact_online_with<T: Deref<Target = RefCell<Db>>>(
    source: &Path,
    target: &Path,
    options: OnlineOptions<'_>,
    wrap: impl FnOnce(Db) -> T,
) -> Result<OnlineStats> {
    let result = run(source, target, options, wrap);
    if result.is_err() {
        let _ = std::fs::remove_file(target);
    }
    result
}

fn run<T: Deref<Target = RefCell<Db>>>(
    source: &Path,
    target_path: &Path,
    mut o: OnlineOptions<'_>,
    wrap: impl FnOnce(Db) -> T,
) -> Result<OnlineStats> {
    let started = Instant::now();
    let mut stats = OnlineStats::default();
    let mut src = {
        let _guard = locked(&mut o.lock, &mut o.unlock);
        Db::open(source, OpenFlags(OpenFlags::RDONLY))?
    };
    let target = wrap(Db::open(target_path, target_open_flags(&src, o.flags))?);

    // The snapshot, without the lock.
    let mut progress = o.progress.take();
    let compaction = {
        let report = progress.as_mut().map(|p| {
            Box::new(move |s: &CompactStats| {
                p(Progress {
                    phase: Phase::Compacting,
                    docs: s.docs_copied,
                    bytes: s.body_bytes,
                })
            }) as super::ProgressHook<'_>
        });
        let options = CompactOptions {
            flags: o.flags,
            filter: o.filter.take(),
            rewrite: o.rewrite.take(),
            precommit: None,
            progress: report,
            id_sort_memory: o.id_sort_memory,
        };
        compact_into(&src, &target, options)?
    };
    stats.compaction = compaction;

    // Catch up without the lock while the backlog is large.
    loop {
        let (end_pos, end) = src.newest_header()?;
        let backlog_bytes = end_pos.saturating_sub(src.header_position());
        let backlog_docs = end.update_seq.saturating_sub(src.header().update_seq);
        let small = backlog_bytes <= o.max_locked_bytes && backlog_docs <= o.max_locked_docs;
        if end_pos == src.header_position() || small || stats.catch_up_rounds >= o.max_rounds {
            break;
        }
        let r = replay_step(
            &mut src,
            &target,
            end_pos,
            Phase::CatchingUp,
            o.flush_threshold,
            &mut progress,
            true,
        )?;
        stats.catch_up_rounds += 1;
        stats.bytes_replayed_unlocked += r.source_bytes;
        stats.docs_replayed_unlocked += r.docs;
    }

    // Make what the unlocked rounds wrote durable now, so the commit under the lock only
    // has the last delta to fsync.
    target.borrow_mut().sync_data()?;

    // The last delta, the commit and the switch, under the lock.
    let guard = locked(&mut o.lock, &mut o.unlock);
    let lock_started = Instant::now();
    let (end_pos, _) = src.newest_header()?;
    let r = replay_step(
        &mut src,
        &target,
        end_pos,
        Phase::FinalReplay,
        o.flush_threshold,
        &mut progress,
        false,
    )?;
    if r.source_bytes == 0 && target.borrow().has_uncommitted() {
        // Nothing new since the last catch-up round, which left the target uncommitted.
        let timestamp = src.header().timestamp;
        target.borrow_mut().commit_with_timestamp(timestamp)?;
    }
    stats.bytes_replayed_locked = r.source_bytes;
    stats.docs_replayed_locked = r.docs;
    if let Some(p) = progress.as_mut() {
        p(Progress {
            phase: Phase::Switching,
            docs: 0,
            bytes: 0,
        })?;
    }
    drop(target);
    (o.switch)(target_path)?;
    stats.lock_hold = lock_started.elapsed();
    drop(guard);
    stats.total = started.elapsed();
    Ok(stats)
}

fn replay_step(
    src: &mut Db,
    target: &RefCell<Db>,
    end_pos: u64,
    phase: Phase,
    flush_threshold: usize,
    progress: &mut Option<ProgressHook<'_>>,
    skip_commit: bool,
) -> Result<ReplayStats> {
    // Entering the phase is reported too: a cancellation point even when there is
    // nothing to replay.
    if let Some(p) = progress.as_mut() {
        p(Progress {
            phase,
            docs: 0,
            bytes: 0,
        })?;
    }
    let report = progress.as_mut().map(|p| {
        Box::new(move |s: &ReplayStats| {
            p(Progress {
                phase,
                docs: s.docs,
                bytes: s.body_bytes,
            })
        }) as super::replay::ReplayProgress<'_>
    });
    replay(
        src,
        target,
        end_pos,
        ReplayOptions {
            flush_threshold,
            progress: report,
            skip_commit,
            ..Default::default()
        },
    )
}
