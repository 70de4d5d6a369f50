//! By-id index values: sequence, body disk size, deleted flag, body position, revision
//! sequence, content meta, then the revision metadata to the end of the value.
//! (`file_format.md` lists content meta before the revision sequence; the files the
//! original writes have it after, and the golden files decide.)

use super::bits::{ByteReader, Flag1x47, MAX_U48, push_be};
use crate::error::{Error, Result};

/// A by-id leaf value, borrowing its revision metadata from the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByIdValue<'a> {
    /// Sequence number of the document's last change.
    pub db_seq: u64,
    /// Disk size of the stored body (32 bits).
    pub physical_size: u64,
    /// Whether the entry is a deletion.
    pub deleted: bool,
    /// File position of the body chunk (47 bits; 0 for a deletion without a body).
    pub bp: u64,
    /// Content meta flags (bit 0x80: body stored Snappy-compressed).
    pub content_meta: u8,
    /// Revision sequence (48 bits).
    pub rev_seq: u64,
    /// Revision metadata, uninterpreted.
    pub rev_meta: &'a [u8],
}

/// Size of the fixed fields.
pub const FIXED_LEN: usize = 6 + 4 + 6 + 1 + 6;

impl<'a> ByIdValue<'a> {
    /// Appends the encoded value; out-of-range fields are INVALID_ARGUMENTS.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.db_seq > MAX_U48 || self.rev_seq > MAX_U48 || self.physical_size > u32::MAX as u64 {
            return Err(Error::InvalidArguments);
        }
        let flagged = Flag1x47 {
            flag: self.deleted,
            value: self.bp,
        }
        .encode()?;
        out.reserve(FIXED_LEN + self.rev_meta.len());
        push_be(out, self.db_seq, 6);
        push_be(out, self.physical_size, 4);
        out.extend_from_slice(&flagged);
        push_be(out, self.rev_seq, 6);
        out.push(self.content_meta);
        out.extend_from_slice(self.rev_meta);
        Ok(())
    }

    /// Just what the by-id reduce counts: whether the entry is a deletion, and its
    /// physical size (read in place, without decoding the rest).
    pub fn summary(raw: &[u8]) -> Result<(bool, u64)> {
        if raw.len() < FIXED_LEN {
            return Err(Error::Corrupt);
        }
        let size = u32::from_be_bytes(raw[6..10].try_into().expect("4 bytes"));
        Ok((raw[10] & 0x80 != 0, u64::from(size)))
    }

    /// Decodes a value; one shorter than the fixed fields is CORRUPT.
    pub fn decode(raw: &'a [u8]) -> Result<Self> {
        let mut r = ByteReader::new(raw);
        let db_seq = r.be(6)?;
        let physical_size = r.be(4)?;
        let flagged = Flag1x47::decode(r.take(6)?.try_into().map_err(|_| Error::Corrupt)?);
        let rev_seq = r.be(6)?;
        let content_meta = r.be(1)? as u8;
        Ok(ByIdValue {
            db_seq,
            physical_size,
            deleted: flagged.flag,
            bp: flagged.value,
            content_meta,
            rev_seq,
            rev_meta: r.rest(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bits::MAX_U47;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(seq in 0..=MAX_U48, size in 0..=u32::MAX as u64, deleted in any::<bool>(),
                      bp in 0..=MAX_U47, cm in any::<u8>(), rev in 0..=MAX_U48,
                      meta in proptest::collection::vec(any::<u8>(), 0..40)) {
            let v = ByIdValue { db_seq: seq, physical_size: size, deleted, bp, content_meta: cm, rev_seq: rev, rev_meta: &meta };
            let mut out = Vec::new();
            v.encode(&mut out).unwrap();
            prop_assert_eq!(out.len(), FIXED_LEN + meta.len());
            prop_assert_eq!(ByIdValue::decode(&out).unwrap(), v);
            prop_assert_eq!(ByIdValue::summary(&out).unwrap(), (deleted, size));
        }

        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(ByIdValue::decode(&raw).is_ok(), raw.len() >= FIXED_LEN);
        }
    }
}
