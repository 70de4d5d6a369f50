//! Looking up many keys in one descent: the sorted key list is split among the
//! children of each interior node, so each node on the way is read once.

use super::Step;
use super::descent::{Flow, Into, Visitor, traverse};
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::NodePointer;

/// For each of `keys` (sorted ascending, no duplicates) found in the tree, calls
/// `found(index_in_keys, value)`, in key order. Keys not in the tree are skipped.
pub fn lookup_sorted(
    file: &CouchFile,
    root: Option<&NodePointer>,
    below: u64,
    keys: &[&[u8]],
    found: &mut dyn FnMut(usize, &[u8]) -> Result<Step>,
) -> Result<()> {
    debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
    if let (Some(root), false) = (root, keys.is_empty()) {
        let all = Keys {
            next: 0,
            end: keys.len(),
        };
        traverse(file, root.pos, below, all, None, &mut Find { keys, found })?;
    }
    Ok(())
}

/// The keys still to look for below a node: `keys[next..end]`.
struct Keys {
    next: usize,
    end: usize,
}

struct Find<'k, 'f> {
    keys: &'k [&'k [u8]],
    found: &'f mut dyn FnMut(usize, &[u8]) -> Result<Step>,
}

impl Visitor for Find<'_, '_> {
    type State = Keys;

    fn interior(
        &mut self,
        mine: &mut Keys,
        _: Option<&[u8]>,
        key: &[u8],
        _: &[u8],
        _: usize,
    ) -> Result<Into<Keys>> {
        if mine.next == mine.end {
            return Ok(Into::Pass(Flow::Leave));
        }
        // The child holds keys up to its item's key.
        let take = self.keys[mine.next..mine.end].partition_point(|k| *k <= key);
        if take == 0 {
            return Ok(Into::Pass(Flow::Continue));
        }
        let state = Keys {
            next: mine.next,
            end: mine.next + take,
        };
        mine.next += take;
        Ok(Into::Descend {
            state,
            then: Flow::Continue,
        })
    }

    fn leaf(&mut self, mine: &mut Keys, key: &[u8], value: &[u8], _: usize) -> Result<Flow> {
        while mine.next < mine.end && self.keys[mine.next] < key {
            mine.next += 1;
        }
        if mine.next == mine.end {
            return Ok(Flow::Leave);
        }
        if self.keys[mine.next] == key {
            mine.next += 1;
            if (self.found)(mine.next - 1, value)? == Step::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }
}
