//! Writing nodes: encode, compress, append, and compute the pointer's reduce value and
//! subtree size. Shared by batched modification and bottom-up building.

use super::node::remember_written;
use super::reduce::Reducer;
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::compression::{compress_into, store_literal_into};
use crate::format::node::ITEM_OVERHEAD;
use crate::format::pointer::InteriorPointer;
use crate::format::{NodeKind, NodePointer, NodeReader, NodeWriter};

/// A node's items: key and value (for interior nodes, an encoded pointer).
pub type Items = Vec<(Vec<u8>, Vec<u8>)>;

/// Uncompressed size an item adds to a node.
pub fn item_size(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + ITEM_OVERHEAD
}

/// Writes nodes of one tree, reusing its buffers between nodes.
pub struct NodeSink<'r> {
    reducer: &'r dyn Reducer,
    plain: Vec<u8>,
    compressed: Vec<u8>,
    /// Keep written interior nodes in the file's cache (not when building a new tree
    /// bottom-up: nothing reads its nodes back while it is built).
    remember: bool,
}

impl<'r> NodeSink<'r> {
    /// A sink for a tree with this reduce function.
    pub fn new(reducer: &'r dyn Reducer) -> Self {
        NodeSink {
            reducer,
            plain: Vec::new(),
            compressed: Vec::new(),
            remember: true,
        }
    }

    /// A sink that leaves written nodes out of the file's cache.
    pub fn uncached(reducer: &'r dyn Reducer) -> Self {
        NodeSink {
            remember: false,
            ..Self::new(reducer)
        }
    }

    /// Compresses and appends a node holding `items`; returns the pointer to it.
    pub fn write<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        file: &mut CouchFile,
        kind: NodeKind,
        items: &[(K, V)],
    ) -> Result<NodePointer> {
        self.write_node(file, kind, |writer| {
            for (k, v) in items {
                writer.push(k.as_ref(), v.as_ref())?;
            }
            Ok(())
        })
    }

    /// Writes the node `fill` puts together (item by item, or runs of another node's
    /// encoded items): compresses and appends it, and computes its pointer's reduce
    /// value and subtree size from the node as encoded.
    pub fn write_node(
        &mut self,
        file: &mut CouchFile,
        kind: NodeKind,
        fill: impl FnOnce(&mut NodeWriter) -> Result<()>,
    ) -> Result<NodePointer> {
        let mut writer = NodeWriter::new(kind, std::mem::take(&mut self.plain));
        let filled = fill(&mut writer);
        let items = writer.len() as u64;
        self.plain = writer.finish();
        filled?;
        self.compressed.clear();
        if file.literal_nodes() {
            store_literal_into(&self.plain, &mut self.compressed);
        } else {
            compress_into(&self.plain, &mut self.compressed);
        }
        let loc = file.append_chunk(&self.compressed)?;
        if self.remember {
            remember_written(file, loc.pos, kind, &self.plain);
        }
        // The values, read back from the node just encoded (well-formed: it was built
        // item by item, or from runs of a node that was checked when read).
        let mut bad = None;
        let mut values = NodeReader::new(&self.plain)?.map_while(|item| match item {
            Ok((_, v)) => Some(v),
            Err(e) => {
                bad = Some(e);
                None
            }
        });
        let (reduce, children_size) = match kind {
            NodeKind::Leaf => match self.reducer.reduce_count(items) {
                Some(reduce) => (reduce?, 0),
                None => (self.reducer.reduce(&mut values)?, 0),
            },
            NodeKind::Interior => {
                // One pass: sizes are summed as the reduce values go to the reducer; a
                // value that does not parse ends the pass and is reported.
                let mut children_size = 0u64;
                let mut bad_pointer = None;
                let reduce =
                    self.reducer.rereduce(&mut values.map_while(
                        |v| match InteriorPointer::parse(v) {
                            Ok(p) => {
                                children_size += p.subtree_size;
                                Some(p.reduce)
                            }
                            Err(e) => {
                                bad_pointer = Some(e);
                                None
                            }
                        },
                    ))?;
                if let Some(e) = bad_pointer {
                    return Err(e);
                }
                (reduce, children_size)
            }
        };
        if let Some(e) = bad {
            return Err(e);
        }
        Ok(NodePointer {
            pos: loc.pos,
            subtree_size: loc.physical_size + children_size,
            reduce,
        })
    }
}

/// Encodes `ptr` as an interior-node value.
pub fn pointer_value(ptr: &NodePointer) -> Result<Vec<u8>> {
    let mut value = Vec::with_capacity(ptr.interior_len());
    ptr.encode_interior(&mut value)?;
    Ok(value)
}
