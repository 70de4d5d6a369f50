//! Reading: doc infos, bodies, iteration, walks, local docs, counts.

use super::options::{CONTENT_META_COMPRESSED, ScanOptions};
use super::{Db, Doc, DocInfo, LocalDoc};
use crate::btree::count::count_range;
use crate::btree::{KeyRange, SkipLog, Step, WalkEvent, iterate, lookup_sorted, walk};
use crate::error::{Error, Result};
use crate::file::AccessTag;
use crate::format::by_seq;
use crate::format::compression::decompress_into;
use crate::format::{BySeqReduce, NodePointer};

/// Which entries an iteration reports, from the deletes-only / no-deletes options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFilter {
    /// Every entry.
    All,
    /// Deleted entries only.
    DeletesOnly,
    /// Live entries only.
    NoDeletes,
}

impl DocFilter {
    /// The filter the options ask for (both: nothing passes, as in the original).
    pub fn from_options(options: &ScanOptions) -> Option<Self> {
        match (options.deletes_only, options.no_deletes) {
            (false, false) => Some(DocFilter::All),
            (true, false) => Some(DocFilter::DeletesOnly),
            (false, true) => Some(DocFilter::NoDeletes),
            (true, true) => None,
        }
    }

    fn passes(filter: Option<Self>, info: &DocInfo) -> bool {
        match filter {
            Some(DocFilter::All) => true,
            Some(DocFilter::DeletesOnly) => info.deleted,
            Some(DocFilter::NoDeletes) => !info.deleted,
            None => false,
        }
    }
}

/// What a tree walk reports to its caller.
#[derive(Debug)]
pub enum TreeWalkItem<'a> {
    /// A node (the root first, each node before its children).
    Node {
        /// Depth (root 0).
        depth: usize,
        /// On-disk size of the node and everything below it.
        subtree_size: u64,
        /// The node's reduce value.
        reduce: &'a [u8],
    },
    /// A document (by-id and by-seq walks), one level below its leaf.
    Doc {
        /// Depth.
        depth: usize,
        /// The entry.
        info: &'a DocInfo,
    },
    /// A local document (local-tree walks).
    Local {
        /// Depth.
        depth: usize,
        /// The local document.
        doc: &'a LocalDoc,
    },
}

/// Which index an iteration runs over.
#[derive(Clone, Copy)]
enum Index {
    ById,
    BySeq,
}

impl Db {
    fn root(&self, index: Index) -> Option<&NodePointer> {
        match index {
            Index::ById => self.header.by_id_root.as_ref(),
            Index::BySeq => self.header.by_seq_root.as_ref(),
        }
    }

    /// The doc info of the document `id` (deletions included), or DOC_NOT_FOUND.
    pub fn docinfo_by_id(&self, id: &[u8]) -> Result<DocInfo> {
        self.lookup_one(Index::ById, id)
    }

    /// The doc info of the change with sequence `seq`, or DOC_NOT_FOUND.
    pub fn docinfo_by_sequence(&self, seq: u64) -> Result<DocInfo> {
        self.lookup_one(Index::BySeq, &by_seq::encode_key(seq))
    }

    fn lookup_one(&self, index: Index, key: &[u8]) -> Result<DocInfo> {
        let file = self.file()?;
        let mut result = None;
        lookup_sorted(
            file,
            self.root(index),
            file.end(),
            &[key],
            &mut |_, value| {
                result = Some(match index {
                    Index::ById => DocInfo::from_by_id(key, value)?,
                    Index::BySeq => DocInfo::from_by_seq(key, value)?,
                });
                Ok(Step::Stop)
            },
        )?;
        result.ok_or(Error::DocNotFound)
    }

    /// The body of the document `info` describes: as stored, or decompressed when
    /// `decompress` is set and the content_meta compression bit is. A deletion without
    /// a body is DOC_NOT_FOUND.
    pub fn open_doc_with_docinfo(&self, info: &DocInfo, decompress: bool) -> Result<Doc> {
        Ok(Doc {
            id: info.id.clone(),
            data: self.read_doc_body(info.bp, info.content_meta, decompress)?,
        })
    }

    /// The body stored at `bp` (0: DOC_NOT_FOUND), decompressed when `decompress` is set
    /// and `content_meta` has the compression bit.
    pub fn read_doc_body(&self, bp: u64, content_meta: u8, decompress: bool) -> Result<Vec<u8>> {
        if bp == 0 {
            return Err(Error::DocNotFound);
        }
        let mut data = Vec::new();
        self.file()?
            .read_tagged(AccessTag::Document, bp, &mut data)?;
        if decompress && content_meta & CONTENT_META_COMPRESSED != 0 {
            let mut plain = Vec::new();
            decompress_into(&data, &mut plain)?;
            data = plain;
        }
        Ok(data)
    }

    /// The document `id`: DOC_NOT_FOUND when missing or deleted without a body.
    pub fn open_document(&self, id: &[u8], decompress: bool) -> Result<Doc> {
        let info = self.docinfo_by_id(id)?;
        self.open_doc_with_docinfo(&info, decompress)
    }

    fn iterate_index(
        &self,
        index: Index,
        range: KeyRange<'_>,
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        let file = self.file()?;
        let filter = DocFilter::from_options(&options);
        let tolerate = options.tolerate_corruption;
        let mut skips = SkipLog::default();
        let mut info = DocInfo::default();
        iterate(
            file,
            self.root(index),
            file.end(),
            range,
            tolerate.then_some(&mut skips),
            &mut |k, v| {
                let decoded = match index {
                    Index::ById => info.set_from_by_id(k, v),
                    Index::BySeq => info.set_from_by_seq(k, v),
                };
                match decoded {
                    Ok(()) => {}
                    Err(_) if tolerate => return Ok(Step::Continue),
                    Err(e) => return Err(e),
                }
                if DocFilter::passes(filter, &info) {
                    f(&info)
                } else {
                    Ok(Step::Continue)
                }
            },
        )
    }

    /// Calls `f` for every change with sequence ≥ `since`, in sequence order.
    /// `options`: deletes only, no deletes, tolerate corruption.
    pub fn changes_since(
        &self,
        since: u64,
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        let start = by_seq::encode_key(since);
        self.iterate_index(Index::BySeq, KeyRange::from(&start), options, f)
    }

    /// Calls `f` for every document with id ≥ `start` (all when `None`), in id order.
    pub fn all_docs(
        &self,
        start: Option<&[u8]>,
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        let range = KeyRange { start, end: None };
        self.iterate_index(Index::ById, range, options, f)
    }

    /// Calls `f` for each of `ids` that exists, in id order. With `ranges`, `ids` are pairs
    /// of inclusive bounds and every document in them is reported; an odd last id starts
    /// a range that runs to the end.
    pub fn docinfos_by_id(
        &self,
        ids: &[&[u8]],
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        self.docinfos(Index::ById, ids, options, f)
    }

    /// Calls `f` for each of `seqs` that exists, in sequence order; `ranges` as for ids.
    pub fn docinfos_by_sequence(
        &self,
        seqs: &[u64],
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        let keys: Vec<[u8; 6]> = seqs.iter().map(|&s| by_seq::encode_key(s)).collect();
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        self.docinfos(Index::BySeq, &keys, options, f)
    }

    fn docinfos(
        &self,
        index: Index,
        keys: &[&[u8]],
        options: ScanOptions,
        f: &mut dyn FnMut(&DocInfo) -> Result<Step>,
    ) -> Result<()> {
        if options.ranges {
            // An unpaired last key starts a range that runs to the end of the tree, as
            // the original's (its python binding's forEachDoc(start, None) relies on it).
            for pair in keys.chunks(2) {
                let range = match *pair {
                    [start, end] => KeyRange::between(start, end),
                    [start] => KeyRange {
                        start: Some(start),
                        end: None,
                    },
                    _ => unreachable!("chunks of at most two"),
                };
                let mut stopped = false;
                self.iterate_index(index, range, options, &mut |i| {
                    let step = f(i)?;
                    stopped = step == Step::Stop;
                    Ok(step)
                })?;
                if stopped {
                    break;
                }
            }
            return Ok(());
        }
        let file = self.file()?;
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let filter = DocFilter::from_options(&options);
        let mut info = DocInfo::default();
        lookup_sorted(
            file,
            self.root(index),
            file.end(),
            &sorted,
            &mut |i, value| {
                match index {
                    Index::ById => info.set_from_by_id(sorted[i], value)?,
                    Index::BySeq => info.set_from_by_seq(sorted[i], value)?,
                }
                if DocFilter::passes(filter, &info) {
                    f(&info)
                } else {
                    Ok(Step::Continue)
                }
            },
        )
    }

    /// The number of changes with sequence in `[min, max]`, from the by-seq reduce
    /// values (whole subtrees inside the range are not read).
    pub fn changes_count(&self, min: u64, max: u64) -> Result<u64> {
        let file = self.file()?;
        let lo = by_seq::encode_key(min);
        let hi = by_seq::encode_key(max.min(crate::format::bits::MAX_U48));
        count_range(
            file,
            self.header.by_seq_root.as_ref(),
            file.end(),
            &lo,
            &hi,
            &|raw| Ok(BySeqReduce::decode(raw)?.count),
        )
    }

    /// The local document `id`, or DOC_NOT_FOUND.
    pub fn open_local_document(&self, id: &[u8]) -> Result<LocalDoc> {
        let file = self.file()?;
        let mut found = None;
        lookup_sorted(
            file,
            self.header.local_root.as_ref(),
            file.end(),
            &[id],
            &mut |_, value| {
                found = Some(LocalDoc {
                    id: id.to_vec(),
                    json: value.to_vec(),
                    deleted: false,
                });
                Ok(Step::Stop)
            },
        )?;
        found.ok_or(Error::DocNotFound)
    }

    /// Walks the by-id tree from `start`: every node (before its children) and every
    /// document passing the deletes-only / no-deletes options.
    pub fn walk_id_tree(
        &self,
        start: Option<&[u8]>,
        options: ScanOptions,
        f: &mut dyn FnMut(TreeWalkItem<'_>) -> Result<Step>,
    ) -> Result<()> {
        self.walk_index(Index::ById, start, options, f)
    }

    /// Walks the by-seq tree from sequence `start`.
    pub fn walk_seq_tree(
        &self,
        start: u64,
        options: ScanOptions,
        f: &mut dyn FnMut(TreeWalkItem<'_>) -> Result<Step>,
    ) -> Result<()> {
        let key = by_seq::encode_key(start);
        self.walk_index(Index::BySeq, Some(&key), options, f)
    }

    fn walk_index(
        &self,
        index: Index,
        start: Option<&[u8]>,
        options: ScanOptions,
        f: &mut dyn FnMut(TreeWalkItem<'_>) -> Result<Step>,
    ) -> Result<()> {
        let file = self.file()?;
        let filter = DocFilter::from_options(&options);
        let tolerate = options.tolerate_corruption;
        let mut skips = SkipLog::default();
        let mut info = DocInfo::default();
        walk(
            file,
            self.root(index),
            file.end(),
            start,
            tolerate.then_some(&mut skips),
            &mut |event| match event {
                WalkEvent::Node {
                    depth,
                    subtree_size,
                    reduce,
                } => f(TreeWalkItem::Node {
                    depth,
                    subtree_size,
                    reduce,
                }),
                WalkEvent::Entry { depth, key, value } => {
                    let decoded = match index {
                        Index::ById => info.set_from_by_id(key, value),
                        Index::BySeq => info.set_from_by_seq(key, value),
                    };
                    // The same skip as iteration's: a bad entry is passed over.
                    match decoded {
                        Ok(()) => {}
                        Err(_) if tolerate => return Ok(Step::Continue),
                        Err(e) => return Err(e),
                    }
                    if DocFilter::passes(filter, &info) {
                        f(TreeWalkItem::Doc { depth, info: &info })
                    } else {
                        Ok(Step::Continue)
                    }
                }
            },
        )
    }

    /// Walks the local-documents tree from `start`.
    pub fn walk_local_tree(
        &self,
        start: Option<&[u8]>,
        f: &mut dyn FnMut(TreeWalkItem<'_>) -> Result<Step>,
    ) -> Result<()> {
        let file = self.file()?;
        let mut doc = LocalDoc::default();
        walk(
            file,
            self.header.local_root.as_ref(),
            file.end(),
            start,
            None,
            &mut |event| match event {
                WalkEvent::Node {
                    depth,
                    subtree_size,
                    reduce,
                } => f(TreeWalkItem::Node {
                    depth,
                    subtree_size,
                    reduce,
                }),
                WalkEvent::Entry { depth, key, value } => {
                    doc.id.clear();
                    doc.id.extend_from_slice(key);
                    doc.json.clear();
                    doc.json.extend_from_slice(value);
                    f(TreeWalkItem::Local { depth, doc: &doc })
                }
            },
        )
    }
}
