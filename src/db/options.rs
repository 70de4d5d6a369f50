//! How to open a database, as Rust types. The C API's flag bits map onto these in
//! `capi` alone.

use crate::btree::NodeSizes;

/// How to open a database. `Default` opens an existing file for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it does not exist.
    pub create: bool,
    /// With `create`: fail if the file exists.
    pub exclusive: bool,
    /// Read only: writes and commits fail with WRITE.
    pub read_only: bool,
    /// Use format 11 (CRC32) for a new file; refused for an existing format ≥ 12 file.
    pub legacy_crc: bool,
    /// Write every append through at once instead of buffering.
    pub unbuffered: bool,
    /// With `create`: do not write a header when creating the file (the first commit
    /// writes it); an existing empty file then has NO_HEADER.
    pub no_commit_at_create: bool,
    /// Node size thresholds (not stored in the file: each handle chooses).
    pub node_sizes: NodeSizes,
    /// fsync after every this many bytes written (None: only at commit).
    pub periodic_sync: Option<u64>,
}

impl OpenOptions {
    /// Open an existing file for writing, with the default node sizes and no periodic
    /// sync.
    pub const DEFAULT: OpenOptions = OpenOptions {
        create: false,
        exclusive: false,
        read_only: false,
        legacy_crc: false,
        unbuffered: false,
        no_commit_at_create: false,
        node_sizes: NodeSizes::DEFAULT,
        periodic_sync: None,
    };

    /// Open for writing, creating the file if needed.
    pub const fn create() -> Self {
        OpenOptions {
            create: true,
            ..Self::DEFAULT
        }
    }

    /// Open an existing file read-only.
    pub const fn read_only() -> Self {
        OpenOptions {
            read_only: true,
            ..Self::DEFAULT
        }
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How to save documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Snappy-compress bodies whose content_meta has the compressed bit.
    pub compress_bodies: bool,
    /// Keep the caller's sequence numbers instead of assigning new ones.
    pub sequence_as_is: bool,
}

/// How to iterate doc infos (changes, all docs, doc infos by id or sequence, walks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanOptions {
    /// The keys or sequences given are pairs of inclusive range bounds.
    pub ranges: bool,
    /// Report only deleted entries (with `no_deletes` too: none, as in the original).
    pub deletes_only: bool,
    /// Report only live entries.
    pub no_deletes: bool,
    /// Skip unreadable nodes instead of failing.
    pub tolerate_corruption: bool,
}

/// The content_meta bit for a Snappy-compressed body.
pub const CONTENT_META_COMPRESSED: u8 = 0x80;
