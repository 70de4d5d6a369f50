//! Depth-first walks that report nodes as well as entries, for tools that inspect the
//! tree's structure and reduce values.

use super::descent::{Flow, Into, Visitor, traverse};
use super::{SkipLog, Step};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::NodePointer;
use crate::format::pointer::InteriorPointer;

/// What a walk reports.
#[derive(Debug)]
pub enum WalkEvent<'a> {
    /// A node, before its children: its depth (the root is 0) and what the pointer to
    /// it says.
    Node {
        /// Depth of the node.
        depth: usize,
        /// Disk size of its subtree.
        subtree_size: u64,
        /// Its reduce value.
        reduce: &'a [u8],
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
/// the way before its children, and every entry. With a [`SkipLog`], what cannot be
/// read is skipped by the rules of [`super::descent`].
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
    let event = WalkEvent::Node {
        depth: 0,
        subtree_size: root.subtree_size,
        reduce: &root.reduce,
    };
    if visit(event)? == Step::Stop {
        return Ok(());
    }
    traverse(
        file,
        root.pos,
        below,
        (),
        tolerate,
        &mut Walk { start, visit },
    )?;
    Ok(())
}

struct Walk<'s, 'v, 'f> {
    start: Option<&'s [u8]>,
    visit: &'v mut (dyn FnMut(WalkEvent<'_>) -> Result<Step> + 'f),
}

fn flow(step: Step) -> Flow {
    match step {
        Step::Continue => Flow::Continue,
        Step::Stop => Flow::Stop,
    }
}

impl Visitor for Walk<'_, '_, '_> {
    type State = ();

    fn interior(
        &mut self,
        _: &mut (),
        _: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        depth: usize,
    ) -> Result<Into<()>> {
        if self.start.is_some_and(|s| key < s) {
            return Ok(Into::Pass(Flow::Continue));
        }
        let child = match InteriorPointer::parse(value) {
            Ok(child) => child,
            Err(e) => return Ok(Into::Malformed(e)),
        };
        let event = WalkEvent::Node {
            depth,
            subtree_size: child.subtree_size,
            reduce: child.reduce,
        };
        Ok(match (self.visit)(event)? {
            Step::Stop => Into::Pass(Flow::Stop),
            Step::Continue => Into::Descend {
                state: (),
                then: Flow::Continue,
            },
        })
    }

    fn leaf(&mut self, _: &mut (), key: &[u8], value: &[u8], depth: usize) -> Result<Flow> {
        if self.start.is_some_and(|s| key < s) {
            return Ok(Flow::Continue);
        }
        Ok(flow((self.visit)(WalkEvent::Entry { depth, key, value })?))
    }
}
