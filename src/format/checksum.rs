//! Chunk checksums: CRC32 for format 11, CRC32C (Castagnoli) from format 12 on.

/// Which CRC a file's chunks carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    /// The classic CRC32 (formats up to 11).
    Crc32,
    /// CRC32C, hardware accelerated where the CPU has it (format 12 and later).
    Crc32c,
}

impl ChecksumKind {
    /// The checksum every chunk of a file of this format version carries.
    pub fn for_version(version: u8) -> Self {
        if version <= 11 {
            ChecksumKind::Crc32
        } else {
            ChecksumKind::Crc32c
        }
    }

    /// The checksum of `data`.
    #[inline]
    pub fn compute(self, data: &[u8]) -> u32 {
        match self {
            ChecksumKind::Crc32 => crc32fast::hash(data),
            ChecksumKind::Crc32c => crc32c::crc32c(data),
        }
    }
}

/// How a chunk read is checked: against the file's own kind, or (while opening, before
/// the format is known) against either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumPolicy {
    /// Accept only this kind.
    Exactly(ChecksumKind),
    /// Accept CRC32C or CRC32.
    Either,
}

impl ChecksumPolicy {
    /// Whether `crc` is a valid checksum of `data` under this policy.
    pub fn accepts(self, data: &[u8], crc: u32) -> bool {
        self.matching(data, crc).is_some()
    }

    /// The kind `crc` is a valid checksum of `data` in, if any this policy accepts.
    pub fn matching(self, data: &[u8], crc: u32) -> Option<ChecksumKind> {
        let kinds: &[ChecksumKind] = match &self {
            ChecksumPolicy::Exactly(kind) => std::slice::from_ref(kind),
            ChecksumPolicy::Either => &[ChecksumKind::Crc32c, ChecksumKind::Crc32],
        };
        kinds.iter().copied().find(|k| k.compute(data) == crc)
    }
}

/// A chunk's checksum as read and verified: a copy of the chunk into a file of the
/// same kind carries it over instead of computing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedChecksum {
    /// The kind it was verified as.
    pub kind: ChecksumKind,
    /// The checksum.
    pub crc: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The 25-byte header body of the golden fresh_v11 file: version 11, rest zero.
        let mut body = [0u8; 25];
        body[0] = 0x0b;
        assert_eq!(ChecksumKind::Crc32.compute(&body), 0xf029_2b6b);
        assert_eq!(ChecksumKind::for_version(11), ChecksumKind::Crc32);
        assert_eq!(ChecksumKind::for_version(13), ChecksumKind::Crc32c);
        assert_eq!(ChecksumKind::Crc32c.compute(b"123456789"), 0xe306_9283);
        assert!(ChecksumPolicy::Either.accepts(&body, 0xf029_2b6b));
        assert!(!ChecksumPolicy::Exactly(ChecksumKind::Crc32c).accepts(&body, 0xf029_2b6b));
        assert_eq!(
            ChecksumPolicy::Either.matching(&body, 0xf029_2b6b),
            Some(ChecksumKind::Crc32)
        );
        assert_eq!(
            ChecksumPolicy::Either.matching(b"123456789", 0xe306_9283),
            Some(ChecksumKind::Crc32c)
        );
        assert_eq!(ChecksumPolicy::Either.matching(b"123456789", 0), None);
    }
}
