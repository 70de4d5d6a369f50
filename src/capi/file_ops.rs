//! A caller's C++ `FileOpsInterface` as a file [`Backend`]: every read, write, size,
//! sync and close of a handle opened with custom ops goes through the ops object, by
//! way of the `extern "C"` trampolines of the C++ shim (`src/cxx/shim.cc`), which catch
//! whatever the ops throw. With the default ops (or NULL) none of this is used: the
//! library does its own I/O.

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::codes::error_from_code;
use super::types::*;
use crate::error::{Error, ErrorKind};
use crate::file::{AccessTag, Backend, FileIdentity};

/// A `couch_file_handle`: whatever the ops made it.
type RawHandle = *mut c_void;

// The C++ shim's side (src/cxx/shim.cc).
unsafe extern "C" {
    fn cs_ops_default() -> *mut FileOpsInterface;
    fn cs_ops_is_default(ops: *mut FileOpsInterface) -> c_int;
    fn cs_ops_open(
        ops: *mut FileOpsInterface,
        path: *const std::ffi::c_char,
        oflag: c_int,
        out: *mut RawHandle,
        error: *mut c_int,
    ) -> couchstore_error_t;
    fn cs_ops_configure(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        periodic_sync_bytes: u64,
        tracing: c_int,
        write_validation: c_int,
        mprotect: c_int,
    ) -> couchstore_error_t;
    fn cs_ops_pread(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        buf: *mut c_void,
        n: usize,
        pos: cs_off_t,
        error: *mut c_int,
    ) -> isize;
    fn cs_ops_pwrite(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        buf: *const c_void,
        n: usize,
        pos: cs_off_t,
        error: *mut c_int,
    ) -> isize;
    fn cs_ops_goto_eof(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        error: *mut c_int,
    ) -> cs_off_t;
    fn cs_ops_sync(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        error: *mut c_int,
    ) -> couchstore_error_t;
    fn cs_ops_tag(ops: *mut FileOpsInterface, handle: RawHandle, tag: u8);
    fn cs_ops_get_stats(ops: *mut FileOpsInterface, handle: RawHandle) -> *mut c_void;
    fn cs_ops_close(
        ops: *mut FileOpsInterface,
        handle: RawHandle,
        error: *mut c_int,
    ) -> couchstore_error_t;
}

/// The library's own POSIX ops object (process-wide, never deleted).
pub(crate) fn default_ops() -> *mut FileOpsInterface {
    // SAFETY: the shim returns a static object; no preconditions.
    unsafe { cs_ops_default() }
}

/// Whether `ops` means the library's own I/O: NULL, or the library's default ops.
///
/// # Safety
/// `ops` must be NULL or point to a live `FileOpsInterface`.
pub(crate) unsafe fn is_default(ops: *mut FileOpsInterface) -> bool {
    // SAFETY: NULL or a live object, by the caller's guarantee; the shim only reads
    // its dynamic type.
    ops.is_null() || unsafe { cs_ops_is_default(ops) } != 0
}

/// An I/O error for a failed ops call: the errno it reported, EIO when it gave none.
fn os_error(errno: c_int) -> io::Error {
    io::Error::from_raw_os_error(if errno == 0 { libc::EIO } else { errno })
}

/// One file opened through a caller's ops; closed (close, then destructor) once.
#[derive(Debug)]
pub(crate) struct OpsBackend {
    ops: *mut FileOpsInterface,
    handle: RawHandle,
    open: bool,
    /// The file the name led to when the ops opened it (the ops give no descriptor): an
    /// online compaction of that file follows this handle's writes by it.
    identity: Option<FileIdentity>,
}

// SAFETY: the ops object and its handle belong to the caller, who by the C API's
// contract uses a database handle from one thread at a time; the library calls the
// ops only from the thread working on that handle, as the original does.
unsafe impl Send for OpsBackend {}
// SAFETY: as above: no two threads call into one handle's ops at once.
unsafe impl Sync for OpsBackend {}

impl OpsBackend {
    /// Opens `path` through `ops` for a database opened with the C open `flags`:
    /// constructor and open, then the setters the flags ask for (any error fails the
    /// open).
    ///
    /// # Safety
    /// `ops` must point to a live `FileOpsInterface` that outlives the backend.
    pub(crate) unsafe fn open(
        ops: *mut FileOpsInterface,
        path: &CStr,
        flags: couchstore_open_flags,
    ) -> Result<OpsBackend, Error> {
        let options = super::flags::open_options(flags);
        let mut oflag = if options.read_only {
            libc::O_RDONLY
        } else {
            libc::O_RDWR
        };
        if options.create && !options.read_only {
            oflag |= libc::O_CREAT;
            if options.exclusive {
                oflag |= libc::O_EXCL;
            }
        }
        let mut handle: RawHandle = std::ptr::null_mut();
        let mut errno = 0;
        // SAFETY: a live ops object; `path` is NUL-terminated; the out-pointers are ours.
        let rc = unsafe { cs_ops_open(ops, path.as_ptr(), oflag, &mut handle, &mut errno) };
        if rc != COUCHSTORE_SUCCESS {
            let kind = error_from_code(rc).map_or(ErrorKind::OpenFile, |e| e.kind());
            return Err(Error::io(kind, os_error(errno)));
        }
        let name = Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()));
        let backend = OpsBackend {
            ops,
            handle,
            open: true,
            identity: std::fs::metadata(name).ok().map(|m| FileIdentity::of(&m)),
        };
        let bit = |f: u64| c_int::from(flags & f != 0);
        // SAFETY: a live ops object and the handle it just opened.
        let rc = unsafe {
            cs_ops_configure(
                ops,
                handle,
                options.periodic_sync.unwrap_or(0),
                bit(COUCHSTORE_OPEN_WITH_TRACING),
                bit(COUCHSTORE_OPEN_WITH_WRITE_VALIDATION),
                bit(COUCHSTORE_OPEN_WITH_MPROTECT),
            )
        };
        if rc != COUCHSTORE_SUCCESS {
            // Dropping the backend closes the file and calls the destructor.
            drop(backend);
            return Err(error_from_code(rc).unwrap_or(Error::OpenFile));
        }
        Ok(backend)
    }

    /// The ops' statistics of this file (an `FHStats*`), or NULL.
    pub(crate) fn stats(&self) -> *mut c_void {
        // SAFETY: a live ops object and its open handle.
        unsafe { cs_ops_get_stats(self.ops, self.handle) }
    }

    fn close_once(&mut self) -> io::Result<()> {
        if !std::mem::replace(&mut self.open, false) {
            return Ok(());
        }
        let mut errno = 0;
        // SAFETY: a live ops object and its handle, closed only here, once.
        match unsafe { cs_ops_close(self.ops, self.handle, &mut errno) } {
            COUCHSTORE_SUCCESS => Ok(()),
            _ => Err(os_error(errno)),
        }
    }
}

impl Backend for OpsBackend {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let pos =
            cs_off_t::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut errno = 0;
        // SAFETY: `buf` is writable for its length; a live ops object and handle.
        let n = unsafe {
            cs_ops_pread(
                self.ops,
                self.handle,
                buf.as_mut_ptr().cast(),
                buf.len(),
                pos,
                &mut errno,
            )
        };
        if n < 0 {
            return Err(os_error(errno));
        }
        Ok((n as usize).min(buf.len()))
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        let pos =
            cs_off_t::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut errno = 0;
        // SAFETY: `buf` is readable for its length; a live ops object and handle.
        let n = unsafe {
            cs_ops_pwrite(
                self.ops,
                self.handle,
                buf.as_ptr().cast(),
                buf.len(),
                pos,
                &mut errno,
            )
        };
        if n < 0 {
            return Err(os_error(errno));
        }
        Ok((n as usize).min(buf.len()))
    }

    fn size(&self) -> io::Result<u64> {
        let mut errno = 0;
        // SAFETY: a live ops object and handle.
        let end = unsafe { cs_ops_goto_eof(self.ops, self.handle, &mut errno) };
        u64::try_from(end).map_err(|_| os_error(errno))
    }

    fn sync(&self) -> io::Result<()> {
        let mut errno = 0;
        // SAFETY: a live ops object and handle.
        match unsafe { cs_ops_sync(self.ops, self.handle, &mut errno) } {
            COUCHSTORE_SUCCESS => Ok(()),
            _ => Err(os_error(errno)),
        }
    }

    fn wants_tags(&self) -> bool {
        true
    }

    fn tag(&self, tag: AccessTag) {
        // SAFETY: a live ops object and handle.
        unsafe { cs_ops_tag(self.ops, self.handle, tag as u8) }
    }

    fn identity(&self) -> Option<FileIdentity> {
        self.identity
    }

    fn close(&mut self) -> io::Result<()> {
        self.close_once()
    }
}

impl Drop for OpsBackend {
    fn drop(&mut self) {
        let _ = self.close_once();
    }
}

/// Opens the database `name` through `ops` (the setters the flags ask for included).
/// The ops do the periodic sync, so the database does not do its own.
///
/// # Safety
/// `ops` must point to a live `FileOpsInterface` that outlives the database.
pub(crate) unsafe fn open_db(
    ops: *mut FileOpsInterface,
    name: &CStr,
    flags: couchstore_open_flags,
) -> Result<crate::Db, Error> {
    // SAFETY: forwarded from the caller.
    let backend = unsafe { OpsBackend::open(ops, name, flags) }?;
    let own = crate::db::OpenOptions {
        periodic_sync: None,
        ..super::flags::open_options(flags)
    };
    crate::Db::open_backend(Box::new(backend), path_name(name), own)
}

/// The name of a C path, for the handle.
fn path_name(name: &CStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()))
        .to_string_lossy()
        .into_owned()
}

/// The statistics of the ops behind `db`'s file, or NULL (closed, or the library's
/// own I/O).
pub(crate) fn stats_of(db: &crate::Db) -> *mut c_void {
    match db
        .backend()
        .and_then(|b| (b as &dyn std::any::Any).downcast_ref::<OpsBackend>())
    {
        Some(ops) => ops.stats(),
        None => std::ptr::null_mut(),
    }
}
