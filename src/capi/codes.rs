//! The C API's error codes and `couchstore_strerror` texts, in one table, and the
//! mapping between them and the core's [`ErrorKind`].

use std::ffi::CStr;

use super::types::*;
use crate::error::{Error, ErrorKind};

/// Every kind with its code and text. The texts of the codes the original names are its
/// exact wording; for the ones it leaves without text (it returns NULL for them) a
/// short description, so a C caller never receives a NULL string.
const TABLE: [(ErrorKind, couchstore_error_t, &CStr); 20] = [
    (
        ErrorKind::OpenFile,
        COUCHSTORE_ERROR_OPEN_FILE,
        c"error opening file",
    ),
    (
        ErrorKind::Corrupt,
        COUCHSTORE_ERROR_CORRUPT,
        c"malformed data in file",
    ),
    (
        ErrorKind::AllocFail,
        COUCHSTORE_ERROR_ALLOC_FAIL,
        c"failed to allocate buffer",
    ),
    (
        ErrorKind::Read,
        COUCHSTORE_ERROR_READ,
        c"error reading file",
    ),
    (
        ErrorKind::DocNotFound,
        COUCHSTORE_ERROR_DOC_NOT_FOUND,
        c"document not found",
    ),
    (
        ErrorKind::NoHeader,
        COUCHSTORE_ERROR_NO_HEADER,
        c"no header in non-empty file",
    ),
    (
        ErrorKind::Write,
        COUCHSTORE_ERROR_WRITE,
        c"error writing to file",
    ),
    (
        ErrorKind::HeaderVersion,
        COUCHSTORE_ERROR_HEADER_VERSION,
        c"incorrect version in header",
    ),
    (
        ErrorKind::ChecksumFail,
        COUCHSTORE_ERROR_CHECKSUM_FAIL,
        c"checksum fail",
    ),
    (
        ErrorKind::InvalidArguments,
        COUCHSTORE_ERROR_INVALID_ARGUMENTS,
        c"invalid arguments",
    ),
    (
        ErrorKind::NoSuchFile,
        COUCHSTORE_ERROR_NO_SUCH_FILE,
        c"no such file",
    ),
    (
        ErrorKind::Cancel,
        COUCHSTORE_ERROR_CANCEL,
        c"stopped by cancel",
    ),
    (
        ErrorKind::ReductionTooLarge,
        COUCHSTORE_ERROR_REDUCTION_TOO_LARGE,
        c"reduction too large",
    ),
    (
        ErrorKind::ReducerFailure,
        COUCHSTORE_ERROR_REDUCER_FAILURE,
        c"reducer failure",
    ),
    (
        ErrorKind::FileClosed,
        COUCHSTORE_ERROR_FILE_CLOSED,
        c"cannot do this operation when file is closed",
    ),
    (
        ErrorKind::DbNoLongerValid,
        COUCHSTORE_ERROR_DB_NO_LONGER_VALID,
        c"this db handle could have its file reopened and must be closed",
    ),
    (
        ErrorKind::FileClose,
        COUCHSTORE_ERROR_FILE_CLOSE,
        c"error closing file",
    ),
    (
        ErrorKind::NotSupported,
        COUCHSTORE_ERROR_NOT_SUPPORTED,
        c"operation not supported",
    ),
    (
        ErrorKind::ScanYield,
        COUCHSTORE_ERROR_SCAN_YIELD,
        c"scan yielded",
    ),
    (
        ErrorKind::ScanAborted,
        COUCHSTORE_ERROR_SCAN_ABORTED,
        c"scan aborted",
    ),
];

/// The C code for `kind`; a callback's own status is handed back unchanged.
pub fn code_of(kind: ErrorKind) -> couchstore_error_t {
    if let ErrorKind::Callback(status) = kind {
        return status;
    }
    TABLE
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|&(_, code, _)| code)
        .expect("every kind but Callback is in the table")
}

/// The C code for `e`.
pub fn code(e: &Error) -> couchstore_error_t {
    code_of(e.kind())
}

/// The error a C callback's or C file op's status stands for: None for success, the
/// kind for one of ours, [`ErrorKind::Callback`] for any other negative value.
pub fn error_from_code(code: couchstore_error_t) -> Option<Error> {
    if code == COUCHSTORE_SUCCESS {
        return None;
    }
    let kind = TABLE
        .iter()
        .find(|&&(_, c, _)| c == code)
        .map_or(ErrorKind::Callback(code), |&(k, _, _)| k);
    Some(Error::of(kind))
}

/// The text `couchstore_strerror` gives for `code`.
pub fn strerror(code: couchstore_error_t) -> &'static CStr {
    if code == COUCHSTORE_SUCCESS {
        return c"success";
    }
    TABLE
        .iter()
        .find(|&&(_, c, _)| c == code)
        .map_or(c"unknown error", |&(_, _, text)| text)
}

/// `e` as the tools report it: the C text, the OS error behind it if any, and the code
/// (`error opening file: File exists (os error 17) (-1)`).
pub fn report(e: &Error) -> String {
    let code = code(e);
    let text = strerror(code).to_string_lossy();
    match (e.kind(), e.os_error()) {
        (ErrorKind::Callback(_), _) => format!("{e} ({code})"),
        (_, Some(os)) => format!("{text}: {os} ({code})"),
        (_, None) => format!("{text} ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_every_code_has_a_text() {
        for code in -20..0 {
            let e = error_from_code(code).unwrap();
            assert_eq!(super::code(&e), code);
            assert_ne!(strerror(code), c"unknown error");
        }
        assert_eq!(error_from_code(0), None);
        assert_eq!(error_from_code(-77), Some(Error::Callback(-77)));
        assert_eq!(code(&Error::Callback(-77)), -77);
        assert_eq!(strerror(-77), c"unknown error");
        assert_eq!(strerror(0), c"success");
        let open = Error::io(ErrorKind::OpenFile, std::io::Error::from_raw_os_error(17));
        assert!(
            report(&open).starts_with("error opening file: "),
            "{}",
            report(&open)
        );
        assert!(report(&open).ends_with(" (-1)"));
        assert_eq!(report(&Error::Corrupt), "malformed data in file (-2)");
    }
}
