//! Depth-first walks that report nodes as well as entries, for tools that inspect the
//! tree's structure and reduce values.

use super::node::read_node;
use super::{SkipLog, Step};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

/// What a walk reports.
#[derive(Debug)]
pub enum WalkEvent<'a> {
    /// A node, before its children: its depth (the root is 0) and the pointer to it.
    Node {
        /// Depth of the node.
        depth: usize,
        /// The pointer leading to it (subtree size, reduce value).
        pointer: &'a NodePointer,
    },
    /// A leaf entry, one level deeper than its leaf node.
    Entry {
        /// Depth of the entry.
        depth: usize,
        /// The entry's key.
        key: &'a [u8],
        /// The entry's value.
        value: &'a [u8],
    },
}

/// Walks the tree from `start` (inclusive) on, in key order, reporting every node on
/// the way before its children, and every entry.
pub fn walk(
    file: &CouchFile,
    root: Option<&NodePointer>,
    below: u64,
    start: Option<&[u8]>,
    tolerate: Option<&mut SkipLog>,
    visit: &mut dyn FnMut(WalkEvent<'_>) -> Result<Step>,
) -> Result<()> {
    let Some(root) = root else {
        return Ok(());
    };
    if visit(WalkEvent::Node {
        depth: 0,
        pointer: root,
    })? == Step::Stop
    {
        return Ok(());
    }
    walk_node(file, root.pos, below, 0, start, tolerate, visit)?;
    Ok(())
}

fn walk_node(
    file: &CouchFile,
    pos: u64,
    below: u64,
    depth: usize,
    start: Option<&[u8]>,
    mut tolerate: Option<&mut SkipLog>,
    visit: &mut dyn FnMut(WalkEvent<'_>) -> Result<Step>,
) -> Result<Step> {
    let node = match read_node(file, pos, below) {
        Ok(n) => n,
        Err(e) => return SkipLog::absorb(&mut tolerate, e).map(|()| Step::Continue),
    };
    let mut items = node.items();
    let kind = items.kind();
    for item in items.by_ref() {
        let (key, value) = match item {
            Ok(kv) => kv,
            Err(e) => return SkipLog::absorb(&mut tolerate, e).map(|()| Step::Continue),
        };
        if start.is_some_and(|s| key < s) {
            continue;
        }
        let step = match kind {
            NodeKind::Interior => {
                let child = NodePointer::decode_interior(value)?;
                match visit(WalkEvent::Node {
                    depth: depth + 1,
                    pointer: &child,
                })? {
                    Step::Stop => Step::Stop,
                    Step::Continue => walk_node(
                        file,
                        child.pos,
                        node.pos,
                        depth + 1,
                        start,
                        tolerate.as_deref_mut(),
                        visit,
                    )?,
                }
            }
            NodeKind::Leaf => visit(WalkEvent::Entry {
                depth: depth + 1,
                key,
                value,
            })?,
        };
        if step == Step::Stop {
            return Ok(Step::Stop);
        }
    }
    Ok(Step::Continue)
}
