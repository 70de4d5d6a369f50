//! The rules every descent of a tree obeys, and the explicit-stack traversal the
//! read paths share (lookup, range iteration, walks, counting); batched modification
//! keeps its own stack of nodes under construction but reads through the same rules.
//!
//! A file's bytes are untrusted, so a descent never recurses and never trusts a
//! pointer: a child lies strictly before its parent (children are written first,
//! which also rules out cycles), the depth is bounded by what the file's size allows,
//! and a malformed node, item or pointer stops the descent with CORRUPT. With a
//! [`SkipLog`] (TOLERATE_CORRUPTION) each of those is skipped instead, the same way
//! everywhere: an unreadable node with its subtree, a malformed item with the rest of
//! its node, a malformed pointer with its subtree. Memory is one path of nodes and time
//! is bounded by the file's size, whatever the bytes say.

use super::node::{Node, read_node};
use super::{SkipLog, Step};
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::pointer::InteriorPointer;
use crate::format::{NodeKind, NodeReader};

/// The deepest a tree in a file of `file_size` bytes can be (the root is depth 1).
/// A tree only grows a level when its root splits, so a tree of depth d once had at
/// least 2^(d-1) leaves, each written to the file and never overwritten: d is at most
/// log2(size) + 1. One more level of slack.
pub fn max_depth(file_size: u64) -> usize {
    (u64::BITS - file_size.leading_zeros()) as usize + 2
}

/// Reads nodes for a descent, enforcing its rules.
#[derive(Debug, Clone, Copy)]
pub struct Descent {
    max_depth: usize,
}

impl Descent {
    /// The rules for trees in `file` as it is now.
    pub fn of(file: &CouchFile) -> Self {
        Descent {
            max_depth: max_depth(file.end()),
        }
    }

    /// Reads the node at `pos`, at `depth` (the root is 1), which must lie before
    /// `below` (its parent, or the header for a root). `size`: the subtree size the
    /// pointer to it gives (see [`read_node`]; `u64::MAX` when there is none).
    pub fn read(
        &self,
        file: &CouchFile,
        pos: u64,
        size: u64,
        below: u64,
        depth: usize,
    ) -> Result<Node> {
        if depth > self.max_depth {
            return Err(Error::Corrupt);
        }
        read_node(file, pos, size, below)
    }

    /// The rules [`Descent::read`] checks before it reads: `depth` within the bound,
    /// `pos` before `below`.
    pub fn check(&self, pos: u64, below: u64, depth: usize) -> Result<()> {
        if depth > self.max_depth || pos >= below {
            return Err(Error::Corrupt);
        }
        Ok(())
    }

    /// The child an interior item's value points at: well-formed and before `parent`.
    pub fn child<'v>(&self, value: &'v [u8], parent: u64) -> Result<InteriorPointer<'v>> {
        let child = InteriorPointer::parse(value)?;
        if child.pos >= parent {
            return Err(Error::Corrupt);
        }
        Ok(child)
    }
}

/// What a visitor wants after a leaf item, or after an interior item it does not
/// descend into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the node's next item.
    Continue,
    /// Done with this node: go on with its parent's next item.
    Leave,
    /// End the whole traversal.
    Stop,
}

/// What a visitor wants for an interior item.
#[derive(Debug)]
pub enum Into<S> {
    /// Not into this child; then as the flow says.
    Pass(Flow),
    /// Into this child, with the child's own state; after its subtree, `then`.
    Descend {
        /// The child's state.
        state: S,
        /// What to do once the child's subtree is done (or skipped).
        then: Flow,
    },
    /// The item is malformed (e.g. its pointer, parsed by the visitor): skipped with
    /// its subtree under TOLERATE_CORRUPTION, an error otherwise.
    Malformed(Error),
}

/// The per-traversal logic: what to do with each item of each node.
pub trait Visitor {
    /// State kept per node on the path (e.g. the keys still to find below it).
    type State;

    /// An interior item: `prev` is the previous item's key in the same node (None for
    /// the first), `key` the largest key of the child's subtree, `value` the pointer,
    /// `depth` the node's depth.
    fn interior(
        &mut self,
        state: &mut Self::State,
        prev: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        depth: usize,
    ) -> Result<Into<Self::State>>;

    /// A leaf item at `depth` (the leaf's depth).
    fn leaf(
        &mut self,
        state: &mut Self::State,
        key: &[u8],
        value: &[u8],
        depth: usize,
    ) -> Result<Flow>;
}

/// A node on the path: where reading it has got and what to do after its current child.
struct Frame<S> {
    node: Node,
    depth: usize,
    offset: usize,
    /// Byte range of the previous item's key.
    prev: Option<(usize, usize)>,
    /// What to do once the child being visited is done.
    after_child: Flow,
    state: S,
}

/// Visits the tree whose root is at `root` (which must lie before `below`), depth
/// first in key order, with an explicit stack. Errors of the visitor itself always
/// end the traversal; errors of the file's bytes follow the module's rules.
pub fn traverse<V: Visitor>(
    file: &CouchFile,
    root: u64,
    below: u64,
    root_state: V::State,
    mut tolerate: Option<&mut SkipLog>,
    visitor: &mut V,
) -> Result<Step> {
    let descent = Descent::of(file);
    let mut path: Vec<Frame<V::State>> = Vec::new();
    match descent.read(file, root, u64::MAX, below, 1) {
        Ok(node) => path.push(Frame::new(node, 1, root_state)),
        Err(e) => {
            SkipLog::absorb(&mut tolerate, e)?;
            return Ok(Step::Continue);
        }
    }
    while let Some(top) = path.last_mut() {
        let bytes = top.node.bytes();
        let mut reader = NodeReader::resume(bytes, top.offset)?;
        let kind = reader.kind();
        let item = reader.next();
        top.offset = reader.offset(bytes);
        let (key, value) = match item {
            None => {
                if leave(&mut path) == Flow::Stop {
                    return Ok(Step::Stop);
                }
                continue;
            }
            Some(Err(e)) => {
                SkipLog::absorb(&mut tolerate, e)?;
                if leave(&mut path) == Flow::Stop {
                    return Ok(Step::Stop);
                }
                continue;
            }
            Some(Ok(kv)) => kv,
        };
        let prev = top.prev.map(|(a, b)| &bytes[a..b]);
        let key_start = key.as_ptr() as usize - bytes.as_ptr() as usize;
        let key_range = Some((key_start, key_start + key.len()));
        let flow = match kind {
            NodeKind::Leaf => visitor.leaf(&mut top.state, key, value, top.depth)?,
            NodeKind::Interior => {
                match visitor.interior(&mut top.state, prev, key, value, top.depth)? {
                    Into::Pass(flow) => flow,
                    Into::Malformed(e) => {
                        SkipLog::absorb(&mut tolerate, e)?;
                        Flow::Continue
                    }
                    Into::Descend { state, then } => {
                        top.prev = key_range;
                        let (parent, depth) = (top.node.pos, top.depth + 1);
                        let child = descent
                            .child(value, parent)
                            .and_then(|c| descent.read(file, c.pos, c.subtree_size, parent, depth));
                        match child {
                            Ok(node) => {
                                top.after_child = then;
                                path.push(Frame::new(node, depth, state));
                                continue;
                            }
                            Err(e) => {
                                SkipLog::absorb(&mut tolerate, e)?;
                                then
                            }
                        }
                    }
                }
            }
        };
        if let Some(top) = path.last_mut() {
            top.prev = key_range;
        }
        match flow {
            Flow::Continue => {}
            Flow::Leave => {
                if leave(&mut path) == Flow::Stop {
                    return Ok(Step::Stop);
                }
            }
            Flow::Stop => return Ok(Step::Stop),
        }
    }
    Ok(Step::Continue)
}

/// Leaves the deepest node, then each parent whose plan for after that child is to
/// leave too; Stop when a parent's plan is to end the traversal.
fn leave<S>(path: &mut Vec<Frame<S>>) -> Flow {
    path.pop();
    while let Some(parent) = path.last_mut() {
        match std::mem::replace(&mut parent.after_child, Flow::Continue) {
            Flow::Continue => return Flow::Continue,
            Flow::Stop => return Flow::Stop,
            Flow::Leave => {
                path.pop();
            }
        }
    }
    Flow::Continue
}

impl<S> Frame<S> {
    fn new(node: Node, depth: usize, state: S) -> Self {
        Frame {
            node,
            depth,
            offset: 1,
            prev: None,
            after_child: Flow::Continue,
            state,
        }
    }
}

/// An item of an interior node being walked for sorted keys, with the keys that fall in
/// its child.
pub(crate) struct ChildItem<'b, 'k, T> {
    /// Where the item starts in the node.
    pub start: usize,
    /// The pointer to the child.
    pub value: &'b [u8],
    /// The keys that fall in the child.
    pub keys: &'k [T],
}

/// The item of the interior node `bytes` at `*offset` (None at the node's end), with
/// the keys of `*rest` that fall in its child: those up to the child's largest key,
/// and for the last child every one beyond. Moves `offset` and `rest` past them. The
/// modification and the prefetcher's walk both descend by this one rule, so they visit
/// the same children in the same order.
pub(crate) fn next_child<'b, 'k, T>(
    bytes: &'b [u8],
    offset: &mut usize,
    rest: &mut &'k [T],
    key_of: impl Fn(&T) -> &[u8],
) -> Result<Option<ChildItem<'b, 'k, T>>> {
    let mut reader = NodeReader::resume(bytes, *offset)?;
    let Some(item) = reader.next() else {
        return Ok(None);
    };
    let (key, value) = item?;
    let start = std::mem::replace(offset, reader.offset(bytes));
    let n = if *offset == bytes.len() {
        rest.len()
    } else {
        count_up_to(rest, key, key_of)
    };
    let (keys, later) = rest.split_at(n);
    *rest = later;
    Ok(Some(ChildItem { start, value, keys }))
}

/// How many of the sorted `items` have keys up to `key`: a galloping search from the
/// front, as a child usually takes none or a few of the actions left.
pub(crate) fn count_up_to<T>(items: &[T], key: &[u8], key_of: impl Fn(&T) -> &[u8]) -> usize {
    let mut hi = 1;
    while hi <= items.len() && key_of(&items[hi - 1]) <= key {
        hi *= 2;
    }
    let lo = hi / 2;
    let hi = hi.min(items.len() + 1) - 1;
    lo + items[lo..hi].partition_point(|i| key_of(i) <= key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_bound_follows_the_file_size() {
        assert_eq!(max_depth(0), 2);
        assert_eq!(max_depth(1), 3);
        assert_eq!(max_depth(4096), 15);
        assert_eq!(max_depth(1 << 30), 33);
        // A tree of d levels needs 2^(d-1) leaves of at least a few bytes each.
        for d in 1..40u32 {
            assert!(max_depth(1u64 << (d - 1)) >= d as usize);
        }
    }

    #[test]
    fn count_up_to_agrees_with_partition_point() {
        let keys: Vec<Vec<u8>> = (0..40u8).map(|k| vec![k * 2]).collect();
        for len in 0..keys.len() {
            let items = &keys[..len];
            for probe in 0..90u8 {
                let expected = items.partition_point(|k| k.as_slice() <= [probe].as_slice());
                assert_eq!(
                    count_up_to(items, &[probe], |k| k),
                    expected,
                    "{len} {probe}"
                );
            }
        }
    }
}
