//! The FFI boundary: every exported function runs its body through [`guard`], so a
//! panic never crosses into C and every failure becomes an error code; pointer
//! arguments are checked here before anything touches them.

use std::cell::{Ref, RefCell, RefMut};
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::types::*;
use crate::error::Error;

thread_local! {
    static LAST_INTERNAL_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// The errno behind the last failure returned on this thread (0: none yet).
    static LAST_OS_ERROR: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The errno of the OS error behind the last failure an exported function returned on
/// this thread, for `couchstore_last_os_error` without a handle.
pub(crate) fn last_os_error() -> i32 {
    LAST_OS_ERROR.with(std::cell::Cell::get)
}

/// The errno behind `e`, if a system call failed (EIO when the OS gave no number).
fn errno_of(e: &Error) -> Option<i32> {
    e.os_error()
        .map(|os| os.raw_os_error().unwrap_or(libc::EIO))
}

/// Remembers a description of the last failure on this thread, for
/// `couchstore_last_internal_error`.
pub(crate) fn note_internal_error(text: String) {
    LAST_INTERNAL_ERROR.with(|e| *e.borrow_mut() = text);
}

/// The last failure noted on this thread.
pub(crate) fn last_internal_error() -> String {
    LAST_INTERNAL_ERROR.with(|e| e.borrow().clone())
}

/// The code a panic inside the library is reported as. A panic is a bug of ours; the
/// original has no code for that, and ALLOC_FAIL is the one a caller treats as a
/// failed, retryable call rather than damage to the file.
pub(crate) const PANIC_CODE: couchstore_error_t = COUCHSTORE_ERROR_ALLOC_FAIL;

/// Runs the body of the exported function `name`, mapping errors to their codes and a
/// panic to [`PANIC_CODE`].
pub(crate) fn guard(
    name: &'static str,
    body: impl FnOnce() -> Result<(), Error>,
) -> couchstore_error_t {
    guard_noting_panic(name, body).code
}

/// What a guarded body came to.
struct Outcome {
    code: couchstore_error_t,
    panicked: bool,
    /// The errno behind a failure, when a system call failed.
    errno: Option<i32>,
}

/// [`guard`], also saying whether the body panicked.
fn guard_noting_panic(name: &'static str, body: impl FnOnce() -> Result<(), Error>) -> Outcome {
    let started = super::latency::start();
    let result = run_guarded(name, body);
    super::latency::record(name, started);
    result
}

/// [`guard`] for a function working on the handle `db` (which it must not free): the OS
/// error behind a failure is recorded on the handle, for `couchstore_last_os_error`.
pub(crate) fn guard_db(
    name: &'static str,
    db: *const CDb,
    body: impl FnOnce() -> Result<(), Error>,
) -> couchstore_error_t {
    let outcome = guard_noting_panic(name, body);
    // SAFETY: NULL or, by the exported function's contract, a live handle that its body
    // did not free.
    let handle = unsafe { db.as_ref() };
    if let Some(handle) = handle {
        if let Some(errno) = outcome.errno {
            handle.last_os_error.set(errno);
        }
        if outcome.panicked {
            poison(handle);
        }
    }
    outcome.code
}

/// After a panic in a call on `handle`: its state may be half-updated, so it is closed
/// (nothing uncommitted is written) and later calls refused; what was committed is on
/// disk as it was.
fn poison(handle: &CDb) {
    handle.poisoned.set(true);
    // Not possible while a call further up the stack (an iteration) has the handle;
    // the flag alone refuses later calls then.
    if let Ok(mut db) = handle.inner.try_borrow_mut() {
        db.abandon();
    }
}

thread_local! {
    static PANIC_NEXT_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// For tests of the boundary: the next exported call on this thread panics inside its
/// guard, as a bug of ours would. Not part of the C API.
#[doc(hidden)]
pub fn panic_in_next_call() {
    PANIC_NEXT_CALL.with(|p| p.set(true));
}

fn injected_panic() {
    if PANIC_NEXT_CALL.with(|p| p.replace(false)) {
        panic!("injected by panic_in_next_call");
    }
}

fn run_guarded(name: &'static str, body: impl FnOnce() -> Result<(), Error>) -> Outcome {
    let body = || {
        injected_panic();
        body()
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Outcome {
            code: COUCHSTORE_SUCCESS,
            panicked: false,
            errno: None,
        },
        Ok(Err(e)) => {
            note_internal_error(format!("{name}: {e}"));
            let errno = errno_of(&e);
            if let Some(errno) = errno {
                LAST_OS_ERROR.with(|c| c.set(errno));
            }
            Outcome {
                code: super::codes::code(&e),
                panicked: false,
                errno,
            }
        }
        Err(panic) => {
            note_panic(name, &*panic);
            Outcome {
                code: PANIC_CODE,
                panicked: true,
                errno: None,
            }
        }
    }
}

fn note_panic(name: &str, panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    note_internal_error(format!("{name}: internal error: {what}"));
}

/// Like [`guard`] for the function `name`, which returns a value instead of a code:
/// `fallback` when the body panics (recorded for couchstore_last_internal_error).
pub(crate) fn guard_value<T>(name: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    let body = || {
        injected_panic();
        body()
    };
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        note_panic(name, &*panic);
        fallback
    })
}

/// Turns a non-NULL pointer into a reference; NULL is INVALID_ARGUMENTS.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid `T` for `'a`.
pub(crate) unsafe fn non_null<'a, T>(ptr: *const T) -> Result<&'a T, Error> {
    // SAFETY: the caller guarantees a non-NULL pointer is valid for 'a.
    unsafe { ptr.as_ref() }.ok_or(Error::InvalidArguments)
}

/// Turns a non-NULL pointer into a mutable reference; NULL is INVALID_ARGUMENTS.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid `T`, not aliased, for `'a`.
pub(crate) unsafe fn non_null_mut<'a, T>(ptr: *mut T) -> Result<&'a mut T, Error> {
    // SAFETY: the caller guarantees a non-NULL pointer is valid and unaliased for 'a.
    unsafe { ptr.as_mut() }.ok_or(Error::InvalidArguments)
}

/// The bytes `ptr[..len]`; NULL is accepted only with length 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const c_void, len: usize) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::InvalidArguments)
        };
    }
    // SAFETY: non-NULL and, by the caller's guarantee, `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The bytes of a `sized_buf`.
///
/// # Safety
/// As for [`bytes`], with the buffer's pointer and size.
pub(crate) unsafe fn buf_bytes<'a>(buf: &sized_buf) -> Result<&'a [u8], Error> {
    // SAFETY: forwarded from the caller.
    unsafe { bytes(buf.buf.cast_const().cast(), buf.size) }
}

/// The bytes of an optional `sized_buf` (a start key): `None` for NULL.
///
/// # Safety
/// `buf` must be NULL or point to a valid `sized_buf` whose bytes live for `'a`.
pub(crate) unsafe fn opt_buf_bytes<'a>(buf: *const sized_buf) -> Result<Option<&'a [u8]>, Error> {
    // SAFETY: NULL or valid by the caller's guarantee.
    match unsafe { buf.as_ref() } {
        // SAFETY: a valid sized_buf by the caller's guarantee.
        Some(b) => Ok(Some(unsafe { buf_bytes(b) }?)),
        None => Ok(None),
    }
}

/// The handle behind a C `Db*`, for reading.
///
/// # Safety
/// A non-NULL `db` must be a handle returned by `couchstore_open_db` and not freed.
pub(crate) unsafe fn db_ref<'a>(db: *mut CDb) -> Result<Ref<'a, crate::Db>, Error> {
    // SAFETY: forwarded from the caller.
    let handle = unsafe { non_null(db.cast_const()) }?;
    if handle.poisoned.get() {
        return Err(Error::FileClosed);
    }
    // Reads may nest (a callback reading during an iteration); a read during a write
    // cannot happen on one thread, but fail cleanly if it does.
    handle
        .inner
        .try_borrow()
        .map_err(|_| Error::InvalidArguments)
}

/// The handle behind a C `Db*`, for writing. Refused with INVALID_ARGUMENTS while the
/// handle is in use by an iteration whose callback is calling back in.
///
/// # Safety
/// As for [`db_ref`].
pub(crate) unsafe fn db_mut<'a>(db: *mut CDb) -> Result<RefMut<'a, crate::Db>, Error> {
    // SAFETY: forwarded from the caller.
    let handle = unsafe { non_null(db.cast_const()) }?;
    if handle.poisoned.get() {
        return Err(Error::FileClosed);
    }
    handle
        .inner
        .try_borrow_mut()
        .map_err(|_| Error::InvalidArguments)
}

/// Allocates `size` bytes with the C allocator (so C code may also `free()` what the
/// library hands out, as it could with the original).
pub(crate) fn c_alloc(size: usize) -> Result<*mut u8, Error> {
    // SAFETY: malloc has no preconditions; a NULL result is handled.
    let p = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
    if p.is_null() {
        Err(Error::AllocFail)
    } else {
        Ok(p)
    }
}

/// Frees memory from [`c_alloc`]; NULL is ignored.
///
/// # Safety
/// `p` must come from [`c_alloc`] (or be NULL) and not be used afterwards.
pub(crate) unsafe fn c_free(p: *mut c_void) {
    // SAFETY: forwarded from the caller; free(NULL) is a no-op.
    unsafe { libc::free(p) }
}

/// Copies `src` to `dst` and returns the position after it.
///
/// # Safety
/// `dst` must have room for `src.len()` bytes.
pub(crate) unsafe fn put(dst: *mut u8, src: &[u8]) -> *mut u8 {
    // SAFETY: the caller guarantees room; the regions cannot overlap (dst is fresh).
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len());
        dst.add(src.len())
    }
}

/// A `sized_buf` over `len` bytes at `p`.
pub(crate) fn sized(p: *mut u8, len: usize) -> sized_buf {
    sized_buf {
        buf: p.cast::<c_char>(),
        size: len,
    }
}
