//! Reduce values: the per-subtree summaries kept in node pointers.
//! By-id: 40-bit live count, 40-bit deleted count, 48-bit total body disk size.
//! By-seq: 40-bit entry count. The local tree has an empty reduce value.

use super::bits::{MAX_U40, MAX_U48, get_be, put_be};
use crate::error::{Error, Result};

/// The by-id tree's reduce value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByIdReduce {
    /// Entries not flagged deleted.
    pub not_deleted: u64,
    /// Entries flagged deleted.
    pub deleted: u64,
    /// Sum of the entries' physical body sizes.
    pub size: u64,
}

impl ByIdReduce {
    /// Encoded size.
    pub const SIZE: usize = 16;

    /// Encodes the value; counters beyond their field widths are REDUCTION_TOO_LARGE.
    pub fn encode(&self) -> Result<[u8; 16]> {
        if self.not_deleted > MAX_U40 || self.deleted > MAX_U40 || self.size > MAX_U48 {
            return Err(Error::ReductionTooLarge);
        }
        let mut out = [0u8; 16];
        put_be(&mut out[0..5], self.not_deleted);
        put_be(&mut out[5..10], self.deleted);
        put_be(&mut out[10..16], self.size);
        Ok(out)
    }

    /// Decodes the value; any size but 16 bytes is CORRUPT.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        if raw.len() != Self::SIZE {
            return Err(Error::Corrupt);
        }
        Ok(ByIdReduce {
            not_deleted: get_be(&raw[0..5]),
            deleted: get_be(&raw[5..10]),
            size: get_be(&raw[10..16]),
        })
    }

    /// Adds another subtree's summary.
    pub fn add(&mut self, other: &ByIdReduce) {
        self.not_deleted += other.not_deleted;
        self.deleted += other.deleted;
        self.size += other.size;
    }
}

/// The by-seq tree's reduce value: the number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BySeqReduce {
    /// Entries in the subtree.
    pub count: u64,
}

impl BySeqReduce {
    /// Encoded size.
    pub const SIZE: usize = 5;

    /// Encodes the value.
    pub fn encode(&self) -> Result<[u8; 5]> {
        if self.count > MAX_U40 {
            return Err(Error::ReductionTooLarge);
        }
        let mut out = [0u8; 5];
        put_be(&mut out, self.count);
        Ok(out)
    }

    /// Decodes the value; any size but 5 bytes is CORRUPT.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        if raw.len() != Self::SIZE {
            return Err(Error::Corrupt);
        }
        Ok(BySeqReduce { count: get_be(raw) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(a in 0..=MAX_U40, b in 0..=MAX_U40, s in 0..=MAX_U48) {
            let r = ByIdReduce { not_deleted: a, deleted: b, size: s };
            prop_assert_eq!(ByIdReduce::decode(&r.encode().unwrap()).unwrap(), r);
            let q = BySeqReduce { count: a };
            prop_assert_eq!(BySeqReduce::decode(&q.encode().unwrap()).unwrap(), q);
        }

        #[test]
        fn wrong_sizes_are_corrupt(raw in proptest::collection::vec(any::<u8>(), 0..30)) {
            prop_assert_eq!(ByIdReduce::decode(&raw).is_ok(), raw.len() == 16);
            prop_assert_eq!(BySeqReduce::decode(&raw).is_ok(), raw.len() == 5);
        }
    }
}
