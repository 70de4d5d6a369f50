/*
 * libcouchstore (couchstore-rs): file operations, as the original's file_ops.h declares
 * them. An engine passes its own FileOpsInterface (usually a subclass that wraps
 * couchstore_get_default_file_ops() to count or inject I/O) to couchstore_open_db_ex
 * or a compaction, and every I/O of that handle goes through it:
 *
 *   constructor, open (O_RDWR or O_RDONLY, | O_CREAT with COUCHSTORE_OPEN_FLAG_CREATE,
 *   | O_EXCL with COUCHSTORE_OPEN_FLAG_EXCL), then the setters the open flags ask for
 *   (set_periodic_sync, set_tracing_enabled, set_write_validation_enabled,
 *   set_mprotect_enabled: any error, COUCHSTORE_ERROR_NOT_SUPPORTED included, fails the
 *   open), then pread / pwrite / goto_eof / sync / advise with tag() calls saying what
 *   an access is for, and at the end close, then destructor.
 *
 * Reads and writes are buffered by the library (unless COUCHSTORE_OPEN_FLAG_UNBUFFERED):
 * the ops see a few large calls, not one per node. A negative pread/pwrite result, or a
 * goto_eof below zero, is a failure; the errno put in errinfo->error is what
 * couchstore_last_os_error() reports for the handle. The library never lets a C++
 * exception of its own escape; one thrown by the ops is caught at the library's edge
 * and reported as the call's error.
 *
 * With the default ops (or NULL) the library does its own I/O directly, without a
 * virtual call per access.
 *
 * Compiled as C, this header declares the opaque types only.
 */
#ifndef COUCHSTORE_FILE_OPS_H
#define COUCHSTORE_FILE_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "couch_common.h"
#include "error.h"
#include "visibility.h"

#ifdef __cplusplus

/**
 * Abstract file handle: whatever an ops implementation wants it to be (a pointer to
 * its own state, a file descriptor, ...).
 */
using couch_file_handle = struct couch_file_handle_opaque*;

/** Where an ops call reports the OS error (errno) behind a failure. */
struct couchstore_error_info_t {
    int error;
};

/**
 * The file I/O primitives the library uses. The order of the virtual members is part
 * of the ABI; it is the original's.
 */
class LIBCOUCHSTORE_API FileOpsInterface {
public:
    /** Statistics of one file handle. */
    class FHStats {
    public:
        virtual ~FHStats() = default;
        /** Reads done on the handle. */
        virtual size_t getReadCount() = 0;
        /** Writes done on the handle. */
        virtual size_t getWriteCount() = 0;
        /** Bytes written through the handle. */
        virtual size_t getWriteBytes() = 0;
    };

    virtual ~FileOpsInterface() = default;

    /** Prepares state for a handle before open (may return nullptr). */
    virtual couch_file_handle constructor(couchstore_error_info_t* errinfo) = 0;

    /**
     * Opens `path` with open(2) flags `oflag`. `*handle` holds what constructor()
     * returned; the value left there is the handle the other calls get.
     */
    virtual couchstore_error_t open(couchstore_error_info_t* errinfo,
                                    couch_file_handle* handle,
                                    const char* path,
                                    int oflag) = 0;

    /** Closes the file (COUCHSTORE_ERROR_FILE_CLOSE on failure). */
    virtual couchstore_error_t close(couchstore_error_info_t* errinfo, couch_file_handle handle) = 0;

    /** Asks for an fsync after every `period_bytes` written (0: off). */
    virtual couchstore_error_t set_periodic_sync(couch_file_handle handle, uint64_t period_bytes) {
        (void)handle;
        (void)period_bytes;
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }

    /** Turns tracing on. */
    virtual couchstore_error_t set_tracing_enabled(couch_file_handle handle) {
        (void)handle;
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }

    /** Turns validation of writes on. */
    virtual couchstore_error_t set_write_validation_enabled(couch_file_handle handle) {
        (void)handle;
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }

    /** Turns mprotect of internal buffers on. */
    virtual couchstore_error_t set_mprotect_enabled(couch_file_handle handle) {
        (void)handle;
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }

    /** Reads up to `nbytes` at `offset`; returns the bytes read, or < 0 on failure. */
    virtual ssize_t pread(couchstore_error_info_t* errinfo,
                          couch_file_handle handle,
                          void* buf,
                          size_t nbytes,
                          cs_off_t offset) = 0;

    /** Writes up to `nbytes` at `offset`; returns the bytes written, or < 0 on failure. */
    virtual ssize_t pwrite(couchstore_error_info_t* errinfo,
                           couch_file_handle handle,
                           const void* buf,
                           size_t nbytes,
                           cs_off_t offset) = 0;

    /** The size of the file, or < 0 on failure. */
    virtual cs_off_t goto_eof(couchstore_error_info_t* errinfo, couch_file_handle handle) = 0;

    /** Makes everything written durable. */
    virtual couchstore_error_t sync(couchstore_error_info_t* errinfo, couch_file_handle handle) = 0;

    /** Caching advice for a range of the file. */
    virtual couchstore_error_t advise(couchstore_error_info_t* errinfo,
                                      couch_file_handle handle,
                                      cs_off_t offset,
                                      cs_off_t len,
                                      couchstore_file_advice_t advice) = 0;

    /** What the following accesses are for (FileTag::Unknown after them). */
    virtual void tag(couch_file_handle handle, FileTag tag) {
        (void)handle;
        (void)tag;
    }

    /** Statistics of the handle, or nullptr if these ops keep none. */
    virtual FHStats* get_stats(couch_file_handle handle) {
        (void)handle;
        return nullptr;
    }

    /** Releases what constructor() and open() allocated for the handle. */
    virtual void destructor(couch_file_handle handle) = 0;

    /** Releases buffers the ops keep for the handle. */
    virtual void free_buffers(couch_file_handle handle) {
        (void)handle;
    }
};

/** Tags the accesses of its lifetime: `tag` on construction, FileTag::Unknown after. */
class ScopedFileTag {
public:
    ScopedFileTag(FileOpsInterface* ops, couch_file_handle handle, FileTag tag)
        : ops(ops), handle(handle) {
        ops->tag(handle, tag);
    }

    ~ScopedFileTag() {
        ops->tag(handle, FileTag::Unknown);
    }

    ScopedFileTag(const ScopedFileTag&) = delete;
    ScopedFileTag& operator=(const ScopedFileTag&) = delete;

private:
    FileOpsInterface* ops;
    couch_file_handle handle;
};

/** A new instance of the library's own POSIX file operations, owned by the caller. */
LIBCOUCHSTORE_API FileOpsInterface* create_default_file_ops();

#else /* C */

/** Abstract file handle of an ops implementation. */
typedef struct couch_file_handle_opaque* couch_file_handle;

/** Where an ops call reports the OS error (errno) behind a failure. */
typedef struct couchstore_error_info_t {
    int error;
} couchstore_error_info_t;

/** File operations: a C++ FileOpsInterface (opaque from C). */
typedef struct FileOpsInterface FileOpsInterface;

#endif /* __cplusplus */

#endif /* COUCHSTORE_FILE_OPS_H */
