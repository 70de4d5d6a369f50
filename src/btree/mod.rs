//! Append-only B+trees over a [`CouchFile`](crate::file::CouchFile): lookups, ordered
//! iteration, walks, counting from reduce values, batched modification and bottom-up
//! building. Keys compare as raw bytes (`memcmp` order) in all three trees.

#![forbid(unsafe_code)]

pub mod builder;
pub mod count;
pub mod descent;
pub mod iter;
pub mod lookup;
pub mod modify;

pub mod node;
pub mod node_sink;
pub mod prefetch;
pub mod reduce;
pub mod walk;

pub use builder::TreeBuilder;
pub use iter::{KeyRange, iterate};
pub use lookup::lookup_sorted;
pub use modify::{Action, ModifyPlan, modify, modify_with};

pub use node::{Node, NodeSizes, read_node};
pub use reduce::{ByIdReducer, BySeqReducer, LocalReducer, Reducer};
pub use walk::{WalkEvent, walk};

/// A visitor of leaf entries: called with each key and value.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> crate::error::Result<Step> + 'a;

/// A callback given key/value entries (e.g. each existing entry a modification replaces
/// or removes, or each entry of a sorted stream).
pub type ExistingEntry<'a> = dyn FnMut(&[u8], &[u8]) -> crate::error::Result<()> + 'a;

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
pub fn tolerable(e: &crate::error::Error) -> bool {
    use crate::error::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::Corrupt | ErrorKind::ChecksumFail | ErrorKind::Read
    )
}

/// What a tolerant traversal skipped. Passing one to a traversal makes it skip
/// unreadable subtrees (and record them here) instead of failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipLog {
    /// Nodes (or node items) that could not be read and were skipped with what is below.
    pub skipped: u64,
    /// The first error met.
    pub first_error: Option<crate::error::Error>,
}

impl SkipLog {
    /// Records `e` if it may be tolerated and a log is given; otherwise hands it back.
    pub(crate) fn absorb(
        log: &mut Option<&mut SkipLog>,
        e: crate::error::Error,
    ) -> crate::error::Result<()> {
        match log {
            Some(log) if tolerable(&e) => {
                log.skipped += 1;
                log.first_error.get_or_insert(e);
                Ok(())
            }
            _ => Err(e),
        }
    }
}
