//! Errors: what went wrong ([`ErrorKind`]) and, for a failed system call, the OS error
//! behind it. The C API's numeric codes and texts are the C layer's business
//! (`capi::codes`); nothing here knows them.

#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::sync::Arc;

/// What went wrong. The kinds are the failures the original library distinguishes, so
/// a caller of either API sees the same cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file could not be opened (permissions, not a regular file, ...).
    OpenFile,
    /// The file's structure is inconsistent (bad node, bad value, bad pointer).
    Corrupt,
    /// A memory allocation failed or a size was beyond what can be allocated.
    AllocFail,
    /// A read from the file failed or came back short.
    Read,
    /// No document with that id or sequence.
    DocNotFound,
    /// The file has no valid header.
    NoHeader,
    /// A write to the file failed, or writing on a read-only handle.
    Write,
    /// The header's format version is not one this library reads (11–13).
    HeaderVersion,
    /// A stored checksum did not match the data.
    ChecksumFail,
    /// An argument was invalid.
    InvalidArguments,
    /// The file does not exist.
    NoSuchFile,
    /// The operation was cancelled.
    Cancel,
    /// A reduce value grew beyond what a node pointer can hold.
    ReductionTooLarge,
    /// A reduce function failed.
    ReducerFailure,
    /// The handle's file has been closed.
    FileClosed,
    /// The handle can no longer be used (e.g. rewound past its oldest header).
    DbNoLongerValid,
    /// Closing (or removing) the file failed.
    FileClose,
    /// The operation is not supported.
    NotSupported,
    /// A callback asked the scan to stop for now (temporary condition).
    ScanYield,
    /// A callback asked the scan to stop for good.
    ScanAborted,
    /// A caller's callback stopped the operation with a status of its own, which is
    /// handed back unchanged.
    Callback(i32),
}

impl ErrorKind {
    /// A short description, in the library's words.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::OpenFile => "the file could not be opened",
            ErrorKind::Corrupt => "the file holds malformed data",
            ErrorKind::AllocFail => "memory could not be allocated",
            ErrorKind::Read => "reading the file failed",
            ErrorKind::DocNotFound => "no such document",
            ErrorKind::NoHeader => "the file has no valid header",
            ErrorKind::Write => "writing the file failed",
            ErrorKind::HeaderVersion => "the header's format version is not supported",
            ErrorKind::ChecksumFail => "a checksum did not match",
            ErrorKind::InvalidArguments => "invalid arguments",
            ErrorKind::NoSuchFile => "no such file",
            ErrorKind::Cancel => "cancelled",
            ErrorKind::ReductionTooLarge => "a reduce value is too large",
            ErrorKind::ReducerFailure => "a reduce function failed",
            ErrorKind::FileClosed => "the handle's file is closed",
            ErrorKind::DbNoLongerValid => "the handle is no longer valid",
            ErrorKind::FileClose => "closing or removing the file failed",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::ScanYield => "the scan yielded",
            ErrorKind::ScanAborted => "the scan was aborted",
            ErrorKind::Callback(_) => "stopped by a callback",
        }
    }
}

/// A failure: its [`ErrorKind`] and, where a system call failed, the OS error that
/// caused it (its [`std::error::Error::source`]). Two errors are equal when their kinds
/// are: the cause is information, not identity.
///
/// Each kind is also an associated constant of this type (`Error::Corrupt`, ...), so
/// results compare as `assert_eq!(r, Err(Error::Corrupt))`; match on [`Error::kind`].
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    cause: Option<Arc<io::Error>>,
}

/// Shorthand for results of this library.
pub type Result<T> = std::result::Result<T, Error>;

#[allow(non_upper_case_globals)]
impl Error {
    /// See [`ErrorKind::OpenFile`].
    pub const OpenFile: Error = Error::of(ErrorKind::OpenFile);
    /// See [`ErrorKind::Corrupt`].
    pub const Corrupt: Error = Error::of(ErrorKind::Corrupt);
    /// See [`ErrorKind::AllocFail`].
    pub const AllocFail: Error = Error::of(ErrorKind::AllocFail);
    /// See [`ErrorKind::Read`].
    pub const Read: Error = Error::of(ErrorKind::Read);
    /// See [`ErrorKind::DocNotFound`].
    pub const DocNotFound: Error = Error::of(ErrorKind::DocNotFound);
    /// See [`ErrorKind::NoHeader`].
    pub const NoHeader: Error = Error::of(ErrorKind::NoHeader);
    /// See [`ErrorKind::Write`].
    pub const Write: Error = Error::of(ErrorKind::Write);
    /// See [`ErrorKind::HeaderVersion`].
    pub const HeaderVersion: Error = Error::of(ErrorKind::HeaderVersion);
    /// See [`ErrorKind::ChecksumFail`].
    pub const ChecksumFail: Error = Error::of(ErrorKind::ChecksumFail);
    /// See [`ErrorKind::InvalidArguments`].
    pub const InvalidArguments: Error = Error::of(ErrorKind::InvalidArguments);
    /// See [`ErrorKind::NoSuchFile`].
    pub const NoSuchFile: Error = Error::of(ErrorKind::NoSuchFile);
    /// See [`ErrorKind::Cancel`].
    pub const Cancel: Error = Error::of(ErrorKind::Cancel);
    /// See [`ErrorKind::ReductionTooLarge`].
    pub const ReductionTooLarge: Error = Error::of(ErrorKind::ReductionTooLarge);
    /// See [`ErrorKind::ReducerFailure`].
    pub const ReducerFailure: Error = Error::of(ErrorKind::ReducerFailure);
    /// See [`ErrorKind::FileClosed`].
    pub const FileClosed: Error = Error::of(ErrorKind::FileClosed);
    /// See [`ErrorKind::DbNoLongerValid`].
    pub const DbNoLongerValid: Error = Error::of(ErrorKind::DbNoLongerValid);
    /// See [`ErrorKind::FileClose`].
    pub const FileClose: Error = Error::of(ErrorKind::FileClose);
    /// See [`ErrorKind::NotSupported`].
    pub const NotSupported: Error = Error::of(ErrorKind::NotSupported);
    /// See [`ErrorKind::ScanYield`].
    pub const ScanYield: Error = Error::of(ErrorKind::ScanYield);
    /// See [`ErrorKind::ScanAborted`].
    pub const ScanAborted: Error = Error::of(ErrorKind::ScanAborted);

    /// See [`ErrorKind::Callback`].
    #[allow(non_snake_case)]
    pub const fn Callback(status: i32) -> Error {
        Error::of(ErrorKind::Callback(status))
    }

    /// An error of `kind` with no cause attached.
    pub const fn of(kind: ErrorKind) -> Error {
        Error { kind, cause: None }
    }

    /// An error of `kind` caused by the failed system call `cause`.
    pub fn io(kind: ErrorKind, cause: io::Error) -> Error {
        Error {
            kind,
            cause: Some(Arc::new(cause)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS error behind this failure, if a system call failed.
    pub fn os_error(&self) -> Option<&io::Error> {
        self.cause.as_deref()
    }

    /// The same failure reported as `kind` (a caller's own classification), keeping
    /// the cause.
    pub fn reported_as(self, kind: ErrorKind) -> Error {
        Error { kind, ..self }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::of(kind)
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.kind == other.kind
    }
}

impl Eq for Error {}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            None => write!(f, "{:?}", self.kind),
            Some(cause) => write!(f, "{:?}({cause})", self.kind),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Callback(status) => write!(f, "stopped by a callback with status {status}")?,
            kind => f.write_str(kind.description())?,
        }
        match &self.cause {
            Some(cause) => write!(f, ": {cause}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn equal_by_kind_and_carrying_the_cause() {
        let e = Error::io(ErrorKind::Write, io::Error::from_raw_os_error(28));
        assert_eq!(e, Error::Write);
        assert_ne!(e, Error::Read);
        assert_eq!(e.os_error().and_then(io::Error::raw_os_error), Some(28));
        assert!(e.source().is_some());
        assert!(
            e.to_string().starts_with("writing the file failed: "),
            "{e}"
        );
        assert!(Error::Corrupt.source().is_none());
        assert_eq!(Error::Callback(-7).kind(), ErrorKind::Callback(-7));
        let as_read = e.reported_as(ErrorKind::Read);
        assert_eq!(as_read, Error::Read);
        assert!(as_read.os_error().is_some());
    }
}
