//! The C ABI: the classic couchstore API, with the original's names, signatures, struct
//! layouts, flag values, error codes and ownership rules. This is the only module with
//! `extern "C"` functions and raw pointers; every exported function runs through
//! [`boundary::guard`], so panics and NULL pointers become error codes. The C++ half of
//! the ABI (`FileOpsInterface`, `cb::couchstore`) is a small C++ shim (`src/cxx/shim.cc`)
//! that translates to these functions and to [`cxx`]'s.
#![allow(non_snake_case)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod alloc;
mod boundary;
pub mod codes;
mod flags;
pub mod settings;
#[doc(hidden)]
pub use boundary::panic_in_next_call;
pub mod common;
pub mod compact;
/// cbindgen:ignore
pub mod cxx;
pub mod db;
pub mod docs;
/// cbindgen:ignore
mod file_ops;
pub mod header;
pub mod iterate;
/// cbindgen:ignore
pub mod latency;
pub mod local;
pub mod misc;
pub mod online;
/// cbindgen:ignore
pub mod raw;
pub mod types;

pub use types::*;
