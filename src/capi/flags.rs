//! The C API's flag bits and the core's option types: each set is mapped here, once.

use super::types::*;
use crate::btree::NodeSizes;
use crate::compact::CompactFlags;
use crate::db::{OpenOptions, SaveOptions, ScanOptions};

/// The periodic sync interval the open (or compaction) flags encode, if any: bits 24–28
/// hold N, for an fsync after every 1 KiB << (N-1) bytes.
pub(crate) fn periodic_sync_bytes(flags: u64) -> Option<u64> {
    match (flags & COUCHSTORE_OPEN_WITH_PERIODIC_SYNC) >> 24 {
        0 => None,
        n => Some(1024u64 << (n - 1)),
    }
}

/// Encodes a periodic sync interval in bytes as flag bits, rounded down to a power of
/// two and clamped to 1 KiB ..= 1 TiB (0 stays 0: no periodic sync).
pub(crate) fn encode_periodic_sync(bytes: u64) -> couchstore_open_flags {
    if bytes == 0 {
        return 0;
    }
    let kib = (bytes / 1024).clamp(1, 1 << 30);
    let n = 63 - u64::from(kib.leading_zeros()) + 1;
    (n << 24) & COUCHSTORE_OPEN_WITH_PERIODIC_SYNC
}

/// The node sizes the open flags ask for: bits 16–19 the leaf (kv) size, 20–23 the
/// interior (kp) size, in KiB; 0 is the default.
pub(crate) fn node_sizes(flags: couchstore_open_flags) -> NodeSizes {
    let kib = |shift: u32| ((flags & COUCHSTORE_OPEN_WITH_CUSTOM_NODESIZE) >> shift & 0xf) as usize;
    NodeSizes::from_kib(kib(16), kib(20))
}

fn node_size_bits(sizes: NodeSizes) -> couchstore_open_flags {
    let kib = |bytes: usize| match bytes {
        NodeSizes::DEFAULT_THRESHOLD => 0,
        n => (n / 1024).min(0xf) as u64,
    };
    (kib(sizes.leaf) << 16) | (kib(sizes.interior) << 20)
}

/// The core's open options for C open flags. The read-buffer bits are accepted and
/// ignored (reads are not buffered per file); tracing, write validation and mprotect are
/// for the caller's file ops alone.
pub(crate) fn open_options(flags: couchstore_open_flags) -> OpenOptions {
    let has = |bit: couchstore_open_flags| flags & bit != 0;
    OpenOptions {
        create: has(COUCHSTORE_OPEN_FLAG_CREATE),
        exclusive: has(COUCHSTORE_OPEN_FLAG_EXCL),
        read_only: has(COUCHSTORE_OPEN_FLAG_RDONLY),
        legacy_crc: has(COUCHSTORE_OPEN_WITH_LEGACY_CRC),
        unbuffered: has(COUCHSTORE_OPEN_FLAG_UNBUFFERED),
        no_commit_at_create: has(COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE),
        node_sizes: node_sizes(flags),
        periodic_sync: periodic_sync_bytes(flags),
    }
}

/// The C open flags for core options (for a compaction target opened through the
/// caller's file ops, which are told the flags).
pub(crate) fn open_flags_of(options: OpenOptions) -> couchstore_open_flags {
    let bit = |on: bool, bit: couchstore_open_flags| if on { bit } else { 0 };
    bit(options.create, COUCHSTORE_OPEN_FLAG_CREATE)
        | bit(options.exclusive, COUCHSTORE_OPEN_FLAG_EXCL)
        | bit(options.read_only, COUCHSTORE_OPEN_FLAG_RDONLY)
        | bit(options.legacy_crc, COUCHSTORE_OPEN_WITH_LEGACY_CRC)
        | bit(options.unbuffered, COUCHSTORE_OPEN_FLAG_UNBUFFERED)
        | bit(
            options.no_commit_at_create,
            COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE,
        )
        | node_size_bits(options.node_sizes)
        | options.periodic_sync.map_or(0, encode_periodic_sync)
}

/// The core's compaction flags for C compaction flags (RATE_LIMITED is read by the
/// entry points: it picks the compaction's rate limit).
pub(crate) fn compact_flags(flags: couchstore_compact_flags) -> CompactFlags {
    let has = |bit: couchstore_compact_flags| flags & bit != 0;
    CompactFlags {
        drop_deletes: has(COUCHSTORE_COMPACT_FLAG_DROP_DELETES),
        upgrade: has(COUCHSTORE_COMPACT_FLAG_UPGRADE_DB),
        unbuffered: has(COUCHSTORE_COMPACT_FLAG_UNBUFFERED),
        recovery: has(COUCHSTORE_COMPACT_RECOVERY_MODE),
        periodic_sync: periodic_sync_bytes(flags & COUCHSTORE_COMPACT_WITH_PERIODIC_SYNC),
    }
}

/// The core's save options for C save options.
pub(crate) fn save_options(options: couchstore_save_options) -> SaveOptions {
    SaveOptions {
        compress_bodies: options & COMPRESS_DOC_BODIES != 0,
        sequence_as_is: options & COUCHSTORE_SEQUENCE_AS_IS != 0,
    }
}

/// The core's scan options for C doc-info options.
pub(crate) fn scan_options(options: couchstore_docinfos_options) -> ScanOptions {
    let has = |bit: couchstore_docinfos_options| options & bit != 0;
    ScanOptions {
        ranges: has(RANGES),
        deletes_only: has(COUCHSTORE_DELETES_ONLY),
        no_deletes: has(COUCHSTORE_NO_DELETES),
        tolerate_corruption: has(COUCHSTORE_TOLERATE_CORRUPTION),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_sync_encoding() {
        assert_eq!(encode_periodic_sync(0), 0);
        assert_eq!(encode_periodic_sync(1024), 1 << 24);
        assert_eq!(encode_periodic_sync(1500), 1 << 24);
        assert_eq!(encode_periodic_sync(1 << 20), 11 << 24);
        assert_eq!(encode_periodic_sync(u64::MAX), 31 << 24);
        for bytes in [1024u64, 4096, 1 << 20, 1 << 40] {
            assert_eq!(
                periodic_sync_bytes(encode_periodic_sync(bytes)),
                Some(bytes)
            );
        }
    }

    #[test]
    fn node_size_bits_decode() {
        assert_eq!(node_sizes(0), NodeSizes::default());
        let s = node_sizes(0x440000);
        assert_eq!((s.leaf, s.interior), (4096, 4096));
        let s = node_sizes(0x210000);
        assert_eq!((s.leaf, s.interior), (1024, 2048));
    }

    /// Every open flag bit the core knows comes back as it went in.
    #[test]
    fn open_flags_round_trip() {
        for flags in [
            COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_EXCL,
            COUCHSTORE_OPEN_FLAG_RDONLY,
            COUCHSTORE_OPEN_FLAG_CREATE
                | COUCHSTORE_OPEN_WITH_LEGACY_CRC
                | COUCHSTORE_OPEN_FLAG_UNBUFFERED
                | COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE
                | 0x21_0000
                | encode_periodic_sync(1 << 20),
        ] {
            assert_eq!(open_flags_of(open_options(flags)), flags, "{flags:#x}");
        }
        let o = open_options(COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_WITH_TRACING);
        assert_eq!(o, OpenOptions::create());
    }

    #[test]
    fn compact_flags_map_one_to_one() {
        assert_eq!(compact_flags(0), CompactFlags::default());
        let all = compact_flags(
            COUCHSTORE_COMPACT_FLAG_DROP_DELETES
                | COUCHSTORE_COMPACT_FLAG_UPGRADE_DB
                | COUCHSTORE_COMPACT_FLAG_UNBUFFERED
                | COUCHSTORE_COMPACT_RECOVERY_MODE
                | encode_periodic_sync(4 << 20),
        );
        assert_eq!(
            all,
            CompactFlags {
                drop_deletes: true,
                upgrade: true,
                unbuffered: true,
                recovery: true,
                periodic_sync: Some(4 << 20),
            }
        );
        assert_eq!(
            compact_flags(COUCHSTORE_COMPACT_FLAG_RATE_LIMITED),
            CompactFlags::default()
        );
    }

    #[test]
    fn save_and_scan_options_map_each_bit() {
        assert_eq!(save_options(0), SaveOptions::default());
        let s = save_options(COMPRESS_DOC_BODIES | COUCHSTORE_SEQUENCE_AS_IS);
        assert!(s.compress_bodies && s.sequence_as_is);
        assert!(!save_options(COUCHSTORE_SEQUENCE_AS_IS).compress_bodies);
        assert_eq!(scan_options(0), ScanOptions::default());
        for (bit, want) in [
            (
                RANGES,
                ScanOptions {
                    ranges: true,
                    ..Default::default()
                },
            ),
            (
                COUCHSTORE_DELETES_ONLY,
                ScanOptions {
                    deletes_only: true,
                    ..Default::default()
                },
            ),
            (
                COUCHSTORE_NO_DELETES,
                ScanOptions {
                    no_deletes: true,
                    ..Default::default()
                },
            ),
            (
                COUCHSTORE_TOLERATE_CORRUPTION,
                ScanOptions {
                    tolerate_corruption: true,
                    ..Default::default()
                },
            ),
        ] {
            assert_eq!(scan_options(bit), want);
        }
    }
}
