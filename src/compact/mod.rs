//! Compaction: writing the live data of a database, as of its current header, into a
//! new file. Bodies are copied as stored; the by-seq tree is built bottom-up from the
//! sequence-ordered scan, the by-id tree from an id-sorted stream that spills to disk
//! beyond a memory bound, and the local tree from its own ordered scan.

#![forbid(unsafe_code)]

mod compactor;
mod follow;
pub mod id_sorter;
pub mod online;
pub mod pitr;
pub mod rate_limit;
pub mod replay;
pub mod target;

use std::cell::RefCell;
use std::path::Path;

use crate::btree::{KeyRange, LocalReducer, SkipLog, Step, TreeBuilder, iterate};
use crate::db::{Db, DocInfo, OpenOptions};
use crate::error::{Error, Result};
use crate::format::FormatVersion;
use compactor::Compactor;
use target::TargetFile;

/// Which of the original's compaction behaviours to use (its compaction flags, as
/// Rust values; `capi` maps the C bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactFlags {
    /// Drop deletions (when no filter hook is given); the purge counter is bumped.
    pub drop_deletes: bool,
    /// Write the target in the current format (a format-11 source otherwise stays 11).
    pub upgrade: bool,
    /// Write the target without buffering.
    pub unbuffered: bool,
    /// Skip unreadable nodes and documents, copying everything readable.
    pub recovery: bool,
    /// fsync the target after every this many bytes written.
    pub periodic_sync: Option<u64>,
}

/// What a filter hook decides for a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    /// Copy it.
    Keep,
    /// Leave it out.
    Drop,
    /// Call the hook again with the document's body (as stored).
    NeedBody,
}

/// Told of each document (with its body once asked for), then once more with `None`
/// after the last. An error aborts the compaction with that error.
pub type FilterHook<'a> =
    Box<dyn FnMut(Option<&DocInfo>, Option<&[u8]>) -> Result<FilterAction> + 'a>;
/// May rewrite a kept document's doc info (given its body as stored); returns whether
/// it changed anything. Needs a filter hook, as in the original.
pub type RewriteHook<'a> = Box<dyn FnMut(&mut DocInfo, &[u8]) -> Result<bool> + 'a>;
/// Called after everything is copied, before the target's header is written.
pub type PrecommitHook<'a> = Box<dyn FnMut() -> Result<()> + 'a>;
/// Told of progress every few hundred documents; an error (e.g. CANCEL) aborts.
pub type ProgressHook<'a> = Box<dyn FnMut(&CompactStats) -> Result<()> + 'a>;

/// How to compact.
#[derive(Default)]
pub struct CompactOptions<'a> {
    /// Which behaviours to use.
    pub flags: CompactFlags,
    /// Decides per document whether to keep it.
    pub filter: Option<FilterHook<'a>>,
    /// Rewrites doc infos of kept documents.
    pub rewrite: Option<RewriteHook<'a>>,
    /// Runs before the target's header is written.
    pub precommit: Option<PrecommitHook<'a>>,
    /// Progress and cancellation.
    pub progress: Option<ProgressHook<'a>>,
    /// Memory bound of the by-id sort before it spills to disk (0: the default).
    pub id_sort_memory: usize,
    /// A limit on the bytes per second the compaction reads and writes, possibly shared
    /// with other compactions (None, the default: as fast as it can).
    pub rate_limit: Option<rate_limit::RateLimit>,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Documents (and kept deletions) copied.
    pub docs_copied: u64,
    /// Documents the filter hook dropped.
    pub docs_dropped: u64,
    /// Deletions dropped by DROP_DELETES.
    pub deletes_dropped: u64,
    /// Body bytes copied (as stored).
    pub body_bytes: u64,
    /// Documents skipped in RECOVERY_MODE because they could not be read.
    pub docs_skipped: u64,
    /// Tree nodes skipped in RECOVERY_MODE (with the documents below them).
    pub nodes_skipped: u64,
    /// Sorted runs the by-id sort spilled to disk.
    pub id_runs_spilled: u64,
    /// In RECOVERY_MODE: the first read error tolerated (the target is complete but
    /// for what could not be read).
    pub tolerated_error: Option<Error>,
}

/// How often the progress hook is called, in documents.
const PROGRESS_EVERY: u64 = 512;

/// How a compaction target for `source` is opened with compaction `flags`: created
/// (see [`target::TargetFile`]) without an initial header, with the source's node
/// sizes, the legacy CRC when the source has it and no upgrade is asked for, and the
/// sync options.
pub fn target_open_options(source: &Db, flags: CompactFlags) -> OpenOptions {
    OpenOptions {
        create: true,
        no_commit_at_create: true,
        legacy_crc: source.header().version <= FormatVersion::V11 && !flags.upgrade,
        unbuffered: flags.unbuffered,
        periodic_sync: flags.periodic_sync,
        node_sizes: source.node_sizes(),
        ..OpenOptions::default()
    }
}

/// Compacts `source` (at its current header) into a new file at `target_path`, which
/// must not exist or be an empty file; any other file there is OPEN_FILE and left alone.
/// On any error the target is put back as it was found (see [`target::TargetFile`]) and
/// the source is untouched.
pub fn compact(
    source: &Db,
    target_path: &Path,
    options: CompactOptions<'_>,
) -> Result<CompactStats> {
    let (target, file) =
        TargetFile::create(target_path, target_open_options(source, options.flags))?;
    let target = RefCell::new(target);
    let result = compact_into(source, &target, options);
    drop(target);
    if result.is_ok() {
        file.keep();
    }
    result
}

/// Compacts `source` into `target`, a database just created for it (see
/// [`target_open_options`]), and commits it. The target is shared through a `RefCell`
/// so hooks may use it: no borrow of it is held while a hook runs.
pub fn compact_into(
    source: &Db,
    target: &RefCell<Db>,
    mut options: CompactOptions<'_>,
) -> Result<CompactStats> {
    if options.rewrite.is_some() && options.filter.is_none() {
        return Err(Error::InvalidArguments);
    }
    let recovery = options.flags.recovery;
    let src_file = source.file()?;
    let src_header = source.header().clone();
    start_target_header(&src_header, target, options.flags.drop_deletes)?;
    let mut skips = SkipLog::default();

    // 1. Documents, in sequence order: bodies and the by-seq tree; by-id entries sorted.
    let mut compactor = Compactor::new(source, target, &mut options)?;
    iterate(
        src_file,
        src_header.by_seq_root.as_ref(),
        src_file.end(),
        KeyRange::ALL,
        recovery.then_some(&mut skips),
        &mut |key, raw| compactor.copy(key, raw),
    )?;
    let (by_seq_root, by_id_root, mut stats) = compactor.finish()?;

    // 2. Local documents, in key order.
    let sizes = target.borrow().node_sizes();
    let mut local_tree = TreeBuilder::new(&LocalReducer, sizes);
    iterate(
        src_file,
        src_header.local_root.as_ref(),
        src_file.end(),
        KeyRange::ALL,
        recovery.then_some(&mut skips),
        &mut |k, v| {
            local_tree.add(target.borrow_mut().file_mut()?, k, v)?;
            Ok(Step::Continue)
        },
    )?;
    let local_root = local_tree.finish(target.borrow_mut().file_mut()?)?;
    stats.nodes_skipped = skips.skipped;
    if let Some(e) = skips.first_error {
        stats.tolerated_error.get_or_insert(e);
    }

    // 3. The header, the hooks' last word, and the commit.
    {
        let mut t = target.borrow_mut();
        let h = t.header_mut()?;
        h.by_seq_root = by_seq_root;
        h.by_id_root = by_id_root;
        h.local_root = local_root;
    }
    if let Some(filter) = options.filter.as_mut() {
        filter(None, None)?;
    }
    if let Some(progress) = options.progress.as_mut() {
        progress(&stats)?;
    }
    if let Some(precommit) = options.precommit.as_mut() {
        precommit()?;
    }
    target
        .borrow_mut()
        .commit_with_timestamp(src_header.timestamp)?;
    Ok(stats)
}

/// Gives the target's header the source's sequences before anything is copied: hooks
/// see them from the start (an engine's filter compares a tombstone's sequence with the
/// target's update_seq so it never purges the newest one).
fn start_target_header(
    src_header: &crate::format::header::Header,
    target: &RefCell<Db>,
    drop_deletes: bool,
) -> Result<()> {
    let mut t = target.borrow_mut();
    let h = t.header_mut()?;
    h.update_seq = src_header.update_seq;
    h.purge_seq = src_header.purge_seq + u64::from(drop_deletes);
    h.purge_ptr = src_header.purge_ptr;
    Ok(())
}
