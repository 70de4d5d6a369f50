//! Counting the entries in a key range from reduce values: whole subtrees inside the
//! range are counted from their pointers without being read.

use super::node::read_node;
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

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
        Some(root) if lo <= hi => count_node(file, root.pos, below, None, lo, hi, count_of),
        _ => Ok(0),
    }
}

/// `lower` is an exclusive lower bound on every key in this subtree, when known.
fn count_node(
    file: &CouchFile,
    pos: u64,
    below: u64,
    lower: Option<&[u8]>,
    lo: &[u8],
    hi: &[u8],
    count_of: &dyn Fn(&[u8]) -> Result<u64>,
) -> Result<u64> {
    let node = read_node(file, pos, below)?;
    let mut items = node.items();
    let kind = items.kind();
    let mut total = 0u64;
    let mut prev: Option<&[u8]> = lower;
    for item in items.by_ref() {
        let (key, value) = item?;
        match kind {
            NodeKind::Interior => {
                // This child holds keys in (prev, key].
                if prev.is_some_and(|p| p >= hi) {
                    break;
                }
                if key >= lo {
                    let child = NodePointer::decode_interior(value)?;
                    let inside = prev.is_some_and(|p| p >= lo) && key <= hi;
                    total += if inside {
                        count_of(&child.reduce)?
                    } else {
                        count_node(file, child.pos, node.pos, prev, lo, hi, count_of)?
                    };
                }
            }
            NodeKind::Leaf => {
                if key > hi {
                    break;
                }
                if key >= lo {
                    total += 1;
                }
            }
        }
        prev = Some(key);
    }
    Ok(total)
}
