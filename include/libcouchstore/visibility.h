/*
 * libcouchstore (couchstore-rs): LIBCOUCHSTORE_API marks what the library exports, as
 * the original's visibility.h does. Define it before including any libcouchstore
 * header to override it.
 */
#ifndef COUCHSTORE_VISIBILITY_H
#define COUCHSTORE_VISIBILITY_H

#ifndef LIBCOUCHSTORE_API
#if defined(__GNUC__) || defined(__clang__)
#define LIBCOUCHSTORE_API __attribute__((visibility("default")))
#else
#define LIBCOUCHSTORE_API
#endif
#endif

#endif /* COUCHSTORE_VISIBILITY_H */
