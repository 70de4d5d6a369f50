//! Writing: saving documents and deletions in batches, local documents.

use std::borrow::Cow;

use super::feed::{FedDoc, FeedEvent, SavedBatch};
use super::options::{CONTENT_META_COMPRESSED, SaveOptions};
use super::{Db, DocInfo, LocalDoc};
use crate::btree::prefetch::{self, NodeSender};
use crate::btree::{
    Action, ByIdReducer, BySeqReducer, LocalReducer, ModifyPlan, modify, modify_with,
};
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::NodePointer;
use crate::format::bits::{MAX_KEY_LEN, MAX_U48, MAX_VALUE_LEN};
use crate::format::by_id;
use crate::format::by_seq;
use crate::format::chunk::PREFIX_LEN;
use crate::format::compression::compress_into;

/// A document (or deletion) to save.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewDoc<'a> {
    /// The id (at most 4095 bytes; may be empty, as the original allows).
    pub id: &'a [u8],
    /// The body; `None` saves a deletion without a body.
    pub body: Option<&'a [u8]>,
    /// Whether this is a deletion (always true when `body` is `None`).
    pub deleted: bool,
    /// Revision number.
    pub rev_seq: u64,
    /// Revision metadata.
    pub rev_meta: &'a [u8],
    /// Content meta flags (0x80: the body is, or with COMPRESS is to be, Snappy-compressed).
    pub content_meta: u8,
    /// With SEQUENCE_AS_IS, the sequence to store; otherwise ignored. After the save it
    /// is the sequence the document was stored with.
    pub db_seq: u64,
}

/// What the per-document save callback is told.
#[derive(Debug)]
pub struct SavedDoc<'a> {
    /// Index of the document in the batch.
    pub index: usize,
    /// The entry it replaced (None for an insert).
    pub old: Option<&'a DocInfo>,
    /// The entry as stored.
    pub new: &'a DocInfo,
}

/// Largest body accepted: the by-seq value stores the physical size in 28 bits, so the
/// stored chunk (prefix, body and block markers) must fit in it.
const MAX_BODY_LEN: usize = MAX_VALUE_LEN - PREFIX_LEN - MAX_VALUE_LEN / 4095 - 1;

impl Db {
    /// Saves a batch of documents and deletions; see [`Db::save_documents_with`].
    pub fn save_documents(&mut self, docs: &mut [NewDoc<'_>], options: SaveOptions) -> Result<()> {
        self.save_documents_with(docs, options, None)
    }

    /// Saves a batch of documents and deletions in one pass over both indexes.
    ///
    /// Sequence numbers are assigned in batch order (or taken as given with
    /// SEQUENCE_AS_IS) and written back into `docs`. A repeated id is stored once: the
    /// last copy in the batch wins. Bodies are appended as data chunks (Snappy-compressed
    /// with COMPRESS_DOC_BODIES when the content_meta bit asks for it). `on_saved` is told
    /// the old and new entry of every stored document. Nothing is visible to other
    /// handles, nor after reopening, until [`Db::commit`].
    ///
    /// Invalid input (an id over 4095 bytes, metadata or a body too large for the index
    /// fields) is INVALID_ARGUMENTS and nothing is written. On any failure the handle is
    /// left as it was before the call.
    pub fn save_documents_with(
        &mut self,
        docs: &mut [NewDoc<'_>],
        options: SaveOptions,
        on_saved: Option<&mut dyn FnMut(SavedDoc<'_>)>,
    ) -> Result<()> {
        self.file_mut()?;
        for doc in docs.iter() {
            validate(doc, options)?;
        }
        if docs.is_empty() {
            return Ok(());
        }
        let before_header = self.header.clone();
        let before_end = self.file()?.end();
        match self.save_batch(docs, options, on_saved) {
            Ok(()) => {
                self.saves_on_header += 1;
                Ok(())
            }
            Err(e) => {
                self.undo_to(before_header, before_end);
                // The batch may have been published before it failed: a follower must
                // not keep it.
                self.publish_discarded();
                Err(e)
            }
        }
    }

    /// Restores the handle after a failed write: back to `header`, and the file back to
    /// `end` where possible (after an I/O failure, back to the last commit).
    fn undo_to(&mut self, header: super::Header, end: u64) {
        if let Some(file) = self.file.as_mut()
            && file.rollback_to(end)
        {
            self.header = header;
        } else {
            self.drop_uncommitted();
        }
    }

    fn save_batch(
        &mut self,
        docs: &mut [NewDoc<'_>],
        options: SaveOptions,
        on_saved: Option<&mut dyn FnMut(SavedDoc<'_>)>,
    ) -> Result<()> {
        let as_is = options.sequence_as_is;
        let compress = options.compress_bodies;
        let mut update_seq = self.header.update_seq;
        let mut infos = Vec::with_capacity(docs.len());
        let mut packed = Vec::new();
        // A compaction following this file gets the batch as stored, before the indexes
        // are updated: it applies the batch meanwhile.
        let feed = self.feed().filter(|f| f.wants());
        let mut fed = feed
            .as_ref()
            .map(|f| FedBatchBuilder::new(f.buffer(), docs.len()));
        let file = self.file.as_mut().ok_or(Error::FileClosed)?;
        for doc in docs.iter_mut() {
            if as_is {
                update_seq = update_seq.max(doc.db_seq);
            } else {
                update_seq += 1;
                doc.db_seq = update_seq;
            }
            if let Some(b) = fed.as_mut() {
                b.begin(doc);
            }
            let (bp, physical_size) = match doc.body {
                None => (0, 0),
                Some(body) => {
                    let stored = if compress && doc.content_meta & CONTENT_META_COMPRESSED != 0 {
                        packed.clear();
                        compress_into(body, &mut packed);
                        &packed[..]
                    } else {
                        body
                    };
                    let loc = file.append_chunk(stored)?;
                    if let Some(b) = fed.as_mut() {
                        b.body(stored);
                    }
                    (loc.pos, loc.physical_size)
                }
            };
            if let Some(b) = fed.as_mut() {
                b.end(doc, physical_size);
            }
            infos.push(DocInfo {
                id: doc.id.to_vec(),
                db_seq: doc.db_seq,
                rev_seq: doc.rev_seq,
                rev_meta: doc.rev_meta.to_vec(),
                deleted: doc.deleted || doc.body.is_none(),
                content_meta: doc.content_meta,
                bp,
                physical_size,
            });
        }
        if update_seq > MAX_U48 {
            return Err(Error::InvalidArguments);
        }
        if let (Some(feed), Some(b)) = (feed, fed) {
            feed.publish(FeedEvent::Saved(b.finish(
                self.writer,
                self.header_pos,
                self.saves_on_header,
                update_seq,
            )));
        }
        self.apply_entries(&mut infos, update_seq, None, on_saved)
    }

    /// Saves entries read from another file, whose bodies `copy` first appends to this
    /// one (setting their `bp`); while it does, another thread may already be reading
    /// the nodes the entries' ids lead to (see [`Db::set_prefetch`]), which needs only
    /// the ids. The sequences are kept as given, and update_seq becomes at least
    /// `update_seq`. Used by replay, which copies bodies as stored. On failure the handle
    /// is left as it was before the call.
    pub(crate) fn save_copied_entries(
        &mut self,
        entries: &mut [DocInfo],
        update_seq: u64,
        copy: CopyBodies<'_>,
    ) -> Result<()> {
        self.file_mut()?;
        let before_header = self.header.clone();
        let before_end = self.file()?.end();
        let update_seq = update_seq.max(self.header.update_seq);
        match self.apply_entries(entries, update_seq, Some(copy), None) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.undo_to(before_header, before_end);
                Err(e)
            }
        }
    }

    /// Updates both indexes with `infos` in one pass each: their bodies already written,
    /// or appended by `copy` first (while the prefetcher, if any, starts reading).
    fn apply_entries(
        &mut self,
        infos: &mut [DocInfo],
        update_seq: u64,
        copy: Option<CopyBodies<'_>>,
        mut on_saved: Option<&mut dyn FnMut(SavedDoc<'_>)>,
    ) -> Result<()> {
        let file = self.file.as_mut().ok_or(Error::FileClosed)?;
        // The last copy of a repeated id wins: keep the highest batch index per id.
        let mut order = sorted_by_id(infos);
        order.dedup_by(|later, earlier| infos[*later].id == infos[*earlier].id);

        let reader = if file.prefetches() && order.len() >= PREFETCH_MIN_DOCS {
            file.concurrent_reader()
        } else {
            None
        };
        let mut old_seqs: Vec<Option<u64>> = vec![None; order.len()];
        let mut olds: Vec<Option<DocInfo>> = match on_saved {
            Some(_) => vec![None; order.len()],
            None => Vec::new(),
        };
        let (id_root, seq_root) = (&self.header.by_id_root, &self.header.by_seq_root);
        let sizes = self.options.node_sizes;
        let (new_id_root, new_seq_root) = std::thread::scope(|scope| -> Result<_> {
            let prefetched = reader.map(|reader| {
                let (id_sender, id_nodes) = prefetch::channel();
                let (seq_sender, seq_nodes) = prefetch::channel();
                // The prefetcher has its own copy of what it needs (ids and new
                // sequences, in id order): `copy` changes the doc infos meanwhile.
                let keys = PrefetchKeys::of(infos, &order);
                scope.spawn(move || {
                    read_ahead(&reader, &keys, id_root, seq_root, id_sender, seq_sender)
                });
                (id_nodes, seq_nodes)
            });
            if let Some(copy) = copy {
                copy(file, infos)?;
            }
            let infos = &*infos;
            // The by-id values, encoded back to back in one buffer the actions borrow
            // from.
            let mut id_values = Vec::with_capacity(order.len() * (by_id::FIXED_LEN + 8));
            let mut ends = Vec::with_capacity(order.len());
            for &i in &order {
                infos[i].by_id_value().encode(&mut id_values)?;
                ends.push(id_values.len());
            }
            let id_actions = order
                .iter()
                .zip(ranges(&ends))
                .map(|(&i, r)| {
                    Action::Insert(Cow::Borrowed(&infos[i].id), Cow::Borrowed(&id_values[r]))
                })
                .collect();
            // Ids in `order` are sorted and unique, as the plan must be: match old
            // entries by position. The replaced entries' sequences are what the by-seq
            // tree needs; whole doc infos only when the caller is told of them.
            let id_plan = ModifyPlan::from_sorted(id_actions);
            let mut cursor = 0usize;
            let new_id_root = modify_with(
                file,
                id_root.as_ref(),
                &id_plan,
                &ByIdReducer,
                sizes,
                &mut |key, old| {
                    while infos[order[cursor]].id.as_slice() != key {
                        cursor += 1;
                    }
                    old_seqs[cursor] = Some(by_id::ByIdValue::decode(old)?.db_seq);
                    if let Some(slot) = olds.get_mut(cursor) {
                        *slot = Some(DocInfo::from_by_id(key, old)?);
                    }
                    Ok(())
                },
                prefetched.as_ref().map(|p| &p.0),
            )?;
            let mut seq_bytes = Vec::new();
            let seq_plan = seq_plan(infos, &order, &old_seqs, &mut seq_bytes)?;
            let new_seq_root = modify_with(
                file,
                seq_root.as_ref(),
                &seq_plan,
                &BySeqReducer,
                sizes,
                &mut |_, _| Ok(()),
                prefetched.as_ref().map(|p| &p.1),
            )?;
            Ok((new_id_root, new_seq_root))
        })?;
        self.header.by_id_root = new_id_root;
        self.header.by_seq_root = new_seq_root;
        self.header.update_seq = update_seq;
        if let Some(cb) = on_saved.as_mut() {
            // Every document of the batch is reported, in batch order; a copy of a
            // repeated id that lost to a later one is reported with the entry that
            // existed before the batch.
            for (i, info) in infos.iter().enumerate() {
                let slot = order
                    .binary_search_by(|&j| infos[j].id.cmp(&info.id))
                    .expect("every id has a surviving copy");
                cb(SavedDoc {
                    index: i,
                    old: olds[slot].as_ref(),
                    new: info,
                });
            }
        }
        Ok(())
    }

    /// Saves one document (or a deletion when `body` is `None`); returns its sequence.
    pub fn save_document(&mut self, doc: NewDoc<'_>, options: SaveOptions) -> Result<u64> {
        let mut batch = [doc];
        self.save_documents(&mut batch, options)?;
        Ok(batch[0].db_seq)
    }

    /// Saves, replaces or (with `deleted`) deletes a local document. Deleting one that
    /// does not exist is not an error. Local documents have no sequence numbers and do
    /// not change the document counters.
    pub fn save_local_document(&mut self, doc: &LocalDoc) -> Result<()> {
        self.save_local_documents(std::slice::from_ref(doc))
    }

    /// Saves (or deletes, as each one says) several local documents in one change of
    /// the local tree; for a repeated id the last one wins.
    pub fn save_local_documents(&mut self, docs: &[LocalDoc]) -> Result<()> {
        self.file_mut()?;
        if docs
            .iter()
            .any(|d| d.id.len() > MAX_KEY_LEN || d.json.len() > MAX_VALUE_LEN)
        {
            return Err(Error::InvalidArguments);
        }
        let actions = docs
            .iter()
            .map(|doc| {
                if doc.deleted {
                    Action::Remove(Cow::Borrowed(&doc.id))
                } else {
                    Action::Insert(Cow::Borrowed(&doc.id), Cow::Borrowed(&doc.json))
                }
            })
            .collect();
        let before_header = self.header.clone();
        let file = self.file.as_mut().ok_or(Error::FileClosed)?;
        let before_end = file.end();
        let result = modify(
            file,
            self.header.local_root.as_ref(),
            &ModifyPlan::new(actions),
            &LocalReducer,
            self.options.node_sizes,
            &mut |_, _| Ok(()),
        );
        match result {
            Ok(root) => {
                self.header.local_root = root;
                Ok(())
            }
            Err(e) => {
                self.undo_to(before_header, before_end);
                Err(e)
            }
        }
    }

    /// Sets the purge sequence stored by the next commit.
    pub fn set_purge_seq(&mut self, purge_seq: u64) -> Result<()> {
        if purge_seq > MAX_U48 {
            return Err(Error::InvalidArguments);
        }
        self.file_mut()?;
        self.header.purge_seq = purge_seq;
        Ok(())
    }
}

/// The indexes of `infos` in order of id, a repeated id's later copies first. Ids are
/// first compared by the 8 bytes after the prefix they all share, as one number (ids of
/// one batch often share a long prefix), and only when those are equal as a whole.
fn sorted_by_id(infos: &[DocInfo]) -> Vec<usize> {
    let common = match infos.split_first() {
        None => 0,
        Some((first, rest)) => rest.iter().fold(first.id.len(), |n, d| {
            n.min(
                first
                    .id
                    .iter()
                    .zip(&d.id)
                    .take_while(|(a, b)| a == b)
                    .count(),
            )
        }),
    };
    let mut keyed: Vec<(u64, usize)> = infos
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut window = [0u8; 8];
            let tail = &d.id[common..];
            let n = tail.len().min(8);
            window[..n].copy_from_slice(&tail[..n]);
            (u64::from_be_bytes(window), i)
        })
        .collect();
    keyed.sort_unstable_by(|&(ka, a), &(kb, b)| {
        ka.cmp(&kb)
            .then_with(|| infos[a].id.cmp(&infos[b].id))
            .then(b.cmp(&a))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Builds a batch's [`FeedEvent::Saved`] as the batch is stored: for each document its
/// id and metadata, then its body as stored, then the document's fixed fields.
struct FedBatchBuilder {
    docs: Vec<FedDoc>,
    bytes: Vec<u8>,
    body_len: Option<u32>,
}

impl FedBatchBuilder {
    fn new(mut bytes: Vec<u8>, docs: usize) -> Self {
        bytes.clear();
        FedBatchBuilder {
            docs: Vec::with_capacity(docs),
            bytes,
            body_len: None,
        }
    }

    /// Starts the next document.
    fn begin(&mut self, doc: &NewDoc<'_>) {
        self.bytes.extend_from_slice(doc.id);
        self.bytes.extend_from_slice(doc.rev_meta);
        self.body_len = None;
    }

    /// Its body as stored.
    fn body(&mut self, stored: &[u8]) {
        self.bytes.extend_from_slice(stored);
        self.body_len = Some(stored.len() as u32);
    }

    /// Ends it, with its sequence number assigned.
    fn end(&mut self, doc: &NewDoc<'_>, physical_size: u64) {
        self.docs.push(FedDoc {
            db_seq: doc.db_seq,
            rev_seq: doc.rev_seq,
            physical_size,
            id_len: doc.id.len() as u32,
            meta_len: doc.rev_meta.len() as u32,
            body_len: self.body_len,
            deleted: doc.deleted || doc.body.is_none(),
            content_meta: doc.content_meta,
        });
    }

    fn finish(self, writer: u64, base: u64, index: u32, update_seq: u64) -> SavedBatch {
        SavedBatch {
            writer,
            base,
            index,
            update_seq,
            docs: self.docs,
            bytes: self.bytes,
        }
    }
}

/// Batches smaller than this are not worth a prefetching thread.
const PREFETCH_MIN_DOCS: usize = 32;

/// Appends the bodies of a batch's doc infos to the file and sets their `bp` (see
/// [`Db::save_copied_entries`]).
pub(crate) type CopyBodies<'c> = &'c mut dyn FnMut(&mut CouchFile, &mut [DocInfo]) -> Result<()>;

/// What the prefetching thread needs of a batch, in id order: the ids (back to back)
/// and the new sequences.
struct PrefetchKeys {
    ids: Vec<u8>,
    ends: Vec<usize>,
    seqs: Vec<u64>,
}

impl PrefetchKeys {
    fn of(infos: &[DocInfo], order: &[usize]) -> Self {
        let mut ids = Vec::with_capacity(order.iter().map(|&i| infos[i].id.len()).sum());
        let mut ends = Vec::with_capacity(order.len());
        for &i in order {
            ids.extend_from_slice(&infos[i].id);
            ends.push(ids.len());
        }
        PrefetchKeys {
            ids,
            ends,
            seqs: order.iter().map(|&i| infos[i].db_seq).collect(),
        }
    }
}

/// The prefetching thread of [`Db::apply_entries`]: reads ahead the by-id nodes on the
/// batch's paths, finds there the sequences the batch replaces, then reads ahead the
/// by-seq nodes on the paths of those and the new sequences (the keys of the by-seq
/// plan, see [`seq_plan`]).
fn read_ahead(
    reader: &CouchFile,
    keys: &PrefetchKeys,
    id_root: &Option<NodePointer>,
    seq_root: &Option<NodePointer>,
    id_sender: NodeSender,
    seq_sender: NodeSender,
) {
    let mut seqs: Vec<u64> = Vec::with_capacity(keys.seqs.len() * 2);
    if let Some(root) = id_root {
        let ids: Vec<&[u8]> = ranges(&keys.ends).map(|r| &keys.ids[r]).collect();
        prefetch::walk(reader, root, &ids, &id_sender, &mut |_, old| {
            if let Ok(old) = by_id::ByIdValue::decode(old) {
                seqs.push(old.db_seq);
            }
        });
    }
    drop(id_sender);
    if let Some(root) = seq_root {
        seqs.extend(&keys.seqs);
        seqs.sort_unstable();
        seqs.dedup();
        let keys: Vec<[u8; by_seq::KEY_LEN]> =
            seqs.iter().map(|&s| by_seq::encode_key(s)).collect();
        prefetch::walk(reader, root, &keys, &seq_sender, &mut |_, _| {});
    }
}

/// The byte ranges of items encoded back to back, given where each ends.
fn ranges(ends: &[usize]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    ends.iter()
        .scan(0, |start, &end| Some(std::mem::replace(start, end)..end))
}

/// One change to the by-seq tree, before it is encoded.
#[derive(Clone, Copy)]
enum SeqChange {
    /// The new entry of `infos[i]`.
    Insert(usize),
    /// The removal of a replaced entry's sequence.
    Remove(u64),
}

/// The by-seq changes of a batch: the surviving documents' new entries and the removal
/// of the entries they replace, merged in sequence order (sorted as numbers, which is
/// cheaper than sorting the encoded keys); where a removal and an insert meet at one
/// sequence, the removal wins. Keys and values are encoded into `bytes`, which the plan
/// borrows.
fn seq_plan<'i>(
    infos: &'i [DocInfo],
    order: &[usize],
    old_seqs: &[Option<u64>],
    bytes: &'i mut Vec<u8>,
) -> Result<ModifyPlan<'i>> {
    // Stable, so among repeated sequences (possible only with SEQUENCE_AS_IS) the order
    // of `order` decides which one is last, as a sort of the actions would.
    let mut inserts: Vec<usize> = order.to_vec();
    inserts.sort_by_key(|&i| infos[i].db_seq);
    let mut removes: Vec<u64> = old_seqs.iter().flatten().copied().collect();
    removes.sort_unstable();
    removes.dedup();
    let mut changes = Vec::with_capacity(inserts.len() + removes.len());
    let (mut i, mut r) = (0, 0);
    while i < inserts.len() || r < removes.len() {
        let next_insert = inserts.get(i).map(|&x| infos[x].db_seq);
        match (next_insert, removes.get(r)) {
            (Some(a), Some(&b)) if b <= a => {
                changes.push(SeqChange::Remove(b));
                r += 1;
                // Inserts at the removed sequence are superseded by the removal.
                while inserts.get(i).is_some_and(|&x| infos[x].db_seq == b) {
                    i += 1;
                }
            }
            (Some(a), _) => {
                let idx = inserts[i];
                i += 1;
                // Of repeated sequences, the last one wins.
                if inserts.get(i).is_some_and(|&x| infos[x].db_seq == a) {
                    continue;
                }
                changes.push(SeqChange::Insert(idx));
            }
            (None, Some(&b)) => {
                changes.push(SeqChange::Remove(b));
                r += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    // Each change's key, then (for an insert) its value, back to back.
    bytes.clear();
    let mut ends = Vec::with_capacity(changes.len() * 2);
    for change in &changes {
        let seq = match *change {
            SeqChange::Insert(i) => infos[i].db_seq,
            SeqChange::Remove(seq) => seq,
        };
        bytes.extend_from_slice(&by_seq::encode_key(seq));
        ends.push(bytes.len());
        if let SeqChange::Insert(i) = *change {
            infos[i].by_seq_value().encode(bytes)?;
            ends.push(bytes.len());
        }
    }
    let bytes: &'i [u8] = bytes;
    let mut pieces = ranges(&ends).map(|r| Cow::Borrowed(&bytes[r]));
    let mut next = || pieces.next().expect("a range per piece");
    let actions = changes
        .iter()
        .map(|change| match change {
            SeqChange::Insert(_) => Action::Insert(next(), next()),
            SeqChange::Remove(_) => Action::Remove(next()),
        })
        .collect();
    Ok(ModifyPlan::from_sorted(actions))
}

/// Checks a document against the limits of the index fields before anything is written.
fn validate(doc: &NewDoc<'_>, options: SaveOptions) -> Result<()> {
    let too_big = doc.id.len() > MAX_KEY_LEN
        || by_id::FIXED_LEN + doc.rev_meta.len() > MAX_VALUE_LEN
        || by_seq::FIXED_LEN + doc.id.len() + doc.rev_meta.len() > MAX_VALUE_LEN
        || doc.rev_seq > MAX_U48
        || (options.sequence_as_is && doc.db_seq > MAX_U48);
    let body_too_big = doc.body.is_some_and(|b| {
        let compressed = options.compress_bodies && doc.content_meta & CONTENT_META_COMPRESSED != 0;
        let stored = if compressed {
            snap::raw::max_compress_len(b.len())
        } else {
            b.len()
        };
        stored == 0 && !b.is_empty() || stored > MAX_BODY_LEN
    });
    if too_big || body_too_big {
        Err(Error::InvalidArguments)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The prefix-keyed sort orders exactly as comparing whole ids (then the later
        /// copy of a repeated id first) does, whatever the ids share.
        #[test]
        fn sorted_by_id_is_the_byte_order(
            prefix in proptest::collection::vec(any::<u8>(), 0..12),
            tails in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..12), 0..40),
        ) {
            let infos: Vec<DocInfo> = tails
                .iter()
                .map(|t| DocInfo {
                    id: [prefix.as_slice(), t.as_slice()].concat(),
                    ..Default::default()
                })
                .collect();
            let mut expected: Vec<usize> = (0..infos.len()).collect();
            expected.sort_by(|&a, &b| infos[a].id.cmp(&infos[b].id).then(b.cmp(&a)));
            prop_assert_eq!(sorted_by_id(&infos), expected);
        }
    }
}
