//! The file header: format version, sequence counters, the three tree roots and (from
//! format 13) a timestamp.

use super::bits::{ByteReader, MAX_U48, push_be};
use super::pointer::NodePointer;
use crate::error::{Error, Result};

/// On-disk format versions this library reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FormatVersion;

impl FormatVersion {
    /// CRC32 chunks.
    pub const V11: u8 = 11;
    /// CRC32C chunks.
    pub const V12: u8 = 12;
    /// CRC32C chunks and a commit timestamp in the header.
    pub const V13: u8 = 13;
    /// The version new files get unless legacy CRC is asked for.
    pub const CURRENT: u8 = Self::V13;

    /// Whether this library handles `version`.
    pub fn is_supported(version: u8) -> bool {
        (Self::V11..=Self::V13).contains(&version)
    }
}

/// A decoded file header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Format version (11, 12 or 13).
    pub version: u8,
    /// The last sequence number assigned.
    pub update_seq: u64,
    /// The purge counter.
    pub purge_seq: u64,
    /// The purged-documents pointer (unused; carried as found).
    pub purge_ptr: u64,
    /// Root of the by-sequence tree, if it has any entries.
    pub by_seq_root: Option<NodePointer>,
    /// Root of the by-id tree.
    pub by_id_root: Option<NodePointer>,
    /// Root of the local-documents tree.
    pub local_root: Option<NodePointer>,
    /// Commit time in nanoseconds since the epoch (format 13; 0 before).
    pub timestamp: u64,
}

/// Fixed part of a header body before the optional timestamp.
const FIXED_LEN: usize = 1 + 6 * 3 + 2 * 3;

impl Header {
    /// An empty header of the given format.
    pub fn new(version: u8) -> Self {
        Header {
            version,
            ..Header::default()
        }
    }

    /// Encodes the header body (what the header chunk's checksum covers).
    pub fn encode(&self) -> Result<Vec<u8>> {
        if !FormatVersion::is_supported(self.version) {
            return Err(Error::HeaderVersion);
        }
        for v in [self.update_seq, self.purge_seq, self.purge_ptr] {
            if v > MAX_U48 {
                return Err(Error::InvalidArguments);
            }
        }
        let roots = [&self.by_seq_root, &self.by_id_root, &self.local_root];
        let mut out = Vec::with_capacity(FIXED_LEN + 8 + 3 * 28);
        out.push(self.version);
        push_be(&mut out, self.update_seq, 6);
        push_be(&mut out, self.purge_seq, 6);
        push_be(&mut out, self.purge_ptr, 6);
        for root in roots {
            let len = root.as_ref().map_or(0, NodePointer::root_len);
            if len > u16::MAX as usize {
                return Err(Error::ReductionTooLarge);
            }
            push_be(&mut out, len as u64, 2);
        }
        if self.version >= FormatVersion::V13 {
            push_be(&mut out, self.timestamp, 8);
        }
        for root in roots.into_iter().flatten() {
            root.encode_root(&mut out)?;
        }
        Ok(out)
    }

    /// Decodes a header body. An unsupported version is HEADER_VERSION; a body too short
    /// for what it declares is CORRUPT. Bytes after the last root are ignored.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let version = *body.first().ok_or(Error::Corrupt)?;
        if !FormatVersion::is_supported(version) {
            return Err(Error::HeaderVersion);
        }
        let mut r = ByteReader::new(&body[1..]);
        let update_seq = r.be(6)?;
        let purge_seq = r.be(6)?;
        let purge_ptr = r.be(6)?;
        let seq_len = r.be(2)? as usize;
        let id_len = r.be(2)? as usize;
        let local_len = r.be(2)? as usize;
        let timestamp = if version >= FormatVersion::V13 {
            r.be(8)?
        } else {
            0
        };
        let mut root = |len: usize| -> Result<Option<NodePointer>> {
            match len {
                0 => Ok(None),
                1..12 => Err(Error::Corrupt),
                _ => NodePointer::decode_root(r.take(len)?).map(Some),
            }
        };
        let by_seq_root = root(seq_len)?;
        let by_id_root = root(id_len)?;
        let local_root = root(local_len)?;
        Ok(Header {
            version,
            update_seq,
            purge_seq,
            purge_ptr,
            by_seq_root,
            by_id_root,
            local_root,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fresh_headers_match_golden_sizes() {
        assert_eq!(Header::new(11).encode().unwrap().len(), 25);
        assert_eq!(Header::new(13).encode().unwrap().len(), 33);
        assert_eq!(Header::decode(&[14; 40]), Err(Error::HeaderVersion));
        assert_eq!(Header::decode(&[10; 40]), Err(Error::HeaderVersion));
        assert_eq!(Header::decode(&[13; 10]), Err(Error::Corrupt));
    }

    fn arb_root() -> impl Strategy<Value = Option<NodePointer>> {
        proptest::option::of(
            (
                0..=MAX_U48,
                0..=MAX_U48,
                proptest::collection::vec(any::<u8>(), 0..20),
            )
                .prop_map(|(pos, subtree_size, reduce)| NodePointer {
                    pos,
                    subtree_size,
                    reduce,
                }),
        )
    }

    proptest! {
        #[test]
        fn round_trip(version in 11u8..=13, u in 0..=MAX_U48, p in 0..=MAX_U48, ts in any::<u64>(),
                      a in arb_root(), b in arb_root(), c in arb_root()) {
            let h = Header { version, update_seq: u, purge_seq: p, purge_ptr: 0, by_seq_root: a,
                             by_id_root: b, local_root: c, timestamp: if version >= 13 { ts } else { 0 } };
            prop_assert_eq!(Header::decode(&h.encode().unwrap()).unwrap(), h);
        }

        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Header::decode(&raw);
        }
    }
}
