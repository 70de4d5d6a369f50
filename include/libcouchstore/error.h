/*
 * libcouchstore (couchstore-rs): the error codes every call returns, numbered exactly
 * as the original's error.h. couchstore_strerror() describes each one.
 *
 * A callback that stops an iteration with its own negative value gets that value
 * back unchanged from the call, as with the original; it need not be one of these.
 */
#ifndef COUCHSTORE_ERROR_H
#define COUCHSTORE_ERROR_H

#include "visibility.h"

typedef enum couchstore_error_t {
    /** Success. */
    COUCHSTORE_SUCCESS = 0,
    /** The file could not be opened. */
    COUCHSTORE_ERROR_OPEN_FILE = -1,
    /** Malformed data in the file. */
    COUCHSTORE_ERROR_CORRUPT = -2,
    /** A buffer could not be allocated. */
    COUCHSTORE_ERROR_ALLOC_FAIL = -3,
    /** Reading the file failed. */
    COUCHSTORE_ERROR_READ = -4,
    /** No such document. */
    COUCHSTORE_ERROR_DOC_NOT_FOUND = -5,
    /** No valid header in a non-empty file. */
    COUCHSTORE_ERROR_NO_HEADER = -6,
    /** Writing the file failed, or the handle is read-only. */
    COUCHSTORE_ERROR_WRITE = -7,
    /** The header's format version is not supported. */
    COUCHSTORE_ERROR_HEADER_VERSION = -8,
    /** A checksum did not match. */
    COUCHSTORE_ERROR_CHECKSUM_FAIL = -9,
    /** An argument was invalid. */
    COUCHSTORE_ERROR_INVALID_ARGUMENTS = -10,
    /** The file does not exist. */
    COUCHSTORE_ERROR_NO_SUCH_FILE = -11,
    /** Stopped by cancel. */
    COUCHSTORE_ERROR_CANCEL = -12,
    /** A reduce value grew too large. */
    COUCHSTORE_ERROR_REDUCTION_TOO_LARGE = -13,
    /** A reduce function failed. */
    COUCHSTORE_ERROR_REDUCER_FAILURE = -14,
    /** The handle's file is closed. */
    COUCHSTORE_ERROR_FILE_CLOSED = -15,
    /** The handle is no longer valid: close and free it. */
    COUCHSTORE_ERROR_DB_NO_LONGER_VALID = -16,
    /** Closing the file failed. */
    COUCHSTORE_ERROR_FILE_CLOSE = -17,
    /** The operation is not supported. */
    COUCHSTORE_ERROR_NOT_SUPPORTED = -18,
    /** A callback asked the scan to yield (temporary condition). */
    COUCHSTORE_ERROR_SCAN_YIELD = -19,
    /** A callback asked the scan to abort. */
    COUCHSTORE_ERROR_SCAN_ABORTED = -20
} couchstore_error_t;

#endif /* COUCHSTORE_ERROR_H */
