//! Online compaction: compacting a database while the engine's flusher keeps writing
//! to it, finishing with a short replay under the engine's lock.
//!
//! Protocol: under the lock, open the source at its newest header and release the lock;
//! compact that snapshot without the lock; catch up with what was committed meanwhile,
//! round after round without the lock while the backlog shrinks; then take the lock,
//! replay the last (small) delta, commit, and let the engine switch files; release.
//! Writers stall only for the last step.
//!
//! With a fair lock, the last delta is at least the flusher's last commit: it was
//! written while the driver waited for the lock, and no reader of the file sees a
//! batch before its commit. Writers in this process tell the compaction what they save
//! as they save it ([`crate::db::feed`]; [`OnlineOptions::follow_writers`]). After the
//! catch-up the driver follows them ([`super::follow`]): it applies each batch to the
//! target while the flusher is still updating its own indexes, takes the writer's
//! commit as the confirmation that the target now holds that header, and waits for the
//! lock while another thread applies the flusher's batch in progress. The hold then
//! finds nothing left to replay: it commits the target (its data made durable as it was
//! applied) and switches. Whatever the events cannot account for is brought up from the
//! file, as without following.
//!
//! A flusher that writes about as fast as the compactor replays keeps the backlog from
//! shrinking below a few of its commits, and replaying those under the lock would stall
//! it for as long. So when unlocked rounds stop shrinking the backlog, the driver paces
//! the flusher: it takes the lock for a hold that replays at most what fits in the
//! budget ([`OnlineOptions::max_lock_hold`], or [`OnlineOptions::max_docs_per_hold`]),
//! releases it, and asks for it again at once; with a fair lock the flusher gets exactly
//! one commit between two holds. Each cycle drains a hold's worth and adds one commit,
//! so the number of cycles is bounded by the backlog, the budget and the two speeds,
//! not by a constant. When what is left fits in one hold (or is the flusher's one last
//! commit), the final round replays it, commits and switches.
//!
//! No hold is longer than the budget, but for one case the engine decides: when what
//! its flusher adds between two holds takes longer than the budget to replay (one
//! commit that large, or several commits when the lock is not fair), no budget-sized
//! hold can keep up with it (and the final round must take a whole commit). Then each
//! hold replays an eighth more than the flusher added since the last one, so the
//! backlog still shrinks and the holds follow the flusher's commits, not the backlog.
//! [`OnlineOptions::max_paced_rounds`] lets the caller trade that for an end within a
//! number of rounds, whatever the final hold then takes.
//!
//! Everything the engine waits for (holds) writes B-tree nodes as Snappy literals: a
//! copy instead of a compression, at the cost of larger nodes in the compacted file.
//! A paced hold's appends stay in memory; after the lock is released another thread
//! writes them out and makes them durable, so a paced hold makes no system call to
//! write and no fsync, and the driver asks for the lock again at once. The final
//! hold's delta is written out by another thread as it is replayed; the final commit
//! waits for that and fsyncs. While the flusher waits in a hold, a second thread reads
//! ahead the nodes the hold rewrites.

use std::cell::RefCell;
use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};

use super::follow::{Anchor, Follower};
use super::rate_limit::{self, RateLimit};
use super::replay::{self, ReplayBuffers, ReplayOptions, ReplayStats};
use super::target::TargetFile;
use super::{
    CompactOptions, CompactStats, FilterHook, RewriteHook, compact_into, target_open_options,
};
use crate::db::feed::Stopper;
use crate::db::{Db, OpenOptions};
use crate::error::{Error, Result};
use crate::file::Backend;
use crate::file::write_behind::SYNC_AHEAD;
use crate::format::Header;
use crate::format::block::BLOCK_SIZE;

/// Default backlog (source bytes) below which the final, locked round starts.
pub const DEFAULT_MAX_LOCKED_BYTES: u64 = 1 << 20;
/// Default backlog (sequence numbers) below which the final, locked round starts.
pub const DEFAULT_MAX_LOCKED_DOCS: u64 = 10_000;
/// Default number of catch-up rounds without the lock.
pub const DEFAULT_MAX_ROUNDS: u32 = 10;
/// Default budget for each time the driver holds the engine's lock.
pub const DEFAULT_MAX_LOCK_HOLD: Duration = Duration::from_millis(5);
/// Share of the budget a paced round spends replaying, and the share the final round's
/// replay may take (the rest is for its commit and the engine's switch).
const PACED_SHARE: f64 = 0.8;
const FINAL_SHARE: f64 = 0.5;
/// Most bytes a hold keeps in memory before writing them out under the lock after all
/// (a hold of the budget's size writes a few MiB).
const HOLD_WRITE_BUFFER: usize = 64 << 20;
/// Most of that memory made ready before the first hold (see [`hold_buffer_size`]).
const HOLD_BUFFER_RESERVE: usize = 16 << 20;
/// Doc infos the replay buffers keep for the holds (one hold replays about one flusher
/// commit; a larger one grows them again).
const HOLD_INFOS_KEPT: usize = 4096;
/// Documents per second assumed for a hold before any replay was timed.
const FIRST_RATE: f64 = 100_000.0;

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
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Of that hold: what the follower still applied of the writers' last batch
    /// ([`OnlineOptions::follow_writers`]), the final replay from the file, making the
    /// target durable (waiting for the write-out thread to finish what it was given,
    /// an fsync of its own included, then the commit's fsync) and the engine's switch
    /// callback.
    pub final_follow: Duration,
    /// See `final_follow`.
    pub final_replay: Duration,
    /// See `final_follow`.
    pub final_commit: Duration,
    /// See `final_follow`.
    pub final_switch: Duration,
    /// The longest time the lock was held, paced rounds and the end included.
    pub longest_lock_hold: Duration,
    /// The most documents replayed in one hold of the lock (paced or final).
    pub most_docs_per_hold: u64,
    /// The most documents the flusher committed between two holds of the lock. With a
    /// fair lock that is one commit; a hold replays more than the document budget only
    /// when this is larger than the budget (then at most an eighth more than this).
    pub most_docs_added_between_holds: u64,
    /// Time the lock was held in paced rounds: how long the flusher waited for it
    /// (at most) while it was paced.
    pub paced_lock_time: Duration,
    /// How long pacing lasted (from the first paced hold to the final one).
    pub pacing: Duration,
    /// Documents the flusher committed per second while it was not paced (during the
    /// snapshot's copy and the unlocked rounds), and while it was paced.
    pub flusher_docs_per_sec_unpaced: f64,
    /// See `flusher_docs_per_sec_unpaced`.
    pub flusher_docs_per_sec_paced: f64,
    /// Whether the rate limit was lifted during the catch-up: the flusher wrote faster
    /// than the rate-limited rounds could replay, so the backlog stopped shrinking.
    pub rate_limit_lifted: bool,
    /// Whether the compaction followed the source's writers
    /// ([`OnlineOptions::follow_writers`]; only one compaction of a file can).
    pub followed: bool,
    /// Writers' saves applied as they were made, and their documents.
    pub followed_saves: u64,
    /// See `followed_saves`.
    pub docs_followed: u64,
    /// Of `docs_followed`, those of saves whose application ended after the lock was
    /// taken (part of the flusher's last batch when the lock came first); they count
    /// towards the hold they fell in.
    pub docs_followed_locked: u64,
    /// Writers' commits that confirmed what had been applied of them.
    pub followed_commits: u64,
    /// Saves applied and then taken back (their writer gave them up, or its commit was
    /// not the one expected).
    pub followed_saves_reverted: u64,
    /// Times the target was brought up from the file because the writers' events did
    /// not give what the source holds (writers in another process, a full queue).
    pub follow_source_rounds: u32,
    /// The whole compaction.
    pub total: Duration,
}

impl OnlineStats {
    /// Records one hold of the lock: how long it was and how many documents it replayed.
    fn note_hold(&mut self, held: Duration, docs: u64) {
        self.longest_lock_hold = self.longest_lock_hold.max(held);
        self.most_docs_per_hold = self.most_docs_per_hold.max(docs);
    }
}

/// How to run an online compaction. Only `lock`, `unlock` and `switch` are required.
pub struct OnlineOptions<'a> {
    /// Which compaction behaviours to use.
    pub flags: super::CompactFlags,
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
    /// closed, its contents and name durable, by then; the engine makes the rename
    /// durable (fsync of the directory) before it commits to the new file.
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
    /// to replay, the driver paces the flusher with holds of at most this length (see
    /// the module documentation). Zero: no pacing, the final round replays whatever is
    /// left.
    pub max_lock_hold: Duration,
    /// The budget of a hold in documents instead (when set, `max_lock_hold` is not
    /// used): for engines that know what their commits cost, and for tests.
    pub max_docs_per_hold: Option<u64>,
    /// Finish within this many paced rounds, whatever the final hold then takes (0, the
    /// default: no such limit; the driver paces until the backlog fits in a hold).
    pub max_paced_rounds: u32,
    /// Replay batch size in bytes of doc infos (0: the default).
    pub flush_threshold: usize,
    /// Memory bound of the by-id sort (0: the default).
    pub id_sort_memory: usize,
    /// Told of progress between batches; an error (e.g. CANCEL) aborts.
    pub progress: Option<ProgressHook<'a>>,
    /// A limit on the bytes per second the work done without the lock reads and
    /// writes (the snapshot's copy; catch-up rounds pause between rounds), so that
    /// compactions leave the flushers their share. By default the process-wide limit
    /// ([`RateLimit::process_wide`]) that all online compactions share; None: as fast as
    /// it can. Holds of the lock are never slowed. When a catch-up round under the limit
    /// does not shrink the backlog (the flusher writes faster than the limit lets the
    /// compaction replay), the limit is lifted for the rest of the compaction, which
    /// would otherwise never catch up ([`OnlineStats::rate_limit_lifted`]).
    pub rate_limit: Option<RateLimit>,
    /// Follow the source's writers in this process (on by default): handles of this
    /// library writing to the source tell the compaction what they save as they save
    /// it, and the compaction applies each batch while the flusher is still writing
    /// it (and while it waits for the lock), so a hold finds nothing left to replay.
    /// Writers in other processes, or handles whose name led to another file, are
    /// replayed from the file as before. A batch a writer began before following did
    /// is waited for (its commit, some 200 ms at most) and replayed from the file
    /// before the lock is asked for. Off: the file alone.
    pub follow_writers: bool,
}

impl<'a> OnlineOptions<'a> {
    /// Options with the given lock and switch callbacks and default thresholds
    /// (1 MiB, 10 000 sequence numbers, 10 rounds, 5 ms lock holds, no limit on paced
    /// rounds).
    pub fn new(lock: LockHook<'a>, unlock: LockHook<'a>, switch: SwitchHook<'a>) -> Self {
        OnlineOptions {
            flags: super::CompactFlags::default(),
            filter: None,
            rewrite: None,
            lock,
            unlock,
            switch,
            max_locked_bytes: DEFAULT_MAX_LOCKED_BYTES,
            max_locked_docs: DEFAULT_MAX_LOCKED_DOCS,
            max_rounds: DEFAULT_MAX_ROUNDS,
            max_lock_hold: DEFAULT_MAX_LOCK_HOLD,
            max_docs_per_hold: None,
            max_paced_rounds: 0,
            flush_threshold: 0,
            id_sort_memory: 0,
            progress: None,
            rate_limit: Some(RateLimit::process_wide().clone()),
            follow_writers: true,
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
/// A source rolled back below what was copied (its newest header's update sequence
/// below the target's) is DB_NO_LONGER_VALID: no replay takes documents out of a target.
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
    let files = OnlineFiles {
        open_source: Box::new(|| Db::open(source, OpenOptions::read_only())),
        open_target: None,
    };
    run(files, target, options, wrap)
}

/// Opens the target through the caller's I/O: given the open options (create, plus
/// exclusive when nothing is at the name), returns the backend and the options to open
/// it with.
pub type TargetOpener<'f> =
    Box<dyn FnMut(OpenOptions) -> Result<(Box<dyn Backend>, OpenOptions)> + 'f>;

/// Where an online compaction's files come from when not from the OS by path: for
/// engines with their own I/O, and for tests that simulate a disk.
pub struct OnlineFiles<'f> {
    /// Opens the source read-only (called once, under the lock).
    pub open_source: Box<dyn FnMut() -> Result<Db> + 'f>,
    /// Opens the new target (None: by its path); the rules of
    /// [`TargetFile::create_with`] apply.
    pub open_target: Option<TargetOpener<'f>>,
}

/// [`compact_online`] over the caller's files; `target` is the name the switch
/// callback is given.
pub fn compact_online_files(
    files: OnlineFiles<'_>,
    target: &Path,
    options: OnlineOptions<'_>,
) -> Result<OnlineStats> {
    run(files, target, options, |db| Box::new(RefCell::new(db)))
}

fn run<T: Deref<Target = RefCell<Db>>>(
    mut files: OnlineFiles<'_>,
    target_path: &Path,
    mut o: OnlineOptions<'_>,
    wrap: impl FnOnce(Db) -> T,
) -> Result<OnlineStats> {
    let started = Instant::now();
    let mut stats = OnlineStats::default();
    let (mut src, target, target_file) = open_files(&mut files, target_path, &mut o)?;
    let start_seq = src.header().update_seq;
    let target = wrap(target);
    let mut progress = o.progress.take();

    // The snapshot, without the lock.
    stats.compaction = snapshot(&src, &target, &mut o, &mut progress)?;
    // Catch up without the lock while the backlog is large and shrinking.
    let mut rate = ReplayRate::default();
    let mut replayer = Replayer {
        flush_threshold: o.flush_threshold,
        buffers: ReplayBuffers::default(),
    };
    catch_up(
        &mut src,
        &target,
        &o,
        &mut progress,
        &mut stats,
        &mut rate,
        &mut replayer,
    )?;
    // The holds fill these buffers again: one commit's worth, not a catch-up's batch.
    replayer.buffers.trim(HOLD_INFOS_KEPT);

    // From here on, what is appended to the target stays in memory until it is handed
    // to another thread, which writes it and makes it durable: after each batch applied
    // from the writers' events, and after each hold once the lock is released (so that
    // no write-out nor periodic sync falls inside a hold).
    target.borrow_mut().set_periodic_sync(None)?;
    target
        .borrow_mut()
        .set_deferred_writes(Some(HOLD_WRITE_BUFFER))?;
    // The memory a hold appends to is touched now: faulting in a few MiB of fresh pages
    // took the first holds 1-2 ms more (perf: a fifth of all paced-hold time).
    let reserve = hold_buffer_size(HoldBudget::of(&o, &rate), &stats);
    target.borrow_mut().reserve_write_buffer(reserve)?;
    // Then follow the writers without the lock until the target holds the source's
    // newest header (or it turns out they write faster than it can follow). From here
    // on the source's writers in this process tell what they save; the batch one is
    // writing now was not told of, so the first commit is brought up from the file.
    let mut follower = match (o.follow_writers, src.identity()) {
        (true, Some(identity)) => Follower::subscribe(identity, FEED_LIMIT, Anchor::of(&src)),
        _ => None,
    };
    stats.followed = follower.is_some();
    if let Some(f) = follower.as_mut()
        && !follow(
            &mut src,
            &target,
            f,
            &mut progress,
            &mut stats,
            &mut replayer,
        )?
    {
        // The writers are faster: pacing takes over, from what the target holds; the
        // follower takes up again once a paced hold has replayed all there was.
        f.give_up(&mut src, &mut target.borrow_mut())?;
    }
    let unpaced = started.elapsed();
    let (_, newest) = src.newest_header()?;
    stats.flusher_docs_per_sec_unpaced =
        per_sec(newest.update_seq.saturating_sub(start_seq), unpaced);

    // Paced rounds (when the target does not keep up by following), then the final one.
    let mut rounds = Rounds {
        replayed_seq: src.header().update_seq,
        paced_from: src.header().update_seq,
        pacing_started: Instant::now(),
        last_end_seq: None,
        rate,
        last_added: None,
        replayer,
    };
    if let Some(f) = follower.as_ref() {
        rounds.align(&mut src, f)?;
    }
    loop {
        let budget = HoldBudget::of(&o, &rounds.rate);
        let finish_within = (o.max_paced_rounds > 0).then_some(o.max_paced_rounds);
        // While the target holds a header exactly (and the writers' events are trusted),
        // the flusher's batch in progress is applied as it is written, while the driver
        // waits for the lock; the hold then finds nothing left to replay.
        let following = follower
            .as_mut()
            .filter(|f| f.trusted() && !f.behind())
            .and_then(|f| f.stopper().map(|stop| (f, stop)));
        // What the last hold replayed is handed to another thread, which writes it and
        // makes it durable while this one asks for the lock again at once: the flusher
        // commits meanwhile, and pacing holds it to one commit per hold only while the
        // driver does not keep the lock waiting. When the next hold is most likely the
        // final (the last replayed everything there was, or what it left and one more
        // commit fit in the final budget), its commit would otherwise wait for that
        // write-out under the lock: without a follower, it is made durable here (the
        // flusher's commit meanwhile takes longer); a follower has made the target
        // durable once in step, and hands each batch over as it applies it.
        let durable = following.is_none()
            && rounds.next_likely_final(budget, stats.paced_rounds, finish_within);
        target.borrow_mut().write_out_behind(durable)?;
        // Once the lock is held, the follower applies no more than a final hold may
        // replay; the rest is the file's.
        let limit = match budget {
            HoldBudget::Docs { last, .. } => last,
            HoldBudget::Unlimited => u64::MAX,
        };
        let (guard, hold_started, followed_locked, follow_tail) = match following {
            Some((f, stop)) => lock_following(f, stop, &target, limit, &mut o.lock, &mut o.unlock)?,
            None => (
                locked(&mut o.lock, &mut o.unlock),
                Instant::now(),
                0,
                Duration::ZERO,
            ),
        };
        if let Some(f) = follower.as_mut() {
            // Saves not committed by now are not in the source's newest header.
            f.revert(&mut target.borrow_mut())?;
            rounds.align(&mut src, f)?;
            note_followed(&mut stats, f, followed_locked);
        }
        let (end_pos, end_seq, decision) =
            rounds.decide(&mut src, &mut stats, budget, finish_within)?;
        {
            // The flusher waits: nodes as literals, and the second core reads ahead.
            let mut t = target.borrow_mut();
            t.set_literal_nodes(true)?;
            t.set_prefetch(true)?;
        }
        let Hold::Paced { docs } = decision else {
            // The final delta must be written before its fsync: another thread writes it
            // out as it is replayed. That thread takes the core the waiting flusher
            // leaves idle; reading ahead as well pays only with a third core (on two,
            // the replaying thread waited for a prefetcher the writer had displaced:
            // final holds of 3.8-5.9 ms median and up to 14 ms, against 3.7-4.0 ms and
            // up to 5.4 ms without, in the same runs).
            {
                let mut t = target.borrow_mut();
                t.set_prefetch(cores() >= 3)?;
                t.set_deferred_writes(None)?;
                t.set_write_behind()?;
            }
            // The follower is done: its writers' saves go to the source alone again.
            drop(follower);
            let r = final_round(
                &mut src,
                &target,
                end_pos,
                &mut progress,
                &mut rounds,
                &mut stats,
            )?;
            stats.bytes_replayed_locked = r.source_bytes;
            stats.docs_replayed_locked = r.docs;
            stats.final_follow = follow_tail;
            drop(target);
            let switch_started = Instant::now();
            (o.switch)(target_path)?;
            target_file.keep();
            stats.final_switch = switch_started.elapsed();
            stats.lock_hold = hold_started.elapsed();
            stats.note_hold(stats.lock_hold, r.docs + followed_locked);
            drop(guard);
            rounds.finish_pacing(&mut stats, end_seq);
            break;
        };
        // A paced round: the flusher waits while a hold's worth is replayed.
        rounds.last_end_seq = Some(end_seq);
        let mut replayed =
            paced_round(&mut src, &target, end_pos, docs, &mut progress, &mut rounds)?;
        if let Some(f) = follower.as_mut() {
            // The target holds the end header only when the round replayed all of it.
            // (A writer saving outside the lock may have saves on it told of already:
            // they are applied now, within this hold.)
            if rounds.replayed_seq == end_seq {
                let anchor = Anchor {
                    pos: end_pos,
                    seq: end_seq,
                };
                replayed += f.anchor_at(anchor, &mut target.borrow_mut())?;
            } else {
                f.detach();
            }
        }
        stats.paced_rounds += 1;
        stats.docs_replayed_paced += replayed;
        let held = hold_started.elapsed();
        stats.paced_lock_time += held;
        stats.note_hold(held, replayed + followed_locked);
        drop(guard);
    }
    stats.total = started.elapsed();
    Ok(stats)
}

/// Events kept queued for a compaction following its source's writers: about thirty
/// flusher batches of 1000 documents of 1 KiB. More means the compaction is not keeping
/// up; the writers then stop copying their batches until it has caught up.
const FEED_LIMIT: usize = 32 << 20;
/// How long the follower waits, without the lock, for the event of a commit it already
/// sees in the file (the writer tells it right after the commit's fsync), before it
/// brings the target up from the file instead.
const FOLLOW_WAIT: Duration = Duration::from_millis(5);
/// A backlog the follower brings up from the file however the last such round went (a
/// few flusher commits: following begins a commit or two behind); the catch-up's own
/// default threshold.
const FROM_FILE_SMALL: u64 = DEFAULT_MAX_LOCKED_DOCS;
/// How long the follower, in step with writers it has seen, waits for a batch to start
/// before it takes them for idle and asks for the lock (the demo's flusher tells its
/// next batch 2-4 ms after its last commit: building the batch, appending the bodies).
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// Waits for a first event from writers that appear to be in a batch begun before
/// following did, at most (some 200 ms: a flusher's batch on a cold cache took 60 ms).
const QUIET_WAITS: u32 = 40;
/// Looks at the source without getting closer to its newest header than before, after
/// which following without the lock gives up (the writers are faster): pacing takes over.
const FOLLOW_PATIENCE: u32 = 16;
/// Events handled between two looks at the source (a look reads back from the file's
/// end to its newest header, past what a writer has appended since).
const PASS_EVENTS: usize = 8;

/// Without the lock: applies the writers' saves as they come and confirms them by their
/// commits; whenever the source holds commits the events do not give, brings the
/// target up from the file. Ends when the target holds the source's newest header (a
/// batch the flusher is writing may be applied too, pending its commit): true; or when
/// [`FOLLOW_PATIENCE`] looks in a row found it no closer: false.
fn follow(
    src: &mut Db,
    target: &RefCell<Db>,
    f: &mut Follower,
    progress: &mut Option<ProgressHook<'_>>,
    stats: &mut OnlineStats,
    replayer: &mut Replayer,
) -> Result<bool> {
    let mut closest = u64::MAX;
    let mut no_closer = 0;
    // Whether the target was made durable once in step with the writers.
    let mut durable = false;
    // What was left before the last round from the file, and the commits confirmed
    // from events by then.
    let mut from_file = (u64::MAX, 0);
    // Waits for a first event from a writer in a batch begun before following.
    let mut quiet_waits = 0;
    loop {
        // What is queued, a save at a time (each goes to the write-behind thread and is
        // reported, a cancellation point, as it is applied), but no more than a pass's
        // worth before the next look at the source: a follower slower than the writers
        // would otherwise never look again.
        let before = (f.stats.batches, f.stats.commits);
        for _ in 0..PASS_EVENTS {
            let docs = f.follow_one(&mut target.borrow_mut())?;
            let Some(docs) = docs else {
                break;
            };
            applied(target, progress, docs)?;
        }
        let Some(anchor) = f.anchor() else {
            return Ok(false);
        };
        let (pos, newest) = newest_not_below(src, anchor.seq)?;
        if pos == anchor.pos {
            if !durable {
                // In step with the writers: what the target holds is made durable now
                // (when there is enough of it to matter: an fsync more is a cost to the
                // flushers' own), so that the final commit has only the last batch or
                // two to wait for; then look again (the writers went on meanwhile).
                durable = true;
                if target.borrow().unsynced_bytes() >= SYNC_AHEAD {
                    target.borrow_mut().write_out_behind(true)?;
                    continue;
                }
            }
            // With no event at all since following began, a writer may be in a batch
            // it began before (which it does not tell of): the file then goes on past
            // its newest header's block. Its commit is waited for (then brought up
            // from the file), so that the lock is not asked for with all of that batch
            // left to replay under it. A file that ends with its newest header has no
            // writer at work (an engine writes it seldom): nothing to wait for. (What
            // a failed save left after it costs the waits once.)
            if f.stats.events == 0
                && src.file()?.end() > pos + BLOCK_SIZE
                && quiet_waits < QUIET_WAITS
            {
                quiet_waits += 1;
                follow_next(f, target, progress, IDLE_WAIT)?;
                continue;
            }
            // The lock is best asked for once the flusher's batch in progress is
            // applied: its commit then hands over a lock with nothing left to do (asked
            // for earlier, the lock may come while that batch is still being applied).
            // With no batch told of within a short wait, the writers are idle.
            if f.trusted()
                && !f.has_pending()
                && f.stats.events > 0
                && follow_next(f, target, progress, IDLE_WAIT)?
            {
                continue;
            }
            note_followed(stats, f, 0);
            return Ok(true);
        }
        let lag = newest.update_seq.saturating_sub(anchor.seq);
        if lag < closest {
            closest = lag;
            no_closer = 0;
        } else {
            no_closer += 1;
            if no_closer >= FOLLOW_PATIENCE {
                note_followed(stats, f, 0);
                return Ok(false);
            }
        }
        // Events still queued may lead there, when the last pass moved the target
        // (saves on a newer header than the anchor only wait for the file to bring it
        // there): handle them first. With saves applied that this commit may confirm,
        // its event is likely on its way (told right after the commit's fsync);
        // without, none will bring it.
        if f.trusted() && !f.behind() {
            let moved = (f.stats.batches, f.stats.commits) != before;
            if moved && f.has_queued() {
                continue;
            }
            if f.has_pending() && follow_next(f, target, progress, FOLLOW_WAIT)? {
                continue;
            }
        }
        // Bring the target up to the source's newest header from the file. A round
        // from the file leaves about a commit for events to take over (the first ones
        // after following began may not be told of); when a large backlog is left, none
        // were confirmed since the last such round and it did not shrink by a tenth,
        // the writers are as fast as the file is replayed (as the catch-up found), and
        // pacing takes over.
        if lag > FROM_FILE_SMALL && f.stats.commits == from_file.1 && stuck(lag, from_file.0) {
            note_followed(stats, f, 0);
            return Ok(false);
        }
        from_file = (lag, f.stats.commits);
        f.revert(&mut target.borrow_mut())?;
        f.seek_to_anchor(src)?;
        let r = replayer.step(
            src,
            target,
            pos,
            Phase::CatchingUp,
            progress,
            Span::default(),
        )?;
        stats.follow_source_rounds += 1;
        stats.bytes_replayed_unlocked += r.source_bytes;
        stats.docs_replayed_unlocked += r.docs;
        let anchor = Anchor {
            pos,
            seq: newest.update_seq,
        };
        let docs = f.anchor_at(anchor, &mut target.borrow_mut())?;
        applied(target, progress, docs)?;
    }
}

/// Waits up to `wait` for the writers' next event and handles it; false when none came.
fn follow_next(
    f: &mut Follower,
    target: &RefCell<Db>,
    progress: &mut Option<ProgressHook<'_>>,
    wait: Duration,
) -> Result<bool> {
    let docs = f.follow_next_within(&mut target.borrow_mut(), wait)?;
    match docs {
        Some(docs) => applied(target, progress, docs).map(|()| true),
        None => Ok(false),
    }
}

/// After `docs` documents were applied from the writers' events: what they appended
/// goes to the write-behind thread, and progress is reported (a cancellation point).
fn applied(target: &RefCell<Db>, progress: &mut Option<ProgressHook<'_>>, docs: u64) -> Result<()> {
    if docs == 0 {
        return Ok(());
    }
    target.borrow_mut().write_out_behind(false)?;
    match progress.as_mut() {
        Some(p) => p(Progress {
            phase: Phase::CatchingUp,
            docs,
            bytes: 0,
        }),
        None => Ok(()),
    }
}

/// Copies the follower's figures into the statistics, adding `locked` documents applied
/// under the lock.
fn note_followed(stats: &mut OnlineStats, f: &Follower, locked: u64) {
    stats.followed_saves = f.stats.batches;
    stats.docs_followed = f.stats.docs;
    stats.followed_commits = f.stats.commits;
    stats.followed_saves_reverted = f.stats.reverted;
    stats.docs_followed_locked += locked;
}

/// Takes the engine's lock while another thread applies the writers' saves as they are
/// told of (the flusher's batch in progress, which it commits before it lets the lock
/// go); once the lock is held, that thread applies what is still queued (at most
/// `limit` documents) and stops. Returns the guard, when the lock was taken, the
/// documents applied after that, and how long the lock then waited for the thread.
fn lock_following<'o, 'a>(
    f: &mut Follower,
    stopper: Stopper,
    target: &RefCell<Db>,
    limit: u64,
    lock: &mut LockHook<'a>,
    unlock: &'o mut LockHook<'a>,
) -> Result<(LockGuard<'o, 'a>, Instant, u64, Duration)> {
    /// Stops the following thread however this thread leaves the wait (a lock hook
    /// that panics included), so the scope's join cannot wait forever.
    struct StopOnDrop(Stopper);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    let stop = StopOnDrop(stopper);
    let mut t = target.borrow_mut();
    let db: &mut Db = &mut t;
    let (guard, taken, applied) = std::thread::scope(|scope| {
        // Each batch applied goes to the write-behind thread at once, which makes it
        // durable while the flusher commits it: the final commit has little left.
        let mut write_out = |db: &mut Db| db.write_out_behind(false);
        let worker = scope.spawn(move || f.follow_until_stopped(db, limit, &mut write_out));
        let guard = locked(lock, unlock);
        let taken = Instant::now();
        drop(stop);
        let applied = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (guard, taken, applied)
    });
    Ok((guard, taken, applied?, taken.elapsed()))
}

/// What a paced hold is likely to append: three times the budget in documents (it is
/// set by the catch-up's rate, and replays under the lock ran up to 2.5 times as fast),
/// at twice the source bytes per document the catch-up replayed (nodes are written
/// uncompressed under the lock), 4 KiB per document before any was; at most
/// [`HOLD_BUFFER_RESERVE`].
fn hold_buffer_size(budget: HoldBudget, stats: &OnlineStats) -> usize {
    let docs = match budget {
        HoldBudget::Docs { paced, .. } => paced.saturating_mul(3),
        HoldBudget::Unlimited => return 0,
    };
    let per_doc = match stats.docs_replayed_unlocked {
        0 => 4096,
        n => 2 * stats.bytes_replayed_unlocked / n,
    };
    usize::try_from(docs.saturating_mul(per_doc))
        .map_or(HOLD_BUFFER_RESERVE, |b| b.min(HOLD_BUFFER_RESERVE))
}

/// Cores this process may run on (1 when the OS does not tell).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Opens the source at its newest header (under the lock, so no commit is half
/// visible) and creates the target for it.
fn open_files(
    files: &mut OnlineFiles<'_>,
    target_path: &Path,
    o: &mut OnlineOptions<'_>,
) -> Result<(Db, Db, TargetFile)> {
    let src = {
        let _guard = locked(&mut o.lock, &mut o.unlock);
        (files.open_source)()?
    };
    let target_options = target_open_options(&src, o.flags);
    let (target, target_file) = match files.open_target.as_mut() {
        Some(open) => TargetFile::create_with(target_path, target_options, open)?,
        None => TargetFile::create(target_path, target_options)?,
    };
    Ok((src, target, target_file))
}

/// What the paced and final rounds carry from hold to hold.
struct Rounds {
    /// The source's sequence number the target has replayed through.
    replayed_seq: u64,
    /// Where pacing started, for the flusher's rate while paced.
    paced_from: u64,
    pacing_started: Instant,
    /// The source's newest sequence number at the last hold.
    last_end_seq: Option<u64>,
    /// How fast replays ran under the lock.
    rate: ReplayRate,
    /// What the flusher committed between the last two holds.
    last_added: Option<u64>,
    /// How the holds replay, with buffers every hold fills again.
    replayer: Replayer,
}

impl Rounds {
    /// Under the lock: what the source holds now and what this hold does with it. Also
    /// records what the flusher committed since the last hold (one commit, with a fair
    /// lock). Returns the newest header's position and sequence number, and the decision.
    fn decide(
        &mut self,
        src: &mut Db,
        stats: &mut OnlineStats,
        budget: HoldBudget,
        finish_within: Option<u32>,
    ) -> Result<(u64, u64, Hold)> {
        let (end_pos, end) = newest_not_below(src, self.replayed_seq)?;
        let added = self.last_end_seq.map(|s| end.update_seq.saturating_sub(s));
        self.last_added = added;
        stats.most_docs_added_between_holds =
            stats.most_docs_added_between_holds.max(added.unwrap_or(0));
        let decision = next_hold(HoldState {
            backlog: end.update_seq.saturating_sub(self.replayed_seq),
            added,
            budget,
            paced_rounds: stats.paced_rounds,
            finish_within,
        });
        Ok((end_pos, end.update_seq, decision))
    }

    /// Whether the next hold is most likely the final: the last paced hold drained the
    /// backlog, or [`next_hold`] would decide so for what it left plus one more commit
    /// of the last one's size.
    fn next_likely_final(
        &self,
        budget: HoldBudget,
        paced_rounds: u32,
        finish_within: Option<u32>,
    ) -> bool {
        let Some(end) = self.last_end_seq else {
            return false;
        };
        let left = end.saturating_sub(self.replayed_seq);
        let Some(added) = self.last_added else {
            return left == 0;
        };
        if left == 0 {
            return true;
        }
        next_hold(HoldState {
            backlog: left + added,
            added: Some(added),
            budget,
            paced_rounds,
            finish_within,
        }) == Hold::Final
    }

    /// Puts the source handle at the follower's anchor, which the target holds exactly
    /// (commits confirmed from the writers' events move it on without the handle).
    fn align(&mut self, src: &mut Db, f: &Follower) -> Result<()> {
        f.seek_to_anchor(src)?;
        if let Some(anchor) = f.anchor() {
            self.replayed_seq = anchor.seq;
        }
        Ok(())
    }

    /// After the final round: how long pacing lasted and the flusher's rate meanwhile.
    fn finish_pacing(&self, stats: &mut OnlineStats, end_seq: u64) {
        if stats.paced_rounds > 0 {
            stats.pacing = self.pacing_started.elapsed();
            stats.flusher_docs_per_sec_paced =
                per_sec(end_seq.saturating_sub(self.paced_from), stats.pacing);
        }
    }
}

/// Under the lock: replays the last delta and commits the target (everything before
/// that delta made durable first), reporting the switch that follows.
fn final_round(
    src: &mut Db,
    target: &RefCell<Db>,
    end_pos: u64,
    progress: &mut Option<ProgressHook<'_>>,
    rounds: &mut Rounds,
    stats: &mut OnlineStats,
) -> Result<ReplayStats> {
    let started = Instant::now();
    let span = Span {
        after_seq: Some(rounds.replayed_seq),
        max_docs: None,
    };
    let r = rounds
        .replayer
        .step(src, target, end_pos, Phase::FinalReplay, progress, span)?;
    // Commits applied from the writers' events brought no local documents nor purge
    // sequence: those of the end header (where the source now is) are carried over.
    replay::sync_locals(src, target)?;
    {
        let mut t = target.borrow_mut();
        let h = t.header_mut()?;
        h.purge_seq = h.purge_seq.max(src.header().purge_seq);
    }
    stats.final_replay = started.elapsed();
    let commit_started = Instant::now();
    if target.borrow().has_uncommitted() {
        // The source is at the end header now: the target takes its timestamp.
        let timestamp = src.header().timestamp;
        target.borrow_mut().commit_unpublished(timestamp)?;
    }
    stats.final_commit = commit_started.elapsed();
    if let Some(p) = progress.as_mut() {
        p(Progress {
            phase: Phase::Switching,
            docs: 0,
            bytes: 0,
        })?;
    }
    Ok(r)
}

/// Under the lock: replays at most `docs` documents of the backlog without
/// committing, and times it (the flusher is stopped: this is the rate the hold budget
/// is about). Returns the documents replayed.
fn paced_round(
    src: &mut Db,
    target: &RefCell<Db>,
    end_pos: u64,
    docs: u64,
    progress: &mut Option<ProgressHook<'_>>,
    rounds: &mut Rounds,
) -> Result<u64> {
    let round_started = Instant::now();
    let span = Span {
        after_seq: Some(rounds.replayed_seq),
        max_docs: Some(docs),
    };
    let r = rounds
        .replayer
        .step(src, target, end_pos, Phase::PacedReplay, progress, span)?;
    {
        let mut t = target.borrow_mut();
        t.set_literal_nodes(false)?;
        t.set_prefetch(false)?;
    }
    rounds.rate = ReplayRate {
        docs: r.docs,
        time: round_started.elapsed(),
    };
    rounds.replayed_seq = r.through_seq;
    Ok(r.docs)
}

/// Compacts the source's snapshot into the target, reporting progress as Compacting.
fn snapshot(
    src: &Db,
    target: &RefCell<Db>,
    o: &mut OnlineOptions<'_>,
    progress: &mut Option<ProgressHook<'_>>,
) -> Result<CompactStats> {
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
        rate_limit: o.rate_limit.clone(),
    };
    compact_into(src, target, options)
}

/// Catch-up rounds without the lock, while the backlog is over the thresholds and each
/// round shrinks it by more than a tenth (a round under the rate limit that does not
/// gets another chance without it).
fn catch_up(
    src: &mut Db,
    target: &RefCell<Db>,
    o: &OnlineOptions<'_>,
    progress: &mut Option<ProgressHook<'_>>,
    stats: &mut OnlineStats,
    rate: &mut ReplayRate,
    replayer: &mut Replayer,
) -> Result<()> {
    let mut last_backlog = u64::MAX;
    let mut limit = o.rate_limit.as_ref();
    loop {
        let held = src.header().update_seq;
        let (end_pos, end) = newest_not_below(src, held)?;
        let backlog_bytes = end_pos.saturating_sub(src.header_position());
        let backlog_docs = end.update_seq.saturating_sub(src.header().update_seq);
        let small = backlog_bytes <= o.max_locked_bytes && backlog_docs <= o.max_locked_docs;
        let stuck = stuck(backlog_docs, last_backlog);
        if stuck && limit.is_some() && stats.catch_up_rounds < o.max_rounds {
            // The flusher writes faster than the rate limit lets the compaction catch
            // up: under it the backlog only grows, and pacing would work it off one
            // hold at a time. The limit is lifted for the rest of this compaction.
            limit = None;
            stats.rate_limit_lifted = true;
            last_backlog = u64::MAX;
            continue;
        }
        if end_pos == src.header_position()
            || small
            || stuck
            || stats.catch_up_rounds >= o.max_rounds
        {
            return Ok(());
        }
        let round_started = Instant::now();
        let target_end = target.borrow().file()?.end();
        let r = replayer.step(
            src,
            target,
            end_pos,
            Phase::CatchingUp,
            progress,
            Span::default(),
        )?;
        rate.observe(r.docs, round_started.elapsed());
        last_backlog = backlog_docs;
        stats.catch_up_rounds += 1;
        stats.bytes_replayed_unlocked += r.source_bytes;
        stats.docs_replayed_unlocked += r.docs;
        // The round read the bodies (and the source's index entries for them) and
        // wrote them with the target's nodes: pause before the next one if that ran
        // ahead of the rate limit. (Not the source's bytes between the two headers:
        // most of those are what the flusher rewrote since, which replay skips.)
        let written = target.borrow().file()?.end().saturating_sub(target_end);
        rate_limit::charge(limit, r.body_bytes + written);
    }
}

/// The source's newest header and its position; DB_NO_LONGER_VALID when its update
/// sequence is below `held`, what the target already holds: a writer rolled the source
/// back below what was copied, and no replay takes documents out of the target.
fn newest_not_below(src: &mut Db, held: u64) -> Result<(u64, Header)> {
    let (pos, newest) = src.newest_header()?;
    if newest.update_seq < held {
        return Err(Error::DbNoLongerValid);
    }
    Ok((pos, newest))
}

/// A round that left at least 90% of the previous backlog: the flusher writes about as
/// fast as unlocked rounds replay, and only pacing it brings the backlog down.
pub(crate) fn stuck(backlog: u64, previous: u64) -> bool {
    backlog.saturating_mul(10) >= previous.saturating_mul(9)
}

fn per_sec(docs: u64, time: Duration) -> f64 {
    if time.is_zero() {
        0.0
    } else {
        docs as f64 / time.as_secs_f64()
    }
}

/// What one hold of the lock may replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HoldBudget {
    /// No pacing: the final round takes whatever is left.
    Unlimited,
    /// At most this many documents in a paced hold, and this many in the final one
    /// (which also commits and switches).
    Docs { paced: u64, last: u64 },
}

impl HoldBudget {
    /// The budget of the next hold: the explicit document budget, or what the time
    /// budget allows at the rate replays ran under the lock.
    fn of(o: &OnlineOptions<'_>, rate: &ReplayRate) -> HoldBudget {
        if let Some(docs) = o.max_docs_per_hold {
            let docs = docs.max(1);
            return HoldBudget::Docs {
                paced: docs,
                last: docs,
            };
        }
        if o.max_lock_hold.is_zero() {
            return HoldBudget::Unlimited;
        }
        let per_sec = rate.docs_per_sec().unwrap_or(FIRST_RATE);
        let budget = o.max_lock_hold.as_secs_f64();
        HoldBudget::Docs {
            paced: ((per_sec * budget * PACED_SHARE) as u64).max(1),
            last: ((per_sec * budget * FINAL_SHARE) as u64).max(1),
        }
    }
}

/// What the driver knows when it has just taken the lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HoldState {
    /// Documents committed and not yet replayed.
    pub backlog: u64,
    /// Documents the flusher committed since the previous hold (None before the first).
    pub added: Option<u64>,
    /// What a hold may replay.
    pub budget: HoldBudget,
    /// Paced rounds so far.
    pub paced_rounds: u32,
    /// The caller's "finish within N paced rounds, whatever the hold" (off by default).
    pub finish_within: Option<u32>,
}

/// What the driver does with the lock it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Replay the rest, commit and switch.
    Final,
    /// Replay this many documents and release the lock.
    Paced { docs: u64 },
}

/// The pacing decision (see the module documentation). Final when the backlog fits in
/// the final hold's budget, when nothing limits the hold, when the caller's round limit
/// is reached, or when the backlog is no more than the flusher's commit since the last
/// hold and that commit is more than the final hold may take (the final round cannot
/// take less than one commit). Otherwise a paced hold of
/// the budget's size, or, when the budget does not exceed the flusher's last commit, of
/// that commit and an eighth more, so the backlog still shrinks by that eighth.
pub(crate) fn next_hold(state: HoldState) -> Hold {
    let (paced, last) = match state.budget {
        HoldBudget::Unlimited => return Hold::Final,
        HoldBudget::Docs { paced, last } => (paced, last),
    };
    // Only when a commit alone is more than the final hold may take does the final
    // round settle for (a little over) one commit.
    let one_commit = state
        .added
        .is_some_and(|a| a > last && state.backlog <= a + a / 16);
    if state.backlog <= last
        || one_commit
        || state.finish_within.is_some_and(|n| state.paced_rounds >= n)
    {
        return Hold::Final;
    }
    // A budget that covers the flusher's commit is kept to (each cycle drains the
    // difference); one that does not cannot keep up, so the hold takes the commit and
    // an eighth more.
    let floor = match state.added {
        Some(a) if a >= paced => a + a / 8 + 1,
        _ => 0,
    };
    Hold::Paced {
        docs: paced.max(floor).min(state.backlog),
    }
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

/// Which part of the backlog a replay step covers.
#[derive(Debug, Default, Clone, Copy)]
struct Span {
    after_seq: Option<u64>,
    max_docs: Option<u64>,
}

/// How the driver replays: the caller's batch size, and buffers every step fills again
/// (see [`ReplayBuffers`]).
#[derive(Debug, Default)]
struct Replayer {
    flush_threshold: usize,
    buffers: ReplayBuffers,
}

impl Replayer {
    /// Replays `span` of what lies between the source's current header and `end_pos`
    /// into the target without committing, reporting progress as `phase`.
    fn step(
        &mut self,
        src: &mut Db,
        target: &RefCell<Db>,
        end_pos: u64,
        phase: Phase,
        progress: &mut Option<ProgressHook<'_>>,
        span: Span,
    ) -> Result<ReplayStats> {
        // The target must hold nothing past where the replay starts: a document it
        // holds, replayed again with its own sequence, would leave the by-seq index
        // (the save removes its old entry, which is the new one). A source whose newest
        // header went back below what was copied (a writer rolled it back) ends here.
        let start = span.after_seq.unwrap_or(src.header().update_seq);
        if target.borrow().header().update_seq > start {
            return Err(Error::DbNoLongerValid);
        }
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
        replay::replay(
            src,
            target,
            end_pos,
            ReplayOptions {
                flush_threshold: self.flush_threshold,
                progress: report,
                // No step commits: the final round commits the target itself, after
                // its replay, once what it wrote is out.
                skip_commit: true,
                after_seq: span.after_seq,
                max_docs: span.max_docs,
                buffers: Some(&mut self.buffers),
                ..Default::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(backlog: u64, added: Option<u64>, paced: u64) -> HoldState {
        HoldState {
            backlog,
            added,
            budget: HoldBudget::Docs { paced, last: paced },
            paced_rounds: 0,
            finish_within: None,
        }
    }

    #[test]
    fn final_when_the_backlog_fits_or_is_one_commit() {
        assert_eq!(next_hold(state(500, None, 500)), Hold::Final);
        assert_eq!(next_hold(state(501, None, 500)), Hold::Paced { docs: 500 });
        // One commit of the flusher is the least a final round can take.
        assert_eq!(next_hold(state(2000, Some(2000), 500)), Hold::Final);
        assert_eq!(next_hold(state(2100, Some(2000), 500)), Hold::Final);
        assert_ne!(next_hold(state(2200, Some(2000), 500)), Hold::Final);
        // A commit the budget covers: paced holds drain the rest first.
        assert_eq!(
            next_hold(state(520, Some(500), 510)),
            Hold::Paced { docs: 510 }
        );
        let unlimited = HoldState {
            budget: HoldBudget::Unlimited,
            ..state(1 << 40, None, 0)
        };
        assert_eq!(next_hold(unlimited), Hold::Final);
        let limited = HoldState {
            paced_rounds: 7,
            finish_within: Some(7),
            ..state(1 << 40, Some(10), 100)
        };
        assert_eq!(next_hold(limited), Hold::Final);
    }

    #[test]
    fn paced_holds_keep_to_the_budget_unless_one_commit_exceeds_it() {
        assert_eq!(
            next_hold(state(10_000, Some(200), 500)),
            Hold::Paced { docs: 500 }
        );
        // A commit larger than the budget: a little more than that commit.
        assert_eq!(
            next_hold(state(10_000, Some(800), 500)),
            Hold::Paced { docs: 901 }
        );
        assert_eq!(
            next_hold(state(600, Some(10), 500)),
            Hold::Paced { docs: 500 }
        );
    }

    /// The flusher adds `commit` documents between holds (a fair lock): every hold keeps
    /// to the budget when a commit fits in it, the backlog shrinks every cycle, and the
    /// final round comes within backlog / (budget - commit) cycles.
    #[test]
    fn pacing_converges_within_a_bound_set_by_the_speeds() {
        for (commit, budget, start) in [
            (200u64, 500u64, 50_000u64),
            (1000, 1001, 20_000),
            (800, 500, 30_000),
        ] {
            let mut backlog = start;
            let mut added = None;
            let mut cycles = 0u64;
            let mut largest = 0;
            loop {
                match next_hold(state(backlog, added, budget)) {
                    Hold::Final => {
                        largest = largest.max(backlog);
                        break;
                    }
                    Hold::Paced { docs } => {
                        let before = backlog;
                        backlog -= docs.min(backlog);
                        largest = largest.max(docs);
                        backlog += commit;
                        // Once the driver has seen a commit, every cycle shrinks it.
                        assert!(added.is_none() || backlog < before, "the backlog shrinks");
                        added = Some(commit);
                    }
                }
                cycles += 1;
                assert!(cycles < 1_000_000);
            }
            let per_cycle = if budget > commit {
                budget - commit
            } else {
                commit / 8 + 1
            };
            assert!(
                cycles <= (start + commit) / per_cycle + 2,
                "{commit} {budget}: {cycles} cycles"
            );
            if commit <= budget {
                assert!(largest <= budget, "{commit} {budget}: a hold of {largest}");
            } else {
                assert!(largest <= commit + commit / 8 + 1);
            }
        }
    }

    #[test]
    fn stuck_means_less_than_a_tenth_shrunk() {
        assert!(stuck(95, 100));
        assert!(stuck(90, 100));
        assert!(!stuck(89, 100));
        assert!(!stuck(1000, u64::MAX));
    }

    fn rounds(replayed_seq: u64, last_end_seq: u64, last_added: u64) -> Rounds {
        Rounds {
            replayed_seq,
            paced_from: 0,
            pacing_started: Instant::now(),
            last_end_seq: Some(last_end_seq),
            rate: ReplayRate::default(),
            last_added: Some(last_added),
            replayer: Replayer::default(),
        }
    }

    #[test]
    fn the_write_out_is_made_durable_before_a_likely_final_hold() {
        let budget = HoldBudget::Docs {
            paced: 1300,
            last: 800,
        };
        let likely = |r: Rounds| r.next_likely_final(budget, 3, None);
        // Drained: the next hold finds one commit, which ends it.
        assert!(likely(rounds(5000, 5000, 1000)));
        // 30 left and another commit of 1000: a final round of (a little over) one.
        assert!(likely(rounds(4970, 5000, 1000)));
        // 300 left: the next hold is paced, its write-out need not wait.
        assert!(!likely(rounds(4700, 5000, 1000)));
        // Small commits: what is left and the next fit in the final budget.
        assert!(likely(rounds(4600, 5000, 300)));
        assert!(!likely(rounds(4400, 5000, 300)));
        // The caller's round limit makes the next hold the final.
        assert!(rounds(0, 5000, 1000).next_likely_final(budget, 3, Some(3)));
        // Before the first hold nothing is known.
        let first = Rounds {
            last_end_seq: None,
            last_added: None,
            ..rounds(0, 0, 0)
        };
        assert!(!first.next_likely_final(budget, 0, None));
    }
}
