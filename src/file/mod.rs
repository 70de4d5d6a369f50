//! The append-only file: block markers, checksummed chunk reads and writes, buffered
//! appends, fsync, and the search for headers. All I/O goes through a [`Backend`], so
//! tests can swap the real file for an in-memory or failing one.

#![forbid(unsafe_code)]

pub mod backend;
pub mod couch_file;
pub mod node_cache;
pub mod removal;
pub mod write_behind;
pub mod write_buffer;

pub use backend::{AccessTag, Backend, FileBackend, FileIdentity, MemoryBackend};
pub use couch_file::{ChunkLocation, CouchFile, FoundHeader, ReadAhead};
pub use node_cache::NodeCache;
pub use removal::remove_gradually;
