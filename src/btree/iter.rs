//! In-order iteration over a key range. Memory stays bounded by tree depth × node size:
//! only the nodes on the path from the root to the current leaf are held.

use super::node::read_node;
use super::{EntryVisitor, SkipLog, Step};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

/// An inclusive key range; `None` bounds are open.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyRange<'a> {
    /// Smallest key to visit.
    pub start: Option<&'a [u8]>,
    /// Largest key to visit.
    pub end: Option<&'a [u8]>,
}

impl<'a> KeyRange<'a> {
    /// Every key.
    pub const ALL: KeyRange<'static> = KeyRange {
        start: None,
        end: None,
    };

    /// Keys from `start` on.
    pub fn from(start: &'a [u8]) -> Self {
        KeyRange {
            start: Some(start),
            end: None,
        }
    }

    /// Keys in `[start, end]`.
    pub fn between(start: &'a [u8], end: &'a [u8]) -> Self {
        KeyRange {
            start: Some(start),
            end: Some(end),
        }
    }

    fn below_start(&self, key: &[u8]) -> bool {
        self.start.is_some_and(|s| key < s)
    }

    fn past_end(&self, key: &[u8]) -> bool {
        self.end.is_some_and(|e| key > e)
    }
}

/// Calls `visit(key, value)` for every leaf entry in `range`, in key order. `below` is
/// the position the root must lie before (the header's position or the file's end).
/// With a [`SkipLog`], subtrees that cannot be read are skipped (and logged) instead of
/// failing.
pub fn iterate(
    file: &CouchFile,
    root: Option<&NodePointer>,
    below: u64,
    range: KeyRange<'_>,
    tolerate: Option<&mut SkipLog>,
    visit: &mut EntryVisitor<'_>,
) -> Result<()> {
    if let Some(root) = root {
        visit_subtree(file, root.pos, below, range, tolerate, visit)?;
    }
    Ok(())
}

fn visit_subtree(
    file: &CouchFile,
    pos: u64,
    below: u64,
    range: KeyRange<'_>,
    mut tolerate: Option<&mut SkipLog>,
    visit: &mut EntryVisitor<'_>,
) -> Result<Step> {
    let node = match read_node(file, pos, below) {
        Ok(node) => node,
        Err(e) => return SkipLog::absorb(&mut tolerate, e).map(|()| Step::Continue),
    };
    let mut items = node.items();
    let kind = items.kind();
    for item in items.by_ref() {
        let (key, value) = match item {
            Ok(kv) => kv,
            Err(e) => return SkipLog::absorb(&mut tolerate, e).map(|()| Step::Continue),
        };
        match kind {
            NodeKind::Interior => {
                // The item's key is the largest key of its subtree.
                if range.below_start(key) {
                    continue;
                }
                let child = match NodePointer::decode_interior(value) {
                    Ok(p) => p,
                    Err(e) => {
                        SkipLog::absorb(&mut tolerate, e)?;
                        continue;
                    }
                };
                if visit_subtree(
                    file,
                    child.pos,
                    node.pos,
                    range,
                    tolerate.as_deref_mut(),
                    visit,
                )? == Step::Stop
                {
                    return Ok(Step::Stop);
                }
                if range.past_end(key) {
                    return Ok(Step::Stop);
                }
            }
            NodeKind::Leaf => {
                if range.below_start(key) {
                    continue;
                }
                if range.past_end(key) {
                    return Ok(Step::Stop);
                }
                if visit(key, value)? == Step::Stop {
                    return Ok(Step::Stop);
                }
            }
        }
    }
    Ok(Step::Continue)
}
