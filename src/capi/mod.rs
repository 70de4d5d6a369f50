//! The C ABI: the classic couchstore API, with the original's names, signatures, struct
//! layouts, flag values, error codes and ownership rules. This is the only module with
//! `extern "C"` functions and raw pointers; every exported function runs through
//! [`boundary::guard`], so panics and NULL pointers become error codes.
#![allow(non_snake_case)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod alloc;
mod boundary;
pub mod compact;
pub mod db;
pub mod docs;
pub mod header;
pub mod iterate;
pub mod local;
pub mod misc;
pub mod online;
pub mod types;

pub use types::*;
