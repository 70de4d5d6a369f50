//! In-order iteration over a key range. Memory stays bounded by tree depth × node size:
//! only the nodes on the path from the root to the current leaf are held.

use super::descent::{Flow, Into, Visitor, traverse};
use super::{EntryVisitor, SkipLog, Step};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::NodePointer;

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
/// With a [`SkipLog`], what cannot be read is skipped (and logged) instead of failing,
/// by the rules of [`super::descent`].
pub fn iterate(
    file: &CouchFile,
    root: Option<&NodePointer>,
    below: u64,
    range: KeyRange<'_>,
    tolerate: Option<&mut SkipLog>,
    visit: &mut EntryVisitor<'_>,
) -> Result<()> {
    if let Some(root) = root {
        traverse(
            file,
            root.pos,
            below,
            (),
            tolerate,
            &mut InRange { range, visit },
        )?;
    }
    Ok(())
}

struct InRange<'r, 'v, 'f> {
    range: KeyRange<'r>,
    visit: &'v mut EntryVisitor<'f>,
}

impl Visitor for InRange<'_, '_, '_> {
    type State = ();

    fn interior(
        &mut self,
        _: &mut (),
        _: Option<&[u8]>,
        key: &[u8],
        _: &[u8],
        _: usize,
    ) -> Result<Into<()>> {
        // The item's key is the largest key of its subtree.
        if self.range.below_start(key) {
            return Ok(Into::Pass(Flow::Continue));
        }
        let then = if self.range.past_end(key) {
            Flow::Stop
        } else {
            Flow::Continue
        };
        Ok(Into::Descend { state: (), then })
    }

    fn leaf(&mut self, _: &mut (), key: &[u8], value: &[u8], _: usize) -> Result<Flow> {
        if self.range.below_start(key) {
            return Ok(Flow::Continue);
        }
        if self.range.past_end(key) {
            return Ok(Flow::Stop);
        }
        Ok(match (self.visit)(key, value)? {
            Step::Continue => Flow::Continue,
            Step::Stop => Flow::Stop,
        })
    }
}
