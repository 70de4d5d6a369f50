//! Replay: copying into a target what changed in the source between the source
//! handle's current header and a later header. With a target compacted from the start
//! header, the result holds what compacting the source at the end header would,
//! document for document.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::PrecommitHook;
use crate::btree::{KeyRange, Step, iterate};
use crate::db::{Db, DocInfo, LocalDoc};
use crate::error::{Error, Result};
use crate::file::{CouchFile, ReadAhead};
use crate::format::{Header, by_seq};

/// Called before each document is copied: with its doc info, or (for a local document,
/// saved or deleted) with the local document. An error aborts the replay.
pub type PreCopyHook<'a> = Box<dyn FnMut(Option<&DocInfo>, Option<&LocalDoc>) -> Result<()> + 'a>;
/// Called between batches with the replay's running totals; an error (e.g. CANCEL)
/// aborts.
pub type ReplayProgress<'a> = Box<dyn FnMut(&ReplayStats) -> Result<()> + 'a>;

/// Default memory (doc infos) buffered before a batch is saved into the target's trees.
/// Bodies are not buffered (they go to the target file at once), so this only bounds the
/// batch's index entries; the larger a batch, the fewer times each leaf is rewritten.
pub const DEFAULT_FLUSH_THRESHOLD: usize = 16 * 1024 * 1024;

/// How to replay.
#[derive(Default)]
pub struct ReplayOptions<'a> {
    /// Memory of buffered doc infos before the target's trees are updated (0: the
    /// default).
    pub flush_threshold: usize,
    /// Before each document.
    pub pre_copy: Option<PreCopyHook<'a>>,
    /// Before the target's commit.
    pub precommit: Option<PrecommitHook<'a>>,
    /// Between batches.
    pub progress: Option<ReplayProgress<'a>>,
    /// Leave the target uncommitted (a later replay or commit writes its header). The
    /// online driver's catch-up rounds do this: only the final round pays for fsyncs.
    pub skip_commit: bool,
    /// Replay the documents with sequences above this one instead of above the source's
    /// current header's: for a target that already holds part of what follows that
    /// header (an earlier replay stopped by `max_docs`).
    pub after_seq: Option<u64>,
    /// Stop after this many documents: the target then holds the end header's documents
    /// up to [`ReplayStats::through_seq`], not a snapshot of any one header, so a later
    /// replay must complete it (with `after_seq`) before it is used.
    pub max_docs: Option<u64>,
    /// The target is not in use until the caller switches to it after the replay (the
    /// online driver's final round): commit it with one fsync instead of two.
    pub unpublished_target: bool,
    /// Buffers kept from an earlier replay (see [`ReplayBuffers`]); None: fresh ones.
    pub buffers: Option<&'a mut ReplayBuffers>,
}

/// What a replay allocates, kept for the next one: the batch's doc infos (two buffers
/// each, filled again in place), the body being copied and the window read ahead of it.
/// The online driver replays each hold into the same buffers, so a hold under the
/// engine's lock allocates almost nothing: a fresh batch of 1000 documents made 2000
/// small allocations and one window of 256 KiB, faulted in and zeroed, every hold.
#[derive(Debug, Default)]
pub struct ReplayBuffers {
    infos: Vec<DocInfo>,
    body: Vec<u8>,
    ahead: ReadAhead,
}

impl ReplayBuffers {
    /// Lets go of doc infos beyond the first `keep` (a catch-up round's batch can hold
    /// a hundred thousand; a hold's, about one flusher commit).
    pub fn trim(&mut self, keep: usize) {
        self.infos.truncate(keep);
        self.infos.shrink_to(keep);
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Documents and deletions copied.
    pub docs: u64,
    /// Local documents saved.
    pub locals_saved: u64,
    /// Local documents deleted (present at the start header, gone at the end).
    pub locals_deleted: u64,
    /// Body bytes copied (as stored).
    pub body_bytes: u64,
    /// Source bytes between the two headers.
    pub source_bytes: u64,
    /// The target holds every document of the end header with a sequence up to this
    /// one (the end header's update_seq unless `max_docs` stopped the replay early).
    pub through_seq: u64,
}

/// Copies into `target` every change between `source`'s current header and the header
/// at `end_header` (which must not be older), then (unless `skip_commit`) commits the
/// target with the end header's timestamp. `source` is left at the end header. Local documents come first:
/// those present at the end header are saved, those deleted since the start header are
/// deleted. Then every document and deletion with a sequence above the start header's,
/// bodies copied as stored, sequences kept, in batches of `flush_threshold` bytes of doc
/// infos. The
/// purge sequence is carried over.
pub fn replay(
    source: &mut Db,
    target: &RefCell<Db>,
    end_header: u64,
    mut options: ReplayOptions<'_>,
) -> Result<ReplayStats> {
    let start_pos = source.header_position();
    let start_seq = options.after_seq.unwrap_or(source.header().update_seq);
    if end_header < start_pos {
        return Err(Error::InvalidArguments);
    }
    let mut stats = ReplayStats {
        source_bytes: end_header - start_pos,
        through_seq: source.header().update_seq.max(start_seq),
        ..Default::default()
    };
    if end_header == start_pos && start_seq >= source.header().update_seq {
        return Ok(stats);
    }
    let threshold = match options.flush_threshold {
        0 => DEFAULT_FLUSH_THRESHOLD,
        n => n,
    };
    let start_locals = local_ids(source)?;
    source.seek_header(end_header)?;
    let end = source.header().clone();
    let file = source.file()?;

    replay_locals(file, &end, &start_locals, target, &mut options, &mut stats)?;
    let last_seq = replay_changes(
        file,
        &end,
        start_seq,
        threshold,
        target,
        &mut options,
        &mut stats,
    )?;
    {
        let mut t = target.borrow_mut();
        stats.through_seq = last_seq;
        let h = t.header_mut()?;
        h.purge_seq = h.purge_seq.max(end.purge_seq);
    }
    if let Some(progress) = options.progress.as_mut() {
        progress(&stats)?;
    }
    if options.skip_commit {
        return Ok(stats);
    }
    if let Some(precommit) = options.precommit.as_mut() {
        precommit()?;
    }
    if options.unpublished_target {
        target.borrow_mut().commit_unpublished(end.timestamp)?;
    } else {
        target.borrow_mut().commit_with_timestamp(end.timestamp)?;
    }
    Ok(stats)
}

/// Copies the end header's local documents and deletes those gone since the start.
fn replay_locals(
    file: &CouchFile,
    end: &Header,
    start_locals: &BTreeSet<Vec<u8>>,
    target: &RefCell<Db>,
    options: &mut ReplayOptions<'_>,
    stats: &mut ReplayStats,
) -> Result<()> {
    let mut end_locals = BTreeSet::new();
    iterate(
        file,
        end.local_root.as_ref(),
        file.end(),
        KeyRange::ALL,
        None,
        &mut |k, v| {
            let doc = LocalDoc {
                id: k.to_vec(),
                json: v.to_vec(),
                deleted: false,
            };
            if let Some(hook) = options.pre_copy.as_mut() {
                hook(None, Some(&doc))?;
            }
            target.borrow_mut().save_local_document(&doc)?;
            end_locals.insert(doc.id);
            stats.locals_saved += 1;
            Ok(Step::Continue)
        },
    )?;
    for id in start_locals.difference(&end_locals) {
        let doc = LocalDoc {
            id: id.clone(),
            json: Vec::new(),
            deleted: true,
        };
        if let Some(hook) = options.pre_copy.as_mut() {
            hook(None, Some(&doc))?;
        }
        target.borrow_mut().save_local_document(&doc)?;
        stats.locals_deleted += 1;
    }
    Ok(())
}

/// Copies the documents changed after `start_seq`, in sequence order (at most
/// `options.max_docs`), saving them to the target in batches of about `threshold`
/// bytes. Returns the sequence number the target covers.
fn replay_changes(
    file: &CouchFile,
    end: &Header,
    start_seq: u64,
    threshold: usize,
    target: &RefCell<Db>,
    options: &mut ReplayOptions<'_>,
    stats: &mut ReplayStats,
) -> Result<u64> {
    let mut fresh = ReplayBuffers::default();
    let ReplayBuffers {
        infos: batch,
        body,
        ahead,
    } = options.buffers.take().unwrap_or(&mut fresh);
    // Entries of `batch` beyond `filled` are kept from an earlier batch, to be filled
    // again in place.
    let mut filled = 0usize;
    let mut batch_bytes = 0usize;
    // The bodies of one commit lie together, in sequence order: they are read in
    // windows (`ahead`).
    let from = by_seq::encode_key(start_seq + 1);
    let max_docs = options.max_docs.unwrap_or(u64::MAX);
    let mut last_seq = start_seq;
    let mut stopped = false;
    iterate(
        file,
        end.by_seq_root.as_ref(),
        file.end(),
        KeyRange::from(&from),
        None,
        &mut |k, v| {
            if stats.docs >= max_docs {
                stopped = true;
                return Ok(Step::Stop);
            }
            if filled == batch.len() {
                batch.push(DocInfo::default());
            }
            let info = &mut batch[filled];
            info.set_from_by_seq(k, v)?;
            last_seq = info.db_seq;
            if let Some(hook) = options.pre_copy.as_mut() {
                hook(Some(info), None)?;
            }
            // The body is copied when the batch is saved (`info.bp` is the source's
            // until then); it counts towards the batch all the same.
            batch_bytes += info.physical_size as usize + info.id.len() + info.rev_meta.len() + 64;
            filled += 1;
            stats.docs += 1;
            if batch_bytes >= threshold {
                save_batch(file, target, &mut batch[..filled], 0, ahead, body, stats)?;
                filled = 0;
                batch_bytes = 0;
                if let Some(progress) = options.progress.as_mut() {
                    progress(stats)?;
                }
            }
            Ok(Step::Continue)
        },
    )?;
    // Stopped early, the target covers the sequences up to the last document copied;
    // otherwise everything up to the end header.
    if !stopped {
        last_seq = end.update_seq;
    }
    save_batch(
        file,
        target,
        &mut batch[..filled],
        last_seq,
        ahead,
        body,
        stats,
    )?;
    Ok(last_seq)
}

/// Saves a batch of doc infos read from the source's by-seq tree into the target,
/// copying their bodies first: while they are copied, the target's prefetcher (when
/// on) is already reading the nodes the batch rewrites.
fn save_batch(
    file: &CouchFile,
    target: &RefCell<Db>,
    batch: &mut [DocInfo],
    update_seq: u64,
    ahead: &mut ReadAhead,
    body: &mut Vec<u8>,
    stats: &mut ReplayStats,
) -> Result<()> {
    let mut copy = |out: &mut CouchFile, infos: &mut [DocInfo]| -> Result<()> {
        for info in infos.iter_mut().filter(|i| i.bp != 0) {
            let sum = file.read_chunk_ahead(ahead, info.bp, body)?;
            info.bp = out.append_copy(body, sum)?.pos;
            stats.body_bytes += body.len() as u64;
        }
        Ok(())
    };
    target
        .borrow_mut()
        .save_copied_entries(batch, update_seq, &mut copy)
}

/// Makes the target's local documents those of `source`'s current header: saves those
/// missing or different, deletes those the source does not have. The online driver's
/// final round does this: commits applied from the writers' events carry no local
/// documents, so the target's may lag any start header's. Returns (saved, deleted).
pub(crate) fn sync_locals(source: &Db, target: &RefCell<Db>) -> Result<(u64, u64)> {
    let wanted = local_docs(source)?;
    let held = local_docs(&target.borrow())?;
    let mut changes: Vec<LocalDoc> = wanted
        .iter()
        .filter(|(id, json)| held.get(*id) != Some(json))
        .map(|(id, json)| LocalDoc {
            id: id.clone(),
            json: json.clone(),
            deleted: false,
        })
        .collect();
    let saved = changes.len() as u64;
    changes.extend(
        held.keys()
            .filter(|id| !wanted.contains_key(*id))
            .map(|id| LocalDoc {
                id: id.clone(),
                json: Vec::new(),
                deleted: true,
            }),
    );
    let deleted = changes.len() as u64 - saved;
    if !changes.is_empty() {
        target.borrow_mut().save_local_documents(&changes)?;
    }
    Ok((saved, deleted))
}

/// The local documents at the handle's current header (uncommitted changes included).
fn local_docs(db: &Db) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut docs = BTreeMap::new();
    for_each_local(db, |id, json| {
        docs.insert(id.to_vec(), json.to_vec());
    })?;
    Ok(docs)
}

/// The ids of the local documents at the handle's current header.
fn local_ids(db: &Db) -> Result<BTreeSet<Vec<u8>>> {
    let mut ids = BTreeSet::new();
    for_each_local(db, |id, _| {
        ids.insert(id.to_vec());
    })?;
    Ok(ids)
}

/// Calls `f` with each local document's id and JSON at the handle's current header.
fn for_each_local(db: &Db, mut f: impl FnMut(&[u8], &[u8])) -> Result<()> {
    let file = db.file()?;
    iterate(
        file,
        db.header().local_root.as_ref(),
        file.end(),
        KeyRange::ALL,
        None,
        &mut |k, v| {
            f(k, v);
            Ok(Step::Continue)
        },
    )
}
