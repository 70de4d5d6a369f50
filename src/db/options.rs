//! Option and flag values, numerically identical to the original's C constants.

/// Flags for opening a database (`couchstore_open_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags(pub u64);

impl OpenFlags {
    /// Create the file if it does not exist.
    pub const CREATE: u64 = 1;
    /// Open read-only: writes and commits fail with WRITE.
    pub const RDONLY: u64 = 2;
    /// Use format 11 (CRC32) for a new file; refused for an existing format ≥ 12 file.
    pub const LEGACY_CRC: u64 = 4;
    /// Write every append through at once instead of buffering.
    pub const UNBUFFERED: u64 = 8;
    /// With CREATE: fail if the file exists.
    pub const EXCL: u64 = 16;
    /// With CREATE: do not write a header when creating the file (the first commit
    /// writes it); an existing empty file then has NO_HEADER.
    pub const NO_COMMIT_AT_CREATE: u64 = 32;
    /// Read-buffer configuration bits (accepted; reads are not buffered by this library).
    pub const CUSTOM_BUFFER: u64 = 0xff00;
    /// Node size bits: 16–19 leaf (kv) size, 20–23 interior (kp) size, in KiB.
    pub const CUSTOM_NODESIZE: u64 = 0xff_0000;
    /// Periodic sync bits: fsync after every 1 KiB << (N-1) bytes written.
    pub const PERIODIC_SYNC: u64 = 0x1f00_0000;

    /// Whether every bit of `flag` is set.
    pub fn has(self, flag: u64) -> bool {
        self.0 & flag == flag
    }

    /// The periodic sync interval in bytes, if asked for.
    pub fn periodic_sync_bytes(self) -> Option<u64> {
        match (self.0 & Self::PERIODIC_SYNC) >> 24 {
            0 => None,
            n => Some(1024u64 << (n - 1)),
        }
    }

    /// Encodes a periodic sync interval in bytes as flag bits, rounded down to a power
    /// of two and clamped to 1 KiB ..= 1 TiB (0 stays 0: no periodic sync).
    pub fn encode_periodic_sync(bytes: u64) -> u64 {
        if bytes == 0 {
            return 0;
        }
        let kib = (bytes / 1024).clamp(1, 1 << 30);
        let n = 63 - kib.leading_zeros() as u64 + 1;
        (n << 24) & Self::PERIODIC_SYNC
    }
}

/// Options for saving documents (`couchstore_save_options`).
pub mod save {
    /// Snappy-compress bodies whose content_meta has the compressed bit.
    pub const COMPRESS_DOC_BODIES: u64 = 1;
    /// Keep the caller's sequence numbers instead of assigning new ones.
    pub const SEQUENCE_AS_IS: u64 = 2;
}

/// Options for reading documents (`couchstore_open_options`).
pub mod open_doc {
    /// Decompress bodies whose content_meta has the compressed bit.
    pub const DECOMPRESS_DOC_BODIES: u64 = 1;
}

/// Options for iterating doc infos (`couchstore_docinfos_options`).
pub mod docinfos {
    /// The keys/sequences are pairs of inclusive range bounds.
    pub const RANGES: u64 = 1;
    /// Report only deleted entries.
    pub const DELETES_ONLY: u64 = 2;
    /// Report only live entries.
    pub const NO_DELETES: u64 = 4;
    /// Skip unreadable nodes instead of failing.
    pub const TOLERATE_CORRUPTION: u64 = 8;
}

/// The content_meta bit for a Snappy-compressed body.
pub const CONTENT_META_COMPRESSED: u8 = 0x80;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_sync_encoding() {
        assert_eq!(OpenFlags::encode_periodic_sync(0), 0);
        assert_eq!(OpenFlags::encode_periodic_sync(1024), 1 << 24);
        assert_eq!(OpenFlags::encode_periodic_sync(1500), 1 << 24);
        assert_eq!(OpenFlags::encode_periodic_sync(1 << 20), 11 << 24);
        assert_eq!(OpenFlags::encode_periodic_sync(u64::MAX), 31 << 24);
        for bytes in [1024u64, 4096, 1 << 20, 1 << 40] {
            let f = OpenFlags(OpenFlags::encode_periodic_sync(bytes));
            assert_eq!(f.periodic_sync_bytes(), Some(bytes));
        }
    }
}
