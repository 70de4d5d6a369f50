//! Point-in-time compaction (the original's PiTR) and replay by intervals: instead of
//! one header, the compacted file keeps one header per interval of commit timestamps
//! since a point in time, so it can still be rewound to any interval within that window.

use std::cell::RefCell;

use super::replay::{PreCopyHook, ReplayOptions, replay};
use super::{CompactOptions, CompactStats, PrecommitHook, compact_into};
use crate::db::{Db, DocInfo, LocalDoc, next_boundary};
use crate::error::{Error, Result};

/// Told of the point a step has reached; an error aborts.
pub type StepHook<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

/// What a point-in-time compaction keeps, and its hooks.
#[derive(Default)]
pub struct PointInTime<'a> {
    /// The oldest commit time to keep: the full compaction copies the source as of its
    /// oldest header with a timestamp at or after this.
    pub timestamp: u64,
    /// The interval of timestamps within which later headers are folded into one.
    pub delta: u64,
    /// Called with the source at the header the full compaction copies (the source's
    /// handle is free for the hook to read).
    pub pre_compaction: Option<StepHook<'a>>,
    /// Called after the full compaction, with the target committed.
    pub post_compaction: Option<StepHook<'a>>,
    /// Called before the replay copies each document or local document.
    pub pre_copy: Option<PreCopyHook<'a>>,
    /// Called before each commit of the replay.
    pub replay_precommit: Option<PrecommitHook<'a>>,
}

/// Compacts `source` into `target` (a database just created for it) keeping the
/// history since `pit.timestamp`, one header per `pit.delta` interval, and leaves the
/// source at the header it started at. If the source's current header is older than
/// the point in time, this is a plain compaction. The source is borrowed only between
/// hooks, so hooks may read through its handle.
pub fn compact_point_in_time(
    source: &RefCell<Db>,
    target: &RefCell<Db>,
    options: CompactOptions<'_>,
    mut pit: PointInTime<'_>,
) -> Result<CompactStats> {
    if pit.delta == 0 {
        return Err(Error::InvalidArguments);
    }
    let (end_pos, end_time) = {
        let s = source.borrow();
        (s.header_position(), s.header().timestamp)
    };
    if end_time <= pit.timestamp {
        if let Some(hook) = pit.pre_compaction.as_mut() {
            hook()?;
        }
        return compact_into(&source.borrow(), target, options);
    }
    let start = oldest_header_since(&source.borrow(), pit.timestamp)?;
    source.borrow_mut().seek_header(start)?;
    let result = (|| {
        if let Some(hook) = pit.pre_compaction.as_mut() {
            hook()?;
        }
        let stats = compact_into(&source.borrow(), target, options)?;
        if let Some(hook) = pit.post_compaction.as_mut() {
            hook()?;
        }
        replay_intervals(
            &mut source.borrow_mut(),
            target,
            pit.delta,
            end_pos,
            pit.pre_copy.as_mut(),
            pit.replay_precommit.as_mut(),
        )?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = source.borrow_mut().seek_header(end_pos);
    }
    result
}

/// The position of the oldest header, walking back from the handle's current one, whose
/// timestamp is at or after `timestamp` (stopping at the first older one).
fn oldest_header_since(db: &Db, timestamp: u64) -> Result<u64> {
    let file = db.file()?;
    let mut oldest = db.header_position();
    while oldest > 0 {
        match file.find_header_at_or_before(oldest - 1) {
            Ok(prev) if prev.header.timestamp >= timestamp => oldest = prev.pos,
            Ok(_) => break,
            Err(e) if e == Error::NoHeader => break,
            Err(e) => return Err(e),
        }
    }
    Ok(oldest)
}

/// Replays into `target` what changed in `source` from its current header up to the
/// header at `end_pos`, committing once per `delta` interval of header timestamps: the
/// last header before each interval's end (or the first in it, when nothing came
/// before it), and the end header; each commit carries its header's timestamp. The
/// source is left at the end header.
pub fn replay_intervals(
    source: &mut Db,
    target: &RefCell<Db>,
    delta: u64,
    end_pos: u64,
    mut pre_copy: Option<&mut PreCopyHook<'_>>,
    mut precommit: Option<&mut PrecommitHook<'_>>,
) -> Result<()> {
    if delta == 0 || end_pos < source.header_position() {
        return Err(Error::InvalidArguments);
    }
    // The end header must exist (it may lie beyond the size the handle knew).
    let start = source.header_position();
    source.seek_header(end_pos)?;
    source.seek_header(start)?;
    let mut next = next_boundary(source.header().timestamp, delta);
    loop {
        let (pos, timestamp) = header_to_keep(source, end_pos, next)?;
        let options = ReplayOptions {
            pre_copy: pre_copy.as_mut().map(|hook| {
                Box::new(|info: Option<&DocInfo>, local: Option<&LocalDoc>| hook(info, local))
                    as PreCopyHook<'_>
            }),
            precommit: precommit
                .as_mut()
                .map(|hook| Box::new(hook) as PrecommitHook<'_>),
            ..Default::default()
        };
        replay(source, target, pos, options)?;
        if pos == end_pos {
            return Ok(());
        }
        next = next_boundary(timestamp, delta);
    }
}

/// The header the next commit of [`replay_intervals`] replays to: walking forward from
/// the current header, the last one before `next` (the end of the current interval) or,
/// when the first one after the current header is already past `next`, that one; never
/// beyond `end_pos`.
fn header_to_keep(source: &Db, end_pos: u64, next: u64) -> Result<(u64, u64)> {
    let file = source.file()?;
    let start = source.header_position();
    let mut chosen = (start, source.header().timestamp);
    loop {
        let found = match file.find_header_after(chosen.0) {
            Ok(found) if found.pos <= end_pos => found,
            Ok(_) => break,
            Err(e) if e == Error::NoHeader => break,
            Err(e) => return Err(e),
        };
        let here = (found.pos, found.header.timestamp);
        if here.1 < next {
            chosen = here;
        } else if here.1 > next && chosen.0 != start {
            break;
        } else {
            return Ok(here);
        }
    }
    if chosen.0 == start && start != end_pos {
        // Nothing between the current header and the end one: go to the end.
        let end = file.read_header_at(end_pos)?;
        return Ok((end_pos, end.timestamp));
    }
    Ok(chosen)
}
