//! B-tree nodes in their uncompressed form: a kind byte (1 = leaf/key-value,
//! 0 = interior/key-pointer), then items, each a packed 12-bit key length and 28-bit
//! value length, the key, and the value.

use super::bits::{ByteReader, Lengths12x28};
use crate::error::{Error, Result};

/// The two kinds of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Key/pointer node: values are [`super::NodePointer`]s.
    Interior = 0,
    /// Key/value node: values are the index's entries.
    Leaf = 1,
}

/// Extra bytes an item costs beyond its key and value (the packed lengths).
pub const ITEM_OVERHEAD: usize = Lengths12x28::SIZE;

/// Reads the items of an uncompressed node.
#[derive(Debug, Clone)]
pub struct NodeReader<'a> {
    kind: NodeKind,
    items: ByteReader<'a>,
}

impl<'a> NodeReader<'a> {
    /// Starts reading a node; an unknown kind byte is CORRUPT.
    pub fn new(node: &'a [u8]) -> Result<Self> {
        let (&kind, items) = node.split_first().ok_or(Error::Corrupt)?;
        let kind = match kind {
            0 => NodeKind::Interior,
            1 => NodeKind::Leaf,
            _ => return Err(Error::Corrupt),
        };
        Ok(NodeReader {
            kind,
            items: ByteReader::new(items),
        })
    }

    /// Resumes reading `node` at byte `offset` (as returned by [`Self::offset`]).
    pub fn resume(node: &'a [u8], offset: usize) -> Result<Self> {
        let mut reader = Self::new(node)?;
        let rest = node.get(offset.max(1)..).ok_or(Error::Corrupt)?;
        reader.items = ByteReader::new(rest);
        Ok(reader)
    }

    /// Reads items as they are encoded in a node, without its kind byte: a run of a
    /// node's items (a sub-slice starting at an item boundary).
    pub fn encoded_items(kind: NodeKind, items: &'a [u8]) -> Self {
        NodeReader {
            kind,
            items: ByteReader::new(items),
        }
    }

    /// How far into `node` (the slice this reader was made from) reading has got.
    pub fn offset(&self, node: &[u8]) -> usize {
        node.len() - self.items.rest().len()
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.kind
    }
}

impl<'a> Iterator for NodeReader<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.items.is_empty() {
            return None;
        }
        let item = (|| {
            let raw: &[u8; 5] = self.items.take(5)?.try_into().map_err(|_| Error::Corrupt)?;
            let lens = Lengths12x28::decode(raw);
            let key = self.items.take(lens.first)?;
            let value = self.items.take(lens.second)?;
            Ok((key, value))
        })();
        if item.is_err() {
            // Stop after the first error: the rest of the node cannot be trusted.
            self.items = ByteReader::new(&[]);
        }
        Some(item)
    }
}

/// Builds an uncompressed node item by item.
#[derive(Debug, Clone)]
pub struct NodeWriter {
    buf: Vec<u8>,
    items: usize,
}

impl NodeWriter {
    /// Starts a node of the given kind, reusing `buf`'s allocation.
    pub fn new(kind: NodeKind, mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.push(kind as u8);
        NodeWriter { buf, items: 0 }
    }

    /// Appends an item. Keys over 4095 bytes or values over 2^28-1 bytes are
    /// INVALID_ARGUMENTS.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let lens = Lengths12x28 {
            first: key.len(),
            second: value.len(),
        }
        .encode()?;
        self.buf.extend_from_slice(&lens);
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value);
        self.items += 1;
        Ok(())
    }

    /// Appends `count` items already encoded as a node holds them (a run of another
    /// node's items, copied as they are).
    pub fn push_encoded(&mut self, items: &[u8], count: usize) {
        self.buf.extend_from_slice(items);
        self.items += count;
    }

    /// Number of items so far.
    pub fn len(&self) -> usize {
        self.items
    }

    /// Whether no item has been pushed.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The finished uncompressed node.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(leaf in any::<bool>(), items in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..50), proptest::collection::vec(any::<u8>(), 0..80)), 0..20)) {
            let kind = if leaf { NodeKind::Leaf } else { NodeKind::Interior };
            let mut w = NodeWriter::new(kind, Vec::new());
            for (k, v) in &items {
                w.push(k, v).unwrap();
            }
            prop_assert_eq!(w.len(), items.len());
            let bytes = w.finish();
            let r = NodeReader::new(&bytes).unwrap();
            prop_assert_eq!(r.kind(), kind);
            let back: Vec<(Vec<u8>, Vec<u8>)> = r.map(|i| i.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_>>().unwrap();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = NodeReader::new(&raw) {
                for item in r {
                    if item.is_err() { break; }
                }
            }
        }
    }
}
