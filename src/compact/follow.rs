//! Following the source's writers: an online compaction applies each save a writer in
//! this process makes to the source (told by [`crate::db::feed`]) to its target while
//! the writer is still updating its own indexes, and takes the writer's commit as the
//! confirmation that the target now holds that commit's header. Under the engine's lock
//! there is then nothing left to replay.
//!
//! The target holds exactly the source's header at the anchor, plus the pending saves:
//! those applied on that header and not yet committed. A save is applied only when it
//! continues what the target holds (the same base header, the next save of the same
//! writer); a commit confirms the pending saves only when it is the commit of exactly
//! those. Anything else (a save failed or given up, events lost to a full queue, a
//! commit not told of, another writer) reverts the pending saves, and the target is
//! brought up to the source's newest header from the file instead ([`Follower::behind`]).
//! Reverting restores the target's header; what the reverted saves appended stays in
//! the file, unreferenced.

use std::ops::Range;

use crate::db::feed::{FedCommit, FeedEvent, SavedBatch, Stopper, Subscription};
use crate::db::{Db, DocInfo};
use crate::error::Result;
use crate::file::CouchFile;
use crate::file::FileIdentity;
use crate::format::Header;

/// Most saves on a newer header kept (see [`Follower::anchor_at`]); a writer saving
/// more often between two commits is followed from the file instead.
const AHEAD_KEPT: usize = 32;

/// A source header the target holds exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// The header's position in the source.
    pub pos: u64,
    /// Its update sequence.
    pub seq: u64,
}

impl Anchor {
    /// The header `db` is at.
    pub fn of(db: &Db) -> Anchor {
        Anchor {
            pos: db.header_position(),
            seq: db.header().update_seq,
        }
    }
}

/// Saves applied on the anchor and not yet committed.
#[derive(Debug)]
struct Pending {
    writer: u64,
    saves: u32,
    /// The target's header before the first of them, to revert to.
    before: Header,
}

/// What following did, for the online compaction's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FollowStats {
    /// Saves applied.
    pub batches: u64,
    /// Documents applied.
    pub docs: u64,
    /// Commits confirmed.
    pub commits: u64,
    /// Saves reverted (their commit did not come as expected).
    pub reverted: u64,
    /// Events handled (from any writer of the file, used or not).
    pub events: u64,
}

/// Follows the writers of one source file into a target (see the module documentation).
#[derive(Debug)]
pub(crate) struct Follower {
    /// The source file, and the queue kept for its writers' events.
    identity: FileIdentity,
    limit: usize,
    /// None while detached: the writers do not copy their batches for nothing.
    sub: Option<Subscription>,
    /// None while the target holds no header exactly (a replay stopped part way).
    anchor: Option<Anchor>,
    pending: Option<Pending>,
    /// Cleared when events were lost: no save is applied until the next anchor.
    trusted: bool,
    /// The source has a commit the events did not bring: the target must be brought up
    /// from the file.
    behind: bool,
    /// Saves on a header newer than the anchor, kept in order: the header is likely the
    /// one the target is about to be brought up to from the file (the writer went on
    /// saving on it meanwhile), and they are applied once it is the anchor.
    ahead: Vec<SavedBatch>,
    infos: Vec<DocInfo>,
    bodies: Vec<Option<Range<usize>>>,
    pub stats: FollowStats,
}

impl Follower {
    /// Follows the writers of the file `identity` (keeping at most `limit` bytes of
    /// their events queued) into a target holding exactly that file's header
    /// `anchor`. None when another compaction follows that file.
    pub fn subscribe(identity: FileIdentity, limit: usize, anchor: Anchor) -> Option<Follower> {
        let sub = Subscription::new(identity, limit)?;
        Some(Follower {
            identity,
            limit,
            sub: Some(sub),
            anchor: Some(anchor),
            pending: None,
            trusted: true,
            behind: false,
            ahead: Vec::new(),
            infos: Vec::new(),
            bodies: Vec::new(),
            stats: FollowStats::default(),
        })
    }

    /// The header the target holds exactly, but for the pending saves.
    pub fn anchor(&self) -> Option<Anchor> {
        self.anchor
    }

    /// Whether the source has commits the follower cannot apply from events.
    pub fn behind(&self) -> bool {
        self.behind
    }

    /// Whether saves are applied (not after lost events, until the next anchor; not
    /// while detached).
    pub fn trusted(&self) -> bool {
        self.trusted && self.anchor.is_some() && self.sub.is_some()
    }

    /// Whether saves are applied on the anchor, awaiting their commit.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether events are queued, not yet handled.
    pub fn has_queued(&self) -> bool {
        self.sub.as_ref().is_some_and(|s| s.queued() > 0)
    }

    /// Stops [`Follower::follow_until_stopped`] from another thread (None while
    /// detached).
    pub fn stopper(&self) -> Option<Stopper> {
        self.sub.as_ref().map(Subscription::stopper)
    }

    /// The target now holds exactly the source's header `anchor` (brought up from the
    /// file): saves on it are applied from here on, those already told of first.
    /// Pending saves must have been reverted. Returns the documents applied.
    pub fn anchor_at(&mut self, anchor: Anchor, target: &mut Db) -> Result<u64> {
        debug_assert!(self.pending.is_none());
        if self.sub.is_none() {
            // Subscribed again: the writers' next batches are told of in full (this
            // runs under the engine's lock, between two of the flusher's batches).
            self.sub = Subscription::new(self.identity, self.limit);
        }
        self.anchor = Some(anchor);
        self.trusted = true;
        self.behind = false;
        let mut docs = 0;
        for batch in std::mem::take(&mut self.ahead) {
            docs += self.saved(batch, target)?;
        }
        Ok(docs)
    }

    /// The target no longer holds a header exactly (part of a delta was replayed into
    /// it), or following gave up: no events until the next [`Follower::anchor_at`],
    /// which subscribes again (meanwhile the writers copy nothing for it). Pending saves
    /// must have been reverted.
    pub fn detach(&mut self) {
        debug_assert!(self.pending.is_none());
        self.anchor = None;
        self.sub = None;
        self.ahead.clear();
    }

    /// Following gives up (the writers are faster): the target goes back to the header
    /// it holds exactly, the source handle `src` is put at that header (commits
    /// confirmed from events took the target past the handle's: replaying their
    /// documents again would take their sequences out of the by-seq index), and the
    /// follower detaches.
    pub fn give_up(&mut self, src: &mut Db, target: &mut Db) -> Result<()> {
        self.revert(target)?;
        self.seek_to_anchor(src)?;
        self.detach();
        Ok(())
    }

    /// Puts the source handle `src` at the anchor, when there is one and it is not there
    /// already (commits confirmed from events move the anchor on without the handle).
    pub fn seek_to_anchor(&self, src: &mut Db) -> Result<()> {
        match self.anchor {
            Some(anchor) if src.header_position() != anchor.pos => src.seek_header(anchor.pos),
            _ => Ok(()),
        }
    }

    /// Reverts the pending saves: the target goes back to the anchor.
    pub fn revert(&mut self, target: &mut Db) -> Result<()> {
        if let Some(p) = self.pending.take() {
            *target.header_mut()? = p.before;
            self.stats.reverted += u64::from(p.saves);
        }
        Ok(())
    }

    /// Handles the next event queued now; returns the documents applied, None when
    /// nothing is queued.
    pub fn follow_one(&mut self, target: &mut Db) -> Result<Option<u64>> {
        match self.sub.as_ref().and_then(Subscription::try_next) {
            Some(event) => self.handle(event, target).map(Some),
            None => Ok(None),
        }
    }

    /// Handles the events queued now; returns the documents applied.
    #[cfg(test)]
    pub fn follow_queued(&mut self, target: &mut Db) -> Result<u64> {
        let mut docs = 0;
        while let Some(n) = self.follow_one(target)? {
            docs += n;
        }
        Ok(docs)
    }

    /// Waits up to `timeout` for an event and handles it; returns the documents applied,
    /// None when no event came.
    pub fn follow_next_within(
        &mut self,
        target: &mut Db,
        timeout: std::time::Duration,
    ) -> Result<Option<u64>> {
        match self.sub.as_ref().and_then(|s| s.next_within(timeout)) {
            Some(event) => self.handle(event, target).map(Some),
            None => Ok(None),
        }
    }

    /// Handles events as they come until stopped (see [`Follower::stopper`]), then what
    /// is still queued, applying at most `limit` documents after the stop (and always
    /// the first save, which the file would replay no faster): a save that would go
    /// beyond is dropped with everything queued after it, and saves are no longer
    /// applied until the next anchor (the file has them). `applied` is called
    /// after each save applied. Returns the documents of the saves whose application
    /// ended after the stop was asked for (while the engine's lock was held, when the
    /// stop comes once it is taken).
    pub fn follow_until_stopped(
        &mut self,
        target: &mut Db,
        limit: u64,
        applied: &mut dyn FnMut(&mut Db) -> Result<()>,
    ) -> Result<u64> {
        let mut after_stop = 0;
        let stopping = |f: &Self| f.sub.as_ref().is_some_and(Subscription::stopping);
        while let Some(event) = self.sub.as_ref().and_then(Subscription::next_until_stopped) {
            if let FeedEvent::Saved(batch) = &event
                && stopping(self)
                && self.anchor.is_some_and(|a| a.pos == batch.base)
                && after_stop > 0
                && after_stop + batch.docs.len() as u64 > limit
            {
                // Dropping events breaks the chain as lost ones do.
                while let Some(sub) = self.sub.as_ref()
                    && sub.next_until_stopped().is_some()
                {}
                self.handle(FeedEvent::Lost, target)?;
                break;
            }
            let docs = self.handle(event, target)?;
            if docs > 0 {
                applied(target)?;
                if stopping(self) {
                    after_stop += docs;
                }
            }
        }
        Ok(after_stop)
    }

    /// Handles one event; returns the documents applied.
    fn handle(&mut self, event: FeedEvent, target: &mut Db) -> Result<u64> {
        self.stats.events += 1;
        match event {
            FeedEvent::Saved(batch) => self.saved(batch, target),
            FeedEvent::Committed(commit) => {
                self.committed(commit, target)?;
                Ok(0)
            }
            FeedEvent::Discarded { writer } => {
                // Without saves, a writer back at the anchor goes on from it; any other
                // state shows in its next save or commit, which will not chain.
                if self.pending.as_ref().is_some_and(|p| p.writer == writer) {
                    self.revert(target)?;
                }
                self.ahead.retain(|b| b.writer != writer);
                Ok(0)
            }
            FeedEvent::Lost => {
                self.revert(target)?;
                self.trusted = false;
                self.ahead.clear();
                Ok(0)
            }
        }
    }

    /// A save told of: applied when it continues what the target holds, kept when it
    /// is on a newer header, dropped otherwise. Returns the documents applied.
    fn saved(&mut self, batch: SavedBatch, target: &mut Db) -> Result<u64> {
        let docs = match self.anchor {
            Some(anchor) if batch.base == anchor.pos => self.apply_next(&batch, target)?,
            Some(anchor) if batch.base > anchor.pos => {
                // Only the saves on the newest header told of are worth keeping.
                if self.ahead.last().is_some_and(|b| b.base != batch.base)
                    || self.ahead.len() >= AHEAD_KEPT
                {
                    self.ahead.clear();
                }
                self.ahead.push(batch);
                return Ok(0);
            }
            // On an older header (which the target holds already), or while the target
            // holds none.
            _ => 0,
        };
        if let Some(sub) = self.sub.as_ref() {
            sub.recycle(batch.bytes);
        }
        Ok(docs)
    }

    /// Applies a save on the anchor when it is the next one (the first, or the next of
    /// the writer whose saves are pending); otherwise stops trusting saves on it.
    fn apply_next(&mut self, batch: &SavedBatch, target: &mut Db) -> Result<u64> {
        let next = match &self.pending {
            None => batch.index == 0,
            Some(p) => p.writer == batch.writer && p.saves == batch.index,
        };
        if !self.trusted || !next {
            // A save on the anchor that does not continue what the target holds: what
            // the writer holds is unknown until the file shows it.
            self.revert(target)?;
            self.trusted = false;
            return Ok(0);
        }
        let before = match self.pending.take() {
            Some(p) => p,
            None => Pending {
                writer: batch.writer,
                saves: 0,
                before: target.header().clone(),
            },
        };
        self.pending = Some(before);
        if let Err(e) = self.apply(batch, target) {
            // The target is as before this save (save_copied_entries undoes a failed
            // one); the ones before it are dropped too, so the follower stays simple.
            self.revert(target)?;
            return Err(e);
        }
        if let Some(p) = self.pending.as_mut() {
            p.saves += 1;
        }
        self.stats.batches += 1;
        self.stats.docs += batch.docs.len() as u64;
        Ok(batch.docs.len() as u64)
    }

    /// Saves `batch` into the target: doc infos as the writer stored them (sequences,
    /// sizes), bodies appended as stored.
    fn apply(&mut self, batch: &SavedBatch, target: &mut Db) -> Result<()> {
        let n = batch.docs.len();
        if self.infos.len() < n {
            self.infos.resize_with(n, DocInfo::default);
        }
        self.bodies.clear();
        let bytes = &batch.bytes;
        for ((doc, (id, meta, body)), info) in batch.ranges().zip(self.infos.iter_mut()) {
            info.id.clear();
            info.id.extend_from_slice(&bytes[id]);
            info.rev_meta.clear();
            info.rev_meta.extend_from_slice(&bytes[meta]);
            info.db_seq = doc.db_seq;
            info.rev_seq = doc.rev_seq;
            info.deleted = doc.deleted;
            info.content_meta = doc.content_meta;
            info.bp = 0;
            info.physical_size = doc.physical_size;
            self.bodies.push(body);
        }
        let bodies = &self.bodies;
        let mut copy = |out: &mut CouchFile, infos: &mut [DocInfo]| -> Result<()> {
            for (info, body) in infos.iter_mut().zip(bodies) {
                if let Some(r) = body {
                    info.bp = out.append_chunk(&bytes[r.clone()])?.pos;
                }
            }
            Ok(())
        };
        target.save_copied_entries(&mut self.infos[..n], batch.update_seq, &mut copy)
    }

    fn committed(&mut self, commit: FedCommit, target: &mut Db) -> Result<()> {
        let Some(anchor) = self.anchor else {
            return Ok(());
        };
        if commit.pos <= anchor.pos {
            // The commit of a header the target holds already.
            return Ok(());
        }
        let confirms = commit.base == anchor.pos
            && self.trusted
            && match &self.pending {
                None => commit.saves == 0,
                Some(p) => p.writer == commit.writer && p.saves == commit.saves,
            };
        if confirms {
            self.pending = None;
            self.ahead.retain(|b| b.base >= commit.pos);
            let h = target.header_mut()?;
            h.update_seq = h.update_seq.max(commit.update_seq);
            self.anchor = Some(Anchor {
                pos: commit.pos,
                seq: commit.update_seq,
            });
            self.stats.commits += 1;
        } else {
            self.revert(target)?;
            self.behind = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::btree::Step;
    use crate::compact::replay::{self, ReplayOptions};
    use crate::compact::{CompactOptions, compact_into, target_open_options};
    use crate::db::{LocalDoc, NewDoc, OpenOptions, SaveOptions, ScanOptions};
    use crate::file::{Backend, FileIdentity, MemoryBackend};

    /// The source file, shared by the writers and the compaction's reader; writes fail
    /// while `failing` is set.
    #[derive(Debug, Clone)]
    struct Source {
        bytes: MemoryBackend,
        failing: Arc<AtomicBool>,
    }

    impl Backend for Source {
        fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
            self.bytes.read_at(buf, pos)
        }
        fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(io::Error::other("injected"));
            }
            self.bytes.write_at(buf, pos)
        }
        fn size(&self) -> io::Result<u64> {
            self.bytes.size()
        }
        fn sync(&self) -> io::Result<()> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(io::Error::other("injected"));
            }
            Ok(())
        }
        fn identity(&self) -> Option<FileIdentity> {
            self.bytes.identity()
        }
    }

    /// A writer (unbuffered, so an injected failure hits the save itself), the
    /// compaction's reader, a target compacted from the source's first header, and a
    /// follower subscribed with a queue of `limit` bytes.
    struct Setup {
        source: Source,
        writer: Db,
        src: Db,
        target: RefCell<Db>,
        follower: Follower,
    }

    fn writer_of(source: &Source) -> Db {
        let options = OpenOptions {
            unbuffered: true,
            ..OpenOptions::create()
        };
        Db::open_backend(Box::new(source.clone()), "vb.couch".into(), options).unwrap()
    }

    fn setup(limit: usize) -> Setup {
        let source = Source {
            bytes: MemoryBackend::new(),
            failing: Arc::default(),
        };
        let mut writer = writer_of(&source);
        save(
            &mut writer,
            &[(1, Some(10)), (2, Some(20)), (3, None)],
            false,
        )
        .unwrap();
        writer.commit().unwrap();
        let src = Db::open_backend(
            Box::new(source.clone()),
            "vb.couch".into(),
            OpenOptions::read_only(),
        )
        .unwrap();
        let target = Db::open_backend(
            Box::new(MemoryBackend::new()),
            "vb.couch.compact".into(),
            target_open_options(&src, Default::default()),
        )
        .unwrap();
        let target = RefCell::new(target);
        compact_into(&src, &target, CompactOptions::default()).unwrap();
        let follower =
            Follower::subscribe(src.identity().unwrap(), limit, Anchor::of(&src)).unwrap();
        Setup {
            source,
            writer,
            src,
            target,
            follower,
        }
    }

    fn key(k: u8) -> Vec<u8> {
        format!("doc-{k:03}").into_bytes()
    }

    /// Saves documents `(key, body length)` (None: a deletion); ids repeat within a
    /// batch when the keys do.
    fn save(writer: &mut Db, docs: &[(u8, Option<u16>)], compress: bool) -> Result<()> {
        let ids: Vec<Vec<u8>> = docs.iter().map(|&(k, _)| key(k)).collect();
        let bodies: Vec<Option<Vec<u8>>> = docs
            .iter()
            .map(|&(k, len)| len.map(|n| vec![k; usize::from(n)]))
            .collect();
        let mut batch: Vec<NewDoc<'_>> = ids
            .iter()
            .zip(&bodies)
            .map(|(id, body)| NewDoc {
                id,
                body: body.as_deref(),
                deleted: body.is_none(),
                rev_seq: u64::from(id[5]) + 1,
                rev_meta: b"meta",
                content_meta: if compress { 0x83 } else { 3 },
                db_seq: 0,
            })
            .collect();
        let options = SaveOptions {
            compress_bodies: compress,
            ..SaveOptions::default()
        };
        writer.save_documents(&mut batch, options)
    }

    /// What the driver does when the target does not hold the source's newest header:
    /// pending saves reverted, the target brought up from the file, anchored there.
    fn bring_up(s: &mut Setup) {
        let (pos, _) = s.src.newest_header().unwrap();
        let anchor = s.follower.anchor().unwrap();
        if pos == anchor.pos {
            return;
        }
        s.follower.revert(&mut s.target.borrow_mut()).unwrap();
        s.src.seek_header(anchor.pos).unwrap();
        anchor_at_newest(s);
    }

    /// Replays from the source handle's header to the newest one into the target and
    /// anchors the follower there.
    fn anchor_at_newest(s: &mut Setup) {
        let (pos, newest) = s.src.newest_header().unwrap();
        let options = ReplayOptions {
            skip_commit: true,
            ..Default::default()
        };
        replay::replay(&mut s.src, &s.target, pos, options).unwrap();
        let anchor = Anchor {
            pos,
            seq: newest.update_seq,
        };
        s.follower
            .anchor_at(anchor, &mut s.target.borrow_mut())
            .unwrap();
    }

    /// The final hold: what is queued is handled, saves not committed are reverted, the
    /// target is brought up to the newest header if the events did not get it there,
    /// and local documents and purge sequence are carried over. Returns whether the
    /// events alone got it there.
    fn finish(s: &mut Setup) -> bool {
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        s.follower.revert(&mut s.target.borrow_mut()).unwrap();
        let (pos, _) = s.src.newest_header().unwrap();
        let anchor = s.follower.anchor().unwrap();
        let followed = anchor.pos == pos;
        if !followed {
            // As the driver's final round: replayed from the file, not re-anchored
            // (which would apply saves told of on the newest header, not committed).
            s.src.seek_header(anchor.pos).unwrap();
            let options = ReplayOptions {
                skip_commit: true,
                ..Default::default()
            };
            replay::replay(&mut s.src, &s.target, pos, options).unwrap();
        }
        s.src.seek_header(pos).unwrap();
        replay::sync_locals(&s.src, &s.target).unwrap();
        let purge = s.src.header().purge_seq;
        s.target.borrow_mut().header_mut().unwrap().purge_seq = purge;
        followed
    }

    /// Everything a reader of the two files can tell apart: documents by id with their
    /// bodies, the by-seq index, counts, sequences and local documents.
    fn contents(db: &Db) -> String {
        let mut out = String::new();
        db.all_docs(None, ScanOptions::default(), &mut |i| {
            let body = match i.bp {
                0 => Vec::new(),
                _ => db.open_doc_with_docinfo(i, true)?.data,
            };
            let fields = (i.db_seq, i.rev_seq, &i.rev_meta, i.deleted, i.content_meta);
            out += &format!("{:?} {fields:?} {} {body:?}\n", i.id, i.physical_size);
            Ok(Step::Continue)
        })
        .unwrap();
        db.changes_since(0, ScanOptions::default(), &mut |i| {
            out += &format!("seq {} {:?}\n", i.db_seq, i.id);
            Ok(Step::Continue)
        })
        .unwrap();
        let info = db.info().unwrap();
        out += &format!(
            "{} {} {} {}\n",
            info.doc_count, info.deleted_count, info.last_sequence, info.purge_seq
        );
        for n in 0..4u8 {
            out += &format!("{:?}\n", db.open_local_document(&key(n)).map(|l| l.json));
        }
        out
    }

    fn assert_same(s: &Setup) {
        assert_eq!(contents(&s.target.borrow()), contents(&s.src));
    }

    #[test]
    fn a_writers_saves_are_applied_and_confirmed_by_its_commits() {
        let mut s = setup(1 << 20);
        for round in 0..3u8 {
            save(
                &mut s.writer,
                &[(round, Some(5)), (9, Some(7)), (9, None)],
                false,
            )
            .unwrap();
            save(&mut s.writer, &[(round + 10, Some(3))], true).unwrap();
            s.writer.commit().unwrap();
        }
        // Applied before the last commit is told of: pending.
        save(&mut s.writer, &[(50, Some(1))], false).unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        assert_eq!(s.follower.stats.batches, 7);
        assert_eq!(s.follower.stats.commits, 3);
        assert!(s.follower.pending.is_some());
        s.writer.commit().unwrap();
        assert!(finish(&mut s), "the events alone brought the target up");
        assert_eq!(s.follower.stats.commits, 4);
        assert_eq!(s.follower.stats.reverted, 0);
        assert_same(&s);
    }

    #[test]
    fn saves_told_of_before_their_header_is_the_anchor_are_applied_once_it_is() {
        let mut s = setup(1 << 20);
        // A commit the follower does not get from events (its save came before the
        // subscription would have), then saves on it, told of while the follower's
        // anchor is the older header.
        s.follower.trusted = false;
        save(&mut s.writer, &[(4, Some(4))], false).unwrap();
        s.writer.commit().unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        save(&mut s.writer, &[(5, Some(5))], false).unwrap();
        save(&mut s.writer, &[(6, None)], false).unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        assert_eq!(s.follower.ahead.len(), 2);
        bring_up(&mut s);
        assert_eq!(s.follower.stats.batches, 2, "applied when anchored");
        s.writer.commit().unwrap();
        assert!(finish(&mut s));
        assert_same(&s);
    }

    #[test]
    fn a_failed_save_is_taken_back_and_the_file_decides() {
        let mut s = setup(1 << 20);
        save(&mut s.writer, &[(7, Some(7))], false).unwrap();
        s.source.failing.store(true, Ordering::SeqCst);
        assert!(save(&mut s.writer, &[(8, Some(4000))], false).is_err());
        s.source.failing.store(false, Ordering::SeqCst);
        save(&mut s.writer, &[(8, Some(8))], false).unwrap();
        s.writer.commit().unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        // The save after the failure could not be placed: nothing of the writer's is
        // pending, and its commit leaves the follower behind.
        assert!(s.follower.pending.is_none());
        assert!(s.follower.stats.reverted >= 1);
        assert!(!finish(&mut s));
        assert_same(&s);
    }

    #[test]
    fn lost_events_are_never_taken_for_a_chain() {
        // A queue too small for a batch: every save is dropped.
        let mut s = setup(512);
        save(&mut s.writer, &[(1, Some(900))], false).unwrap();
        s.writer.commit().unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        assert!(!s.follower.trusted);
        assert_eq!(s.follower.stats.batches, 0);
        assert!(!finish(&mut s));
        assert_same(&s);
    }

    #[test]
    fn giving_up_puts_the_source_handle_where_the_target_is() {
        let mut s = setup(1 << 20);
        // Two commits followed and confirmed, a save pending: the target is past the
        // source handle's header, which the driver last replayed to.
        for round in 0..2u8 {
            save(
                &mut s.writer,
                &[(round, Some(9)), (40 + round, None)],
                false,
            )
            .unwrap();
            s.writer.commit().unwrap();
        }
        save(&mut s.writer, &[(7, Some(2))], false).unwrap();
        s.follower
            .follow_queued(&mut s.target.borrow_mut())
            .unwrap();
        assert_eq!(s.follower.stats.commits, 2);
        let anchor = s.follower.anchor().unwrap();
        assert!(s.src.header_position() < anchor.pos);
        s.follower
            .give_up(&mut s.src, &mut s.target.borrow_mut())
            .unwrap();
        assert_eq!(s.src.header_position(), anchor.pos);
        assert!(s.follower.anchor().is_none());
        // Pacing replays from there: the rest of the writer's work, and nothing twice
        // (the followed documents keep their by-seq entries).
        s.writer.commit().unwrap();
        let (pos, _) = s.src.newest_header().unwrap();
        let options = ReplayOptions {
            skip_commit: true,
            ..Default::default()
        };
        replay::replay(&mut s.src, &s.target, pos, options).unwrap();
        replay::sync_locals(&s.src, &s.target).unwrap();
        assert_same(&s);
    }

    #[test]
    fn a_detached_follower_is_told_nothing_until_anchored_again() {
        let mut s = setup(1 << 20);
        s.follower.detach();
        // Nobody follows the file now: the writer copies nothing, and another
        // compaction could follow it.
        assert!(crate::db::feed::feed_for(s.src.identity()).is_none());
        save(&mut s.writer, &[(1, Some(3))], false).unwrap();
        s.writer.commit().unwrap();
        // Brought up from the file, then anchored (and subscribed) again: the writer's
        // next batches are followed.
        let start = s.follower.stats;
        anchor_at_newest(&mut s);
        assert!(s.follower.trusted());
        save(&mut s.writer, &[(2, Some(4)), (3, None)], false).unwrap();
        s.writer.commit().unwrap();
        assert!(finish(&mut s), "the events alone brought the target up");
        assert_eq!(s.follower.stats.batches, start.batches + 1);
        assert_eq!(s.follower.stats.commits, start.commits + 1);
        assert_same(&s);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Save(Vec<(u8, Option<u16>)>, bool),
        Commit,
        SaveLocal(u8, bool),
        Purge(u8),
        /// The writer drops what it saved since its header.
        Drop,
        /// The writer closes; a new handle opens at the newest header.
        Reopen,
        /// The writer's writes fail while set.
        Failing(bool),
        /// The follower handles what is queued.
        Follow,
        /// The driver brings the target up from the file.
        BringUp,
    }

    fn op() -> impl Strategy<Value = Op> {
        let doc = (0u8..24, prop::option::weighted(0.85, 0u16..300));
        prop_oneof![
            6 => (prop::collection::vec(doc, 1..12), any::<bool>())
                .prop_map(|(d, c)| Op::Save(d, c)),
            4 => Just(Op::Commit),
            1 => (0u8..4, any::<bool>()).prop_map(|(k, d)| Op::SaveLocal(k, d)),
            1 => (0u8..50).prop_map(Op::Purge),
            1 => Just(Op::Drop),
            1 => Just(Op::Reopen),
            1 => any::<bool>().prop_map(Op::Failing),
            4 => Just(Op::Follow),
            1 => Just(Op::BringUp),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever the writers do and whenever the follower looks, the target ends up
        /// holding exactly the source's newest header; with a queue large enough and no
        /// failure, from the events alone.
        #[test]
        fn the_target_ends_at_the_sources_newest_header(
            ops in prop::collection::vec(op(), 1..40),
            small_queue in any::<bool>(),
        ) {
            let mut s = setup(if small_queue { 4096 } else { 1 << 20 });
            let mut clean = !small_queue;
            for op in ops {
                match op {
                    Op::Save(docs, compress) => {
                        let _ = save(&mut s.writer, &docs, compress);
                    }
                    Op::Commit => {
                        let _ = s.writer.commit();
                    }
                    Op::SaveLocal(k, deleted) => {
                        let doc = LocalDoc {
                            id: key(k),
                            json: format!("{{\"k\":{k}}}").into_bytes(),
                            deleted,
                        };
                        let _ = s.writer.save_local_document(&doc);
                    }
                    Op::Purge(p) => {
                        let _ = s.writer.set_purge_seq(u64::from(p));
                    }
                    Op::Drop => {
                        let at = s.writer.header_position();
                        s.writer.seek_header(at).unwrap();
                    }
                    Op::Reopen => {
                        s.writer.close().unwrap();
                        s.writer = writer_of(&s.source);
                    }
                    Op::Failing(on) => {
                        clean &= !on;
                        s.source.failing.store(on, Ordering::SeqCst);
                    }
                    Op::Follow => {
                        s.follower.follow_queued(&mut s.target.borrow_mut()).unwrap();
                    }
                    Op::BringUp => bring_up(&mut s),
                }
            }
            s.source.failing.store(false, Ordering::SeqCst);
            let followed = finish(&mut s);
            prop_assert_eq!(contents(&s.target.borrow()), contents(&s.src));
            if clean {
                prop_assert!(followed, "{:?}", s.follower.stats);
            }
        }
    }
}
