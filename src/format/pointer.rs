//! Node pointers: where a child node is, how much disk its subtree takes, and the
//! reduce value summarising it.

use super::bits::{ByteReader, MAX_U48, push_be};
use crate::error::{Error, Result};

/// A pointer to a B-tree node, as stored in interior nodes and in the file header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodePointer {
    /// File position of the node's chunk.
    pub pos: u64,
    /// Disk size of the subtree: for a leaf, its stored chunk size; for an interior node,
    /// its own stored size plus the subtree sizes of its children.
    pub subtree_size: u64,
    /// The tree-specific reduce value of the subtree.
    pub reduce: Vec<u8>,
}

/// Size of position + subtree size.
const FIXED_LEN: usize = 12;

impl NodePointer {
    /// Size of the root form (no reduce length; the header gives the total size).
    pub fn root_len(&self) -> usize {
        FIXED_LEN + self.reduce.len()
    }

    /// Size of the interior-node form (with a 16-bit reduce length).
    pub fn interior_len(&self) -> usize {
        FIXED_LEN + 2 + self.reduce.len()
    }

    fn push_fixed(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.pos > MAX_U48 || self.subtree_size > MAX_U48 {
            return Err(Error::InvalidArguments);
        }
        push_be(out, self.pos, 6);
        push_be(out, self.subtree_size, 6);
        Ok(())
    }

    /// Appends the root form, as embedded in a file header.
    pub fn encode_root(&self, out: &mut Vec<u8>) -> Result<()> {
        self.push_fixed(out)?;
        out.extend_from_slice(&self.reduce);
        Ok(())
    }

    /// Decodes the root form; `raw` is exactly the root's bytes.
    pub fn decode_root(raw: &[u8]) -> Result<Self> {
        let mut r = ByteReader::new(raw);
        let pos = r.be(6)?;
        let subtree_size = r.be(6)?;
        Ok(NodePointer {
            pos,
            subtree_size,
            reduce: r.rest().to_vec(),
        })
    }

    /// Appends the interior-node form (the value of a key/pointer item).
    pub fn encode_interior(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.reduce.len() > u16::MAX as usize {
            return Err(Error::ReductionTooLarge);
        }
        self.push_fixed(out)?;
        push_be(out, self.reduce.len() as u64, 2);
        out.extend_from_slice(&self.reduce);
        Ok(())
    }

    /// Decodes the interior-node form; the reduce length must match the value exactly.
    pub fn decode_interior(raw: &[u8]) -> Result<Self> {
        let p = InteriorPointer::parse(raw)?;
        Ok(NodePointer {
            pos: p.pos,
            subtree_size: p.subtree_size,
            reduce: p.reduce.to_vec(),
        })
    }
}

/// The interior-node form of a pointer, borrowed from the node: what writing a parent
/// needs (sizes and reduce values of its children) without copying anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteriorPointer<'a> {
    /// File position of the child's chunk.
    pub pos: u64,
    /// Disk size of the child's subtree.
    pub subtree_size: u64,
    /// The child's reduce value.
    pub reduce: &'a [u8],
}

impl<'a> InteriorPointer<'a> {
    /// Parses a key/pointer item's value; the reduce length must match it exactly.
    pub fn parse(raw: &'a [u8]) -> Result<Self> {
        let mut r = ByteReader::new(raw);
        let pos = r.be(6)?;
        let subtree_size = r.be(6)?;
        let reduce_len = r.be(2)? as usize;
        let reduce = r.take(reduce_len)?;
        if !r.is_empty() {
            return Err(Error::Corrupt);
        }
        Ok(InteriorPointer {
            pos,
            subtree_size,
            reduce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(pos in 0..=MAX_U48, size in 0..=MAX_U48, reduce in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = NodePointer { pos, subtree_size: size, reduce };
            let mut a = Vec::new();
            p.encode_root(&mut a).unwrap();
            prop_assert_eq!(a.len(), p.root_len());
            prop_assert_eq!(NodePointer::decode_root(&a).unwrap(), p.clone());
            let mut b = Vec::new();
            p.encode_interior(&mut b).unwrap();
            prop_assert_eq!(b.len(), p.interior_len());
            prop_assert_eq!(NodePointer::decode_interior(&b).unwrap(), p);
        }

        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = NodePointer::decode_root(&raw);
            let _ = NodePointer::decode_interior(&raw);
        }
    }
}
