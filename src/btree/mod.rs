//! Append-only B+trees over a [`CouchFile`](crate::file::CouchFile): lookups, ordered
//! iteration, walks, counting from reduce values, batched modification and bottom-up
//! building. Keys compare as raw bytes (`memcmp` order) in all three trees.

pub mod count;
pub mod iter;
pub mod lookup;
pub mod modify;

pub mod node;
pub mod reduce;
pub mod walk;

pub use iter::{KeyRange, iterate};
pub use lookup::lookup_sorted;
pub use modify::{Action, ModifyPlan, modify};

pub use node::{Node, NodeSizes, read_node};
pub use reduce::{ByIdReducer, BySeqReducer, LocalReducer, Reducer};
pub use walk::{WalkEvent, walk};

/// A visitor of leaf entries: called with each key and value.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> crate::Result<Step> + 'a;

/// A callback told of each existing entry a modification replaces or removes.
pub type ExistingEntry<'a> = dyn FnMut(&[u8], &[u8]) -> crate::Result<()> + 'a;

/// What a visitor wants after seeing an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on to the next item.
    Continue,
    /// Stop the traversal (successfully).
    Stop,
}

/// Whether a node that fails to read may be skipped (TOLERATE_CORRUPTION) rather than
/// failing the traversal.
pub(crate) fn tolerable(e: crate::Error) -> bool {
    use crate::Error;
    matches!(e, Error::Corrupt | Error::ChecksumFail | Error::Read)
}
