//! Loading nodes from the file, and the node size thresholds that decide splitting.

use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::compression::decompress_into;
use crate::format::{NodeKind, NodeReader};

/// A decompressed node read from the file.
#[derive(Debug, Clone)]
pub struct Node {
    /// Position of the node's chunk.
    pub pos: u64,
    data: Vec<u8>,
}

impl Node {
    /// An iterator over the node's items.
    pub fn items(&self) -> NodeReader<'_> {
        NodeReader::new(&self.data).expect("kind checked when read")
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.items().kind()
    }
}

/// Reads the node at `pos`. Children are always written before their parents, so a
/// node must lie before `below` (its parent's position, or the header's); anything
/// else is CORRUPT, which also rules out cycles in a damaged file.
pub fn read_node(file: &CouchFile, pos: u64, below: u64) -> Result<Node> {
    if pos >= below {
        return Err(Error::Corrupt);
    }
    let mut chunk = Vec::new();
    file.read_chunk(pos, &mut chunk)?;
    let mut data = Vec::new();
    decompress_into(&chunk, &mut data)?;
    NodeReader::new(&data)?;
    Ok(Node { pos, data })
}

/// Node size thresholds (uncompressed bytes) of an open handle. They are not stored in
/// the file; the open flags give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSizes {
    /// Threshold for key/pointer (interior) nodes.
    pub interior: usize,
    /// Threshold for key/value (leaf) nodes.
    pub leaf: usize,
}

impl NodeSizes {
    /// The original's default threshold for both kinds.
    pub const DEFAULT_THRESHOLD: usize = 1279;

    /// Thresholds from the open flags' node size bits (16–19 kv, 20–23 kp, in KiB;
    /// 0 means the default).
    pub fn from_flags(flags: u64) -> Self {
        let kib = |bits: u64| match bits & 0xf {
            0 => Self::DEFAULT_THRESHOLD,
            n => n as usize * 1024,
        };
        NodeSizes {
            leaf: kib(flags >> 16),
            interior: kib(flags >> 20),
        }
    }

    /// The threshold for a kind of node.
    pub fn for_kind(&self, kind: NodeKind) -> usize {
        match kind {
            NodeKind::Leaf => self.leaf,
            NodeKind::Interior => self.interior,
        }
    }
}

impl Default for NodeSizes {
    fn default() -> Self {
        NodeSizes {
            interior: Self::DEFAULT_THRESHOLD,
            leaf: Self::DEFAULT_THRESHOLD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_decoding() {
        assert_eq!(NodeSizes::from_flags(0), NodeSizes::default());
        let s = NodeSizes::from_flags(0x440000);
        assert_eq!((s.leaf, s.interior), (4096, 4096));
        let s = NodeSizes::from_flags(0x210000);
        assert_eq!((s.leaf, s.interior), (1024, 2048));
    }
}
