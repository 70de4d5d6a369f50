//! [`Compactor`]: the per-document step of compaction. Each document of the source's
//! by-seq scan is filtered, its body copied as stored, its by-seq entry added to the
//! target's tree (built bottom-up in sequence order) and its by-id entry handed to the
//! spilling sort, from which the by-id tree is built at the end.

use std::cell::RefCell;
use std::path::Path;

use super::rate_limit::{self, RateLimit};
use super::{CompactOptions, CompactStats, FilterAction, PROGRESS_EVERY, id_sorter};
use crate::btree::{ByIdReducer, BySeqReducer, Step, TreeBuilder};
use crate::db::{Db, DocInfo};
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::NodePointer;
use crate::format::by_id::ByIdValue;
use crate::format::by_seq::{self, BySeqValue};
use id_sorter::IdSorter;

/// What the filter decided for one document, with its body if it was read for it.
enum Verdict {
    Keep { have_body: bool },
    Drop,
}

/// Copies documents from a source into a compaction target; see the module docs.
pub(super) struct Compactor<'s, 'o, 'h> {
    src_file: &'s CouchFile,
    target: &'s RefCell<Db>,
    options: &'o mut CompactOptions<'h>,
    recovery: bool,
    drop_deletes: bool,
    sorter: IdSorter,
    seq_tree: TreeBuilder<'static>,
    stats: CompactStats,
    body: Vec<u8>,
    value: Vec<u8>,
    info: DocInfo,
    rate_limit: Option<RateLimit>,
    /// The target's end when the rate limit was last charged.
    charged_end: u64,
}

impl<'s, 'o, 'h> Compactor<'s, 'o, 'h> {
    pub(super) fn new(
        source: &'s Db,
        target: &'s RefCell<Db>,
        options: &'o mut CompactOptions<'h>,
    ) -> Result<Self> {
        let memory = match options.id_sort_memory {
            0 => id_sorter::DEFAULT_MEMORY,
            n => n,
        };
        let (sorter, sizes, charged_end) = {
            let t = target.borrow();
            let sorter = IdSorter::new(Path::new(t.filename()), memory);
            (sorter, t.node_sizes(), t.file()?.end())
        };
        Ok(Compactor {
            src_file: source.file()?,
            target,
            recovery: options.flags.recovery,
            drop_deletes: options.flags.drop_deletes,
            rate_limit: options.rate_limit.clone(),
            options,
            sorter,
            seq_tree: TreeBuilder::new(&BySeqReducer, sizes),
            stats: CompactStats::default(),
            body: Vec::new(),
            value: Vec::new(),
            info: DocInfo::default(),
            charged_end,
        })
    }

    /// Records an unreadable document RECOVERY_MODE skips, or fails with its error.
    fn skip_or_fail(&mut self, e: Error) -> Result<Step> {
        if !self.recovery {
            return Err(e);
        }
        self.stats.docs_skipped += 1;
        self.stats.tolerated_error.get_or_insert(e);
        Ok(Step::Continue)
    }

    /// Copies the document whose by-seq entry is `key` → `raw`.
    pub(super) fn copy(&mut self, key: &[u8], raw: &[u8]) -> Result<Step> {
        let v = match BySeqValue::decode(raw) {
            Ok(v) => v,
            Err(e) => return self.skip_or_fail(e),
        };
        if v.deleted && self.drop_deletes && self.options.filter.is_none() {
            self.stats.deletes_dropped += 1;
            return Ok(Step::Continue);
        }
        self.info.set_from_by_seq(key, raw)?;
        let have_body = match self.filter(&v)? {
            Verdict::Keep { have_body } => have_body,
            Verdict::Drop => {
                self.stats.docs_dropped += 1;
                return Ok(Step::Continue);
            }
        };
        if v.bp != 0
            && !have_body
            && let Err(e) = self.src_file.read_chunk(v.bp, &mut self.body)
        {
            return self.skip_or_fail(e);
        }
        let (new_bp, rewritten) = self.copy_body(&v)?;
        // The entry as the source has it with the new body position (the physical size
        // kept from the source, as the original keeps it), or as the rewrite hook made it.
        let info = std::mem::take(&mut self.info);
        let entry = if rewritten {
            BySeqValue {
                physical_size: v.physical_size,
                bp: new_bp,
                ..info.by_seq_value()
            }
        } else {
            BySeqValue { bp: new_bp, ..v }
        };
        let added = self.add_entries(key, &entry);
        self.info = info;
        added?;
        self.stats.docs_copied += 1;
        self.charge()?;
        if self.stats.docs_copied.is_multiple_of(PROGRESS_EVERY)
            && let Some(progress) = self.options.progress.as_mut()
        {
            self.stats.id_runs_spilled = self.sorter.runs_spilled() as u64;
            progress(&self.stats)?;
        }
        Ok(Step::Continue)
    }

    /// Asks the filter hook (if any) about the current document, reading its body when
    /// the hook wants it.
    fn filter(&mut self, v: &BySeqValue<'_>) -> Result<Verdict> {
        let Some(filter) = self.options.filter.as_mut() else {
            return Ok(Verdict::Keep { have_body: false });
        };
        let mut action = filter(Some(&self.info), None)?;
        let mut have_body = false;
        if action == FilterAction::NeedBody {
            self.body.clear();
            if v.bp != 0 {
                self.src_file.read_chunk(v.bp, &mut self.body)?;
            }
            have_body = true;
            action = filter(Some(&self.info), Some(&self.body))?;
        }
        match action {
            FilterAction::Keep => Ok(Verdict::Keep { have_body }),
            FilterAction::Drop => Ok(Verdict::Drop),
            FilterAction::NeedBody => Err(Error::InvalidArguments),
        }
    }

    /// Appends the current body (if the document has one) to the target; returns its
    /// new position and whether the rewrite hook changed the doc info.
    fn copy_body(&mut self, v: &BySeqValue<'_>) -> Result<(u64, bool)> {
        if v.bp == 0 {
            return Ok((0, false));
        }
        let new_bp = self
            .target
            .borrow_mut()
            .file_mut()?
            .append_chunk(&self.body)?
            .pos;
        self.stats.body_bytes += self.body.len() as u64;
        let rewritten = match self.options.rewrite.as_mut() {
            Some(rewrite) => rewrite(&mut self.info, &self.body)?,
            None => false,
        };
        Ok((new_bp, rewritten))
    }

    /// Adds the document's by-seq entry to the target's tree and its by-id entry to the
    /// sort.
    fn add_entries(&mut self, key: &[u8], entry: &BySeqValue<'_>) -> Result<()> {
        self.value.clear();
        entry.encode(&mut self.value)?;
        let mut t = self.target.borrow_mut();
        self.seq_tree.add(t.file_mut()?, key, &self.value)?;
        drop(t);
        self.value.clear();
        ByIdValue {
            db_seq: by_seq::decode_key(key)?,
            physical_size: entry.physical_size,
            deleted: entry.deleted,
            bp: entry.bp,
            content_meta: entry.content_meta,
            rev_seq: entry.rev_seq,
            rev_meta: entry.rev_meta,
        }
        .encode(&mut self.value)?;
        self.sorter.add(entry.id, &self.value)
    }

    /// Charges the rate limit (if any) with the body just read and what the target grew
    /// by.
    fn charge(&mut self) -> Result<()> {
        if self.rate_limit.is_none() {
            return Ok(());
        }
        let end = self.target.borrow().file()?.end();
        let bytes = end.saturating_sub(self.charged_end) + self.body.len() as u64;
        self.charged_end = end;
        rate_limit::charge(self.rate_limit.as_ref(), bytes);
        Ok(())
    }

    /// Completes the by-seq tree and builds the by-id tree from the sort; returns both
    /// roots and what was copied.
    pub(super) fn finish(
        mut self,
    ) -> Result<(Option<NodePointer>, Option<NodePointer>, CompactStats)> {
        self.stats.id_runs_spilled = self.sorter.runs_spilled() as u64;
        let target = self.target;
        let by_seq_root = self.seq_tree.finish(target.borrow_mut().file_mut()?)?;
        let sizes = target.borrow().node_sizes();
        let mut id_tree = TreeBuilder::new(&ByIdReducer, sizes);
        let limit = self.rate_limit.as_ref();
        let mut charged_end = self.charged_end;
        self.sorter.drain_sorted(&mut |k, v| {
            let mut t = target.borrow_mut();
            let file = t.file_mut()?;
            id_tree.add(file, k, v)?;
            if limit.is_some() {
                let end = file.end();
                rate_limit::charge(limit, end.saturating_sub(charged_end) + v.len() as u64);
                charged_end = end;
            }
            Ok(())
        })?;
        let by_id_root = id_tree.finish(target.borrow_mut().file_mut()?)?;
        Ok((by_seq_root, by_id_root, self.stats))
    }
}
