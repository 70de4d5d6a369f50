//! Building a tree bottom-up from entries that arrive in key order (compaction): no
//! lookups, no rewrites, each node written once. As in the original's compactor, a node
//! is written as soon as it exceeds 2/3 of the node size threshold (an interior node
//! also needs more than one item).

use super::node::NodeSizes;
use super::node_sink::{Items, NodeSink, item_size, pointer_value};
use super::reduce::Reducer;
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

#[derive(Default)]
struct Level {
    items: Items,
    size: usize,
    /// Nodes already written at this level.
    written: usize,
}

/// Builds one tree from sorted entries. The file is passed to each call, so the caller
/// may use it (and anything owning it) between calls.
pub struct TreeBuilder<'r> {
    sink: NodeSink<'r>,
    sizes: NodeSizes,
    /// Level 0 holds leaf entries; level n + 1 holds pointers to level-n nodes.
    levels: Vec<Level>,
    last_key: Option<Vec<u8>>,
}

impl<'r> TreeBuilder<'r> {
    /// A builder for a tree with this reduce function and node sizes.
    pub fn new(reducer: &'r dyn Reducer, sizes: NodeSizes) -> Self {
        TreeBuilder {
            sink: NodeSink::uncached(reducer),
            sizes,
            levels: vec![Level::default()],
            last_key: None,
        }
    }

    /// Adds the next entry; keys must arrive in strictly increasing order (else
    /// INVALID_ARGUMENTS).
    pub fn add(&mut self, file: &mut CouchFile, key: &[u8], value: &[u8]) -> Result<()> {
        if self.last_key.as_deref().is_some_and(|last| key <= last) {
            return Err(Error::InvalidArguments);
        }
        match &mut self.last_key {
            Some(k) => {
                k.clear();
                k.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        self.push(file, 0, key.to_vec(), value.to_vec())
    }

    fn push(
        &mut self,
        file: &mut CouchFile,
        level: usize,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<()> {
        let kind = Self::kind(level);
        let l = &mut self.levels[level];
        l.size += item_size(&key, &value);
        l.items.push((key, value));
        let full = l.size > self.sizes.for_kind(kind) * 2 / 3
            && (kind == NodeKind::Leaf || l.items.len() > 1);
        if full {
            self.write_level(file, level)?;
        }
        Ok(())
    }

    fn kind(level: usize) -> NodeKind {
        if level == 0 {
            NodeKind::Leaf
        } else {
            NodeKind::Interior
        }
    }

    /// Writes the node accumulated at `level` and passes its pointer up.
    fn write_level(&mut self, file: &mut CouchFile, level: usize) -> Result<()> {
        let l = &mut self.levels[level];
        let items = std::mem::take(&mut l.items);
        l.size = 0;
        l.written += 1;
        let ptr = self.sink.write(file, Self::kind(level), &items)?;
        let last_key = items
            .into_iter()
            .next_back()
            .map(|(k, _)| k)
            .unwrap_or_default();
        if self.levels.len() == level + 1 {
            self.levels.push(Level::default());
        }
        self.push(file, level + 1, last_key, pointer_value(&ptr)?)
    }

    /// Writes what remains and returns the root (None for an empty tree).
    pub fn finish(mut self, file: &mut CouchFile) -> Result<Option<NodePointer>> {
        let mut level = 0;
        loop {
            let top = level + 1 == self.levels.len();
            let l = &self.levels[level];
            if top && l.written == 0 {
                // Everything at this level fits in one node: it is the root, or, when it
                // is a single pointer, the node it points to is.
                return match (level, l.items.len()) {
                    (_, 0) => Ok(None),
                    (1.., 1) => NodePointer::decode_interior(&l.items[0].1).map(Some),
                    _ => {
                        let items = std::mem::take(&mut self.levels[level].items);
                        self.sink.write(file, Self::kind(level), &items).map(Some)
                    }
                };
            }
            if !l.items.is_empty() {
                self.write_level(file, level)?;
            }
            level += 1;
        }
    }
}
