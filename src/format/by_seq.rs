//! By-seq index keys (48-bit sequence numbers) and values: packed id length and body
//! size, deleted flag and body position, revision sequence, content meta, the id, then
//! the revision metadata to the end of the value (same order as by-id values).

use super::bits::{ByteReader, Flag1x47, Lengths12x28, MAX_U48, get_be, push_be};
use crate::error::{Error, Result};

/// Size of a by-seq key.
pub const KEY_LEN: usize = 6;

/// Encodes a sequence number as a by-seq key.
pub fn encode_key(seq: u64) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    super::bits::put_be(&mut out, seq);
    out
}

/// Decodes a by-seq key; any size but 6 bytes is CORRUPT.
pub fn decode_key(raw: &[u8]) -> Result<u64> {
    if raw.len() != KEY_LEN {
        return Err(Error::Corrupt);
    }
    Ok(get_be(raw))
}

/// A by-seq leaf value, borrowing the id and revision metadata from the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BySeqValue<'a> {
    /// The document id.
    pub id: &'a [u8],
    /// Disk size of the stored body (28 bits).
    pub physical_size: u64,
    /// Whether this change is a deletion.
    pub deleted: bool,
    /// File position of the body chunk.
    pub bp: u64,
    /// Content meta flags.
    pub content_meta: u8,
    /// Revision sequence.
    pub rev_seq: u64,
    /// Revision metadata.
    pub rev_meta: &'a [u8],
}

/// Size of the fixed fields.
pub const FIXED_LEN: usize = 5 + 6 + 1 + 6;

impl<'a> BySeqValue<'a> {
    /// Appends the encoded value; out-of-range fields are INVALID_ARGUMENTS.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.rev_seq > MAX_U48 {
            return Err(Error::InvalidArguments);
        }
        let lens = Lengths12x28 {
            first: self.id.len(),
            second: usize::try_from(self.physical_size).map_err(|_| Error::InvalidArguments)?,
        }
        .encode()?;
        let flagged = Flag1x47 {
            flag: self.deleted,
            value: self.bp,
        }
        .encode()?;
        out.reserve(FIXED_LEN + self.id.len() + self.rev_meta.len());
        out.extend_from_slice(&lens);
        out.extend_from_slice(&flagged);
        push_be(out, self.rev_seq, 6);
        out.push(self.content_meta);
        out.extend_from_slice(self.id);
        out.extend_from_slice(self.rev_meta);
        Ok(())
    }

    /// Decodes a value; one too short for its fields and id is CORRUPT.
    pub fn decode(raw: &'a [u8]) -> Result<Self> {
        let mut r = ByteReader::new(raw);
        let lens = Lengths12x28::decode(r.take(5)?.try_into().map_err(|_| Error::Corrupt)?);
        let flagged = Flag1x47::decode(r.take(6)?.try_into().map_err(|_| Error::Corrupt)?);
        let rev_seq = r.be(6)?;
        let content_meta = r.be(1)? as u8;
        let id = r.take(lens.first)?;
        Ok(BySeqValue {
            id,
            physical_size: lens.second as u64,
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
    use crate::format::bits::{MAX_KEY_LEN, MAX_U47, MAX_VALUE_LEN};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(id in proptest::collection::vec(any::<u8>(), 0..60), size in 0..=MAX_VALUE_LEN as u64,
                      deleted in any::<bool>(), bp in 0..=MAX_U47, cm in any::<u8>(), rev in 0..=MAX_U48,
                      meta in proptest::collection::vec(any::<u8>(), 0..40), seq in 0..=MAX_U48) {
            let v = BySeqValue { id: &id, physical_size: size, deleted, bp, content_meta: cm, rev_seq: rev, rev_meta: &meta };
            let mut out = Vec::new();
            v.encode(&mut out).unwrap();
            prop_assert_eq!(BySeqValue::decode(&out).unwrap(), v);
            prop_assert_eq!(decode_key(&encode_key(seq)).unwrap(), seq);
        }

        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..60)) {
            let _ = BySeqValue::decode(&raw);
            let _ = decode_key(&raw);
        }
    }

    #[test]
    fn too_long_fields_are_refused() {
        let long_id = vec![0u8; MAX_KEY_LEN + 1];
        let v = BySeqValue {
            id: &long_id,
            physical_size: 0,
            deleted: false,
            bp: 0,
            content_meta: 0,
            rev_seq: 0,
            rev_meta: &[],
        };
        assert_eq!(v.encode(&mut Vec::new()), Err(Error::InvalidArguments));
        let v = BySeqValue {
            id: b"a",
            physical_size: 1 << 28,
            ..v
        };
        assert_eq!(v.encode(&mut Vec::new()), Err(Error::InvalidArguments));
    }
}
