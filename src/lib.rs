//! couchstore-rs: a drop-in re-implementation of Couchbase's couchstore storage library
//! (append-only B+tree `.couch` files), with the same on-disk format and C ABI.
//!
//! Layers, each depending only on those above it in this list:
//! - [`format`]: pure encode/decode of blocks, chunks, headers, nodes, values;
//! - [`file`]: the append-only file (block markers, chunk reads/writes, header search);
//! - [`btree`]: lookups, ordered iteration, walks, batched modification;
//! - [`db`]: the safe Rust database API;
//! - [`compact`]: offline compaction, replay and online compaction;
//! - [`capi`]: the C ABI over it.

/// cbindgen:ignore
pub mod btree;
pub mod capi;
/// cbindgen:ignore
pub mod compact;
/// cbindgen:ignore
pub mod db;
/// cbindgen:ignore
pub mod error;
/// cbindgen:ignore
pub mod file;
/// cbindgen:ignore
pub mod format;

pub use db::{Db, DbInfo, DocInfo, LocalDoc, OpenOptions};
pub use error::{Error, ErrorKind, Result};
