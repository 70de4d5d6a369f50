//! Errors, with the numeric codes and texts of the original's `couchstore_error_t`.

#![forbid(unsafe_code)]

use std::fmt;

/// Every failure the library reports. Each variant corresponds to one code of the
/// original C API (`COUCHSTORE_ERROR_*`), so the C layer maps them one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
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
    /// Closing the file failed.
    FileClose,
    /// The operation is not supported.
    NotSupported,
    /// A callback asked the scan to stop for now (temporary condition).
    ScanYield,
    /// A callback asked the scan to stop for good.
    ScanAborted,
    /// A caller's callback stopped an iteration with its own (negative) status,
    /// which is handed back unchanged, as the original does.
    Callback(i32),
}

/// Shorthand for results of this library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The original's numeric code for this error (`couchstore_error_t`).
    pub fn code(self) -> i32 {
        match self {
            Error::OpenFile => -1,
            Error::Corrupt => -2,
            Error::AllocFail => -3,
            Error::Read => -4,
            Error::DocNotFound => -5,
            Error::NoHeader => -6,
            Error::Write => -7,
            Error::HeaderVersion => -8,
            Error::ChecksumFail => -9,
            Error::InvalidArguments => -10,
            Error::NoSuchFile => -11,
            Error::Cancel => -12,
            Error::ReductionTooLarge => -13,
            Error::ReducerFailure => -14,
            Error::FileClosed => -15,
            Error::DbNoLongerValid => -16,
            Error::FileClose => -17,
            Error::NotSupported => -18,
            Error::ScanYield => -19,
            Error::ScanAborted => -20,
            Error::Callback(code) => code,
        }
    }

    /// The error for a numeric code; unknown negative codes become [`Error::Callback`].
    /// Returns `None` for 0 (success).
    pub fn from_code(code: i32) -> Option<Error> {
        Some(match code {
            0 => return None,
            -1 => Error::OpenFile,
            -2 => Error::Corrupt,
            -3 => Error::AllocFail,
            -4 => Error::Read,
            -5 => Error::DocNotFound,
            -6 => Error::NoHeader,
            -7 => Error::Write,
            -8 => Error::HeaderVersion,
            -9 => Error::ChecksumFail,
            -10 => Error::InvalidArguments,
            -11 => Error::NoSuchFile,
            -12 => Error::Cancel,
            -13 => Error::ReductionTooLarge,
            -14 => Error::ReducerFailure,
            -15 => Error::FileClosed,
            -16 => Error::DbNoLongerValid,
            -17 => Error::FileClose,
            -18 => Error::NotSupported,
            -19 => Error::ScanYield,
            -20 => Error::ScanAborted,
            other => Error::Callback(other),
        })
    }

    /// The original's `couchstore_strerror` text for this error.
    pub fn message(self) -> &'static str {
        strerror(self.code())
    }
}

/// The text `couchstore_strerror` gives for a numeric code. Codes the original names use
/// its exact wording; for the codes it leaves without text (it returns NULL for them) we
/// give a short description instead, so a C caller never receives a NULL string.
pub fn strerror(code: i32) -> &'static str {
    strerror_c(code).to_str().expect("ASCII texts")
}

/// [`strerror`] as a NUL-terminated string, for the C API.
pub fn strerror_c(code: i32) -> &'static std::ffi::CStr {
    match code {
        0 => c"success",
        -1 => c"error opening file",
        -2 => c"malformed data in file",
        -3 => c"failed to allocate buffer",
        -4 => c"error reading file",
        -5 => c"document not found",
        -6 => c"no header in non-empty file",
        -7 => c"error writing to file",
        -8 => c"incorrect version in header",
        -9 => c"checksum fail",
        -10 => c"invalid arguments",
        -11 => c"no such file",
        -12 => c"stopped by cancel",
        -13 => c"reduction too large",
        -14 => c"reducer failure",
        -15 => c"cannot do this operation when file is closed",
        -16 => c"this db handle could have its file reopened and must be closed",
        -17 => c"error closing file",
        -18 => c"operation not supported",
        -19 => c"scan yielded",
        -20 => c"scan aborted",
        _ => c"unknown error",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Callback(code) => write!(f, "stopped by callback with status {code}"),
            other => f.write_str(other.message()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in -20..0 {
            let e = Error::from_code(code).unwrap();
            assert_eq!(e.code(), code);
            assert_ne!(strerror(code), "unknown error");
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(-77), Some(Error::Callback(-77)));
        assert_eq!(Error::Callback(-77).code(), -77);
    }
}
