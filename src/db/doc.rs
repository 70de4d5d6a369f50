//! Document types of the safe API.

use crate::error::Result;
use crate::format::by_id::ByIdValue;
use crate::format::by_seq::{self, BySeqValue};

/// A document's metadata, as kept in the by-id and by-seq indexes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocInfo {
    /// The document id.
    pub id: Vec<u8>,
    /// Sequence number of the change.
    pub db_seq: u64,
    /// Revision number.
    pub rev_seq: u64,
    /// Revision metadata (uninterpreted).
    pub rev_meta: Vec<u8>,
    /// Whether this is a deletion.
    pub deleted: bool,
    /// Content meta flags (0x80: body stored compressed).
    pub content_meta: u8,
    /// Position of the body chunk (0: no body).
    pub bp: u64,
    /// Disk space the stored body occupies.
    pub physical_size: u64,
}

impl DocInfo {
    /// Fills `self` from a by-id entry, reusing its buffers.
    pub(crate) fn set_from_by_id(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let v = ByIdValue::decode(value)?;
        self.fill(
            key,
            v.db_seq,
            v.rev_meta,
            (v.rev_seq, v.deleted, v.content_meta, v.bp, v.physical_size),
        );
        Ok(())
    }

    /// Fills `self` from a by-seq entry, reusing its buffers.
    pub(crate) fn set_from_by_seq(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let seq = by_seq::decode_key(key)?;
        let v = BySeqValue::decode(value)?;
        self.fill(
            v.id,
            seq,
            v.rev_meta,
            (v.rev_seq, v.deleted, v.content_meta, v.bp, v.physical_size),
        );
        Ok(())
    }

    /// The fields both indexes share: (rev_seq, deleted, content_meta, bp, physical_size).
    fn fill(&mut self, id: &[u8], db_seq: u64, rev_meta: &[u8], fields: (u64, bool, u8, u64, u64)) {
        self.id.clear();
        self.id.extend_from_slice(id);
        self.rev_meta.clear();
        self.rev_meta.extend_from_slice(rev_meta);
        self.db_seq = db_seq;
        (
            self.rev_seq,
            self.deleted,
            self.content_meta,
            self.bp,
            self.physical_size,
        ) = fields;
    }

    /// This doc info as a by-id index value.
    pub(crate) fn by_id_value(&self) -> ByIdValue<'_> {
        ByIdValue {
            db_seq: self.db_seq,
            physical_size: self.physical_size,
            deleted: self.deleted,
            bp: self.bp,
            content_meta: self.content_meta,
            rev_seq: self.rev_seq,
            rev_meta: &self.rev_meta,
        }
    }

    /// This doc info as a by-seq index value.
    pub(crate) fn by_seq_value(&self) -> BySeqValue<'_> {
        BySeqValue {
            id: &self.id,
            physical_size: self.physical_size,
            deleted: self.deleted,
            bp: self.bp,
            content_meta: self.content_meta,
            rev_seq: self.rev_seq,
            rev_meta: &self.rev_meta,
        }
    }

    /// A new doc info from a by-id entry.
    pub(crate) fn from_by_id(key: &[u8], value: &[u8]) -> Result<Self> {
        let mut info = DocInfo::default();
        info.set_from_by_id(key, value)?;
        Ok(info)
    }

    /// A new doc info from a by-seq entry.
    pub(crate) fn from_by_seq(key: &[u8], value: &[u8]) -> Result<Self> {
        let mut info = DocInfo::default();
        info.set_from_by_seq(key, value)?;
        Ok(info)
    }
}

/// A document: id and body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Doc {
    /// The document id.
    pub id: Vec<u8>,
    /// The body.
    pub data: Vec<u8>,
}

/// A local (unreplicated, unsequenced) document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalDoc {
    /// The id (by convention starting with `_local/`).
    pub id: Vec<u8>,
    /// The JSON body.
    pub json: Vec<u8>,
    /// When saving: delete the local document instead.
    pub deleted: bool,
}

/// Facts about the database as of the handle's current header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbInfo {
    /// The path the handle was opened with.
    pub filename: String,
    /// The last sequence number assigned.
    pub last_sequence: u64,
    /// Live documents.
    pub doc_count: u64,
    /// Deleted documents (tombstones).
    pub deleted_count: u64,
    /// Disk space used by live data: body sizes plus the three trees' sizes.
    pub space_used: u64,
    /// The file's size as the handle knows it.
    pub file_size: u64,
    /// Position of the current header.
    pub header_position: u64,
    /// The purge sequence.
    pub purge_seq: u64,
}
