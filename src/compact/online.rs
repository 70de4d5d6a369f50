//! Online compaction: compacting a database while the engine's flusher keeps writing
//! to it, finishing with a short replay under the engine's lock.
//!
//! Protocol: under the lock, open the source at its newest header and release the lock;
//! compact that snapshot without the lock; catch up with what was committed meanwhile,
//! round after round without the lock while the backlog shrinks; then take the lock,
//! replay the last (small) delta, commit, and let the engine switch files; release.
//! Writers stall only for the last step.
//!
//! A flusher that writes about as fast as the compactor replays keeps the backlog from
//! shrinking below a few of its commits, and replaying those under the lock would stall
//! it for as long. So when the backlog is still too large for the lock-hold budget
//! ([`OnlineOptions::max_lock_hold`]), the driver paces the flusher instead: it takes
//! the lock, replays only as much as fits in the budget, releases it, and repeats. With a
//! fair lock the flusher gets one commit in between, so each hold drains more than the
//! flusher adds, and no hold (the final one included) lasts much longer than the budget.

use std::cell::RefCell;
use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};

use super::replay::{ReplayOptions, ReplayStats, replay};
use super::target::TargetFile;
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
/// Default budget for each time the driver holds the engine's lock.
pub const DEFAULT_MAX_LOCK_HOLD: Duration = Duration::from_millis(10);
/// Default number of paced rounds (lock held, budget-sized replays) before the final
/// round takes whatever is left.
pub const DEFAULT_MAX_PACED_ROUNDS: u32 = 200;
/// Share of the budget a paced round spends replaying, and the share the final round's
/// replay may take (the rest is for its commit and the engine's switch).
const PACED_SHARE: f64 = 0.8;
const FINAL_SHARE: f64 = 0.5;
/// Documents a paced round replays when no replay rate has been measured yet.
const FIRST_PACED_DOCS: u64 = 1000;

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
    /// Replaying part of the backlog under the lock, within the lock-hold budget.
    PacedReplay = 5,
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
    /// Paced rounds: holds of the lock that replayed part of the backlog.
    pub paced_rounds: u32,
    /// Documents replayed in paced rounds.
    pub docs_replayed_paced: u64,
    /// How long the lock was held at the end (final replay, commit and switch).
    pub lock_hold: Duration,
    /// The longest time the lock was held, paced rounds and the end included.
    pub longest_lock_hold: Duration,
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
    /// Budget for each hold of the lock: while the backlog would take longer than this
    /// to replay, the driver replays it in paced rounds of about this length (see the
    /// module documentation). Zero: no paced rounds, the final round replays whatever is
    /// left. A single commit of the flusher larger than the budget still goes in one hold.
    pub max_lock_hold: Duration,
    /// At most this many paced rounds; then the final round replays whatever is left.
    pub max_paced_rounds: u32,
    /// Replay batch size in bytes of doc infos (0: the default).
    pub flush_threshold: usize,
    /// Memory bound of the by-id sort (0: the default).
    pub id_sort_memory: usize,
    /// Told of progress between batches; an error (e.g. CANCEL) aborts.
    pub progress: Option<ProgressHook<'a>>,
}

impl<'a> OnlineOptions<'a> {
    /// Options with the given lock and switch callbacks and default thresholds
    /// (1 MiB, 10 000 sequence numbers, 10 rounds, 10 ms lock holds, 200 paced rounds).
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
            max_lock_hold: DEFAULT_MAX_LOCK_HOLD,
            max_paced_rounds: DEFAULT_MAX_PACED_ROUNDS,
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
/// `target` must not exist or be an empty file (anything else is OPEN_FILE, and nothing
/// is changed). On any error or cancellation the target is put back as it was found
/// (see [`super::target::TargetFile`]), the lock is released and the source is untouched.
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
    run(source, target, options, wrap)
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
    let (target, target_file) = TargetFile::create(target_path, target_open_flags(&src, o.flags))?;
    let target = wrap(target);

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

    // Catch up without the lock while the backlog is large and shrinking.
    let mut rate = ReplayRate::default();
    let mut last_backlog = u64::MAX;
    loop {
        let (end_pos, end) = src.newest_header()?;
        let backlog_bytes = end_pos.saturating_sub(src.header_position());
        let backlog_docs = end.update_seq.saturating_sub(src.header().update_seq);
        let small = backlog_bytes <= o.max_locked_bytes && backlog_docs <= o.max_locked_docs;
        // A round that left at least 90% of the previous backlog: the flusher writes as
        // fast as we replay, and only pacing it will bring the backlog down.
        let stuck = backlog_docs.saturating_mul(10) >= last_backlog.saturating_mul(9);
        if end_pos == src.header_position()
            || small
            || stuck
            || stats.catch_up_rounds >= o.max_rounds
        {
            break;
        }
        let round_started = Instant::now();
        let r = replay_step(
            &mut src,
            &target,
            end_pos,
            Phase::CatchingUp,
            o.flush_threshold,
            &mut progress,
            Span::default(),
        )?;
        rate.observe(r.docs, round_started.elapsed());
        last_backlog = backlog_docs;
        stats.catch_up_rounds += 1;
        stats.bytes_replayed_unlocked += r.source_bytes;
        stats.docs_replayed_unlocked += r.docs;
    }

    // Everything up to this sequence of the source is in the target.
    let mut replayed_seq = src.header().update_seq;
    let mut last_end_seq: Option<u64> = None;
    loop {
        // Make what was replayed so far durable now, so the commit under the lock only
        // has the last delta to fsync.
        target.borrow_mut().sync_data()?;
        let guard = locked(&mut o.lock, &mut o.unlock);
        let hold_started = Instant::now();
        let (end_pos, end) = src.newest_header()?;
        let backlog = end.update_seq.saturating_sub(replayed_seq);
        let budget = o.max_lock_hold.as_secs_f64();
        // What the flusher added since the last hold: a paced round replays more than
        // that, or the backlog would never shrink.
        let added = last_end_seq.map_or(0, |s| end.update_seq.saturating_sub(s));
        let min_round = added + added / 4 + 1;
        let fits = match rate.docs_per_sec() {
            // Once the last paced round caught up, the backlog is the flusher's one
            // commit since: it cannot get smaller, so the final round takes it.
            Some(r) => {
                backlog as f64 <= r * budget * FINAL_SHARE
                    || (last_end_seq.is_some() && backlog <= added + added / 16)
            }
            None => backlog <= o.max_locked_docs.min(FIRST_PACED_DOCS),
        };
        if fits || budget == 0.0 || stats.paced_rounds >= o.max_paced_rounds {
            // The last delta, the commit and the switch.
            let r = replay_step(
                &mut src,
                &target,
                end_pos,
                Phase::FinalReplay,
                o.flush_threshold,
                &mut progress,
                Span {
                    after_seq: Some(replayed_seq),
                    max_docs: None,
                    commit: true,
                },
            )?;
            if target.borrow().has_uncommitted() {
                // Nothing new since the last round, which left the target uncommitted.
                let timestamp = src.header().timestamp;
                target.borrow_mut().commit_unpublished(timestamp)?;
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
            target_file.keep();
            stats.lock_hold = hold_started.elapsed();
            stats.longest_lock_hold = stats.longest_lock_hold.max(stats.lock_hold);
            drop(guard);
            break;
        }
        // A paced round: as much of the backlog as fits in the budget.
        let in_budget = match rate.docs_per_sec() {
            Some(r) => ((r * budget * PACED_SHARE) as u64).max(1),
            None => FIRST_PACED_DOCS,
        };
        // A budget shorter than replaying one of the flusher's commits is overrun.
        let allowance = in_budget.max(min_round);
        last_end_seq = Some(end.update_seq);
        let round_started = Instant::now();
        let r = replay_step(
            &mut src,
            &target,
            end_pos,
            Phase::PacedReplay,
            o.flush_threshold,
            &mut progress,
            Span {
                after_seq: Some(replayed_seq),
                max_docs: Some(allowance),
                commit: false,
            },
        )?;
        // Under the lock the flusher is stopped: this is the rate the budget is about.
        rate = ReplayRate {
            docs: r.docs,
            time: round_started.elapsed(),
        };
        replayed_seq = r.through_seq;
        stats.paced_rounds += 1;
        stats.docs_replayed_paced += r.docs;
        stats.longest_lock_hold = stats.longest_lock_hold.max(hold_started.elapsed());
        drop(guard);
    }
    stats.total = started.elapsed();
    Ok(stats)
}

/// Documents per second the last replays managed.
#[derive(Debug, Default)]
struct ReplayRate {
    docs: u64,
    time: Duration,
}

impl ReplayRate {
    fn observe(&mut self, docs: u64, time: Duration) {
        self.docs += docs;
        self.time += time;
    }

    /// None until a replay of some size was timed.
    fn docs_per_sec(&self) -> Option<f64> {
        (self.docs >= 100 && !self.time.is_zero())
            .then(|| self.docs as f64 / self.time.as_secs_f64())
    }
}

/// Which part of the backlog a replay step covers, and whether it commits.
#[derive(Debug, Default, Clone, Copy)]
struct Span {
    after_seq: Option<u64>,
    max_docs: Option<u64>,
    commit: bool,
}

fn replay_step(
    src: &mut Db,
    target: &RefCell<Db>,
    end_pos: u64,
    phase: Phase,
    flush_threshold: usize,
    progress: &mut Option<ProgressHook<'_>>,
    span: Span,
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
            skip_commit: !span.commit,
            after_seq: span.after_seq,
            max_docs: span.max_docs,
            // The engine switches to the target only after the final commit returns.
            unpublished_target: true,
            ..Default::default()
        },
    )
}
