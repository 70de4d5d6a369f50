//! Looking up many keys in one descent: the sorted key list is split among the
//! children of each interior node, so each node on the way is read once.

use super::Step;
use super::node::read_node;
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

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
        descend(file, root.pos, below, keys, 0, found)?;
    }
    Ok(())
}

fn descend(
    file: &CouchFile,
    pos: u64,
    below: u64,
    keys: &[&[u8]],
    offset: usize,
    found: &mut dyn FnMut(usize, &[u8]) -> Result<Step>,
) -> Result<Step> {
    let node = read_node(file, pos, below)?;
    let mut items = node.items();
    let kind = items.kind();
    let mut next = 0usize;
    for item in items.by_ref() {
        if next == keys.len() {
            break;
        }
        let (key, value) = item?;
        match kind {
            NodeKind::Interior => {
                let take = keys[next..].partition_point(|k| *k <= key);
                if take > 0 {
                    let child = NodePointer::decode_interior(value)?;
                    let slice = &keys[next..next + take];
                    if descend(file, child.pos, node.pos, slice, offset + next, found)?
                        == Step::Stop
                    {
                        return Ok(Step::Stop);
                    }
                    next += take;
                }
            }
            NodeKind::Leaf => {
                while next < keys.len() && keys[next] < key {
                    next += 1;
                }
                if next < keys.len() && keys[next] == key {
                    if found(offset + next, value)? == Step::Stop {
                        return Ok(Step::Stop);
                    }
                    next += 1;
                }
            }
        }
    }
    Ok(Step::Continue)
}
