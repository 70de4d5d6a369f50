//! Error texts and the last errors seen on this thread.

use std::ffi::{CStr, c_char};

use super::boundary::{guard, guard_value, last_internal_error};
use super::types::*;
use crate::error::Error;

/// The text describing an error code: the original's wording, and a short description
/// for the codes it leaves without text. Never NULL; the string is static.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_strerror(errcode: couchstore_error_t) -> *const c_char {
    guard_value("couchstore_strerror", c"unknown error".as_ptr(), || {
        super::codes::strerror(errcode).as_ptr()
    })
}

/// Copies `text` into `buf[..size]`, truncated and always NUL-terminated.
///
/// # Safety
/// `buf` must point to `size` writable bytes.
unsafe fn copy_out(text: &str, buf: *mut c_char, size: usize) -> Result<(), Error> {
    if buf.is_null() || size == 0 {
        return Err(Error::InvalidArguments);
    }
    let n = text.len().min(size - 1);
    // SAFETY: `buf` has `size` bytes; we write n + 1 <= size of them.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    Ok(())
}

/// Writes into `buf` a description (`errno = N: text`) of the last OS error behind a
/// failed call on the handle `db` (an error its FileOpsInterface reported included;
/// `errno = 0` if none failed), or, with `db` NULL, of the last one this library met on
/// this thread (say after a failed open).
///
/// # Safety
/// `db` must be NULL or a live handle; `buf` must point to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_last_os_error(
    db: *const CDb,
    buf: *mut c_char,
    size: usize,
) -> couchstore_error_t {
    guard("couchstore_last_os_error", || {
        // SAFETY: NULL or a live handle by the caller's guarantee.
        let errno = match unsafe { db.as_ref() } {
            Some(handle) => handle.last_os_error.get(),
            None => super::boundary::last_os_error(),
        };
        // SAFETY: strerror returns a valid NUL-terminated string for any errno.
        let text = unsafe { CStr::from_ptr(libc::strerror(errno)) }.to_string_lossy();
        // SAFETY: forwarded from the caller.
        unsafe { copy_out(&format!("errno = {errno}: `{text}'"), buf, size) }
    })
}

/// Writes into `buf` a description of the last failure of a call of this library on
/// this thread (the function and the error). `db` is not needed and may be NULL.
///
/// # Safety
/// `buf` must point to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_last_internal_error(
    _db: *const CDb,
    buf: *mut c_char,
    size: usize,
) -> couchstore_error_t {
    let text = last_internal_error();
    // SAFETY: forwarded from the caller.
    guard("couchstore_last_internal_error", || unsafe {
        copy_out(&text, buf, size)
    })
}
