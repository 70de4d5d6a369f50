//! Counting the entries in a key range from reduce values: whole subtrees inside the
//! range are counted from their pointers without being read.

use super::descent::{Flow, Into, Visitor, traverse};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::NodePointer;
use crate::format::pointer::InteriorPointer;

/// Counts the leaf entries with keys in `[lo, hi]`; `count_of` turns a pointer's reduce
/// value into its subtree's entry count.
pub fn count_range(
    file: &CouchFile,
    root: Option<&NodePointer>,
    below: u64,
    lo: &[u8],
    hi: &[u8],
    count_of: &dyn Fn(&[u8]) -> Result<u64>,
) -> Result<u64> {
    match root {
        Some(root) if lo <= hi => {
            let mut count = Count {
                lo,
                hi,
                count_of,
                total: 0,
            };
            traverse(file, root.pos, below, Lower(None), None, &mut count)?;
            Ok(count.total)
        }
        _ => Ok(0),
    }
}

/// An exclusive lower bound on every key below a node, when known.
struct Lower(Option<Vec<u8>>);

struct Count<'a> {
    lo: &'a [u8],
    hi: &'a [u8],
    count_of: &'a dyn Fn(&[u8]) -> Result<u64>,
    total: u64,
}

impl Visitor for Count<'_> {
    type State = Lower;

    fn interior(
        &mut self,
        lower: &mut Lower,
        prev: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        _: usize,
    ) -> Result<Into<Lower>> {
        // This child holds keys in (prev, key].
        let prev = prev.or(lower.0.as_deref());
        if prev.is_some_and(|p| p >= self.hi) {
            return Ok(Into::Pass(Flow::Leave));
        }
        if key < self.lo {
            return Ok(Into::Pass(Flow::Continue));
        }
        if prev.is_some_and(|p| p >= self.lo) && key <= self.hi {
            let child = match InteriorPointer::parse(value) {
                Ok(child) => child,
                Err(e) => return Ok(Into::Malformed(e)),
            };
            self.total += (self.count_of)(child.reduce)?;
            return Ok(Into::Pass(Flow::Continue));
        }
        Ok(Into::Descend {
            state: Lower(prev.map(<[u8]>::to_vec)),
            then: Flow::Continue,
        })
    }

    fn leaf(&mut self, _: &mut Lower, key: &[u8], _: &[u8], _: usize) -> Result<Flow> {
        if key > self.hi {
            return Ok(Flow::Leave);
        }
        if key >= self.lo {
            self.total += 1;
        }
        Ok(Flow::Continue)
    }
}
