//! Pure encoding and decoding of the on-disk format: blocks, chunks, headers, B-tree
//! nodes, node pointers, index values and reduce values. Nothing here does I/O.
//!
//! The reference is the original's `file_format.md`; where it is silent the behaviour of
//! the original library (checked on the golden files) decides.

#![forbid(unsafe_code)]

pub mod bits;
pub mod block;
pub mod by_id;
pub mod by_seq;
pub mod checksum;
pub mod chunk;
pub mod compression;
pub mod header;
pub mod node;
pub mod pointer;
pub mod reduce;

pub use block::BLOCK_SIZE;
pub use by_id::ByIdValue;
pub use by_seq::BySeqValue;
pub use checksum::ChecksumKind;
pub use header::{FormatVersion, Header};
pub use node::{NodeKind, NodeReader, NodeWriter};
pub use pointer::NodePointer;
pub use reduce::{ByIdReduce, BySeqReduce};
