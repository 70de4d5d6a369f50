//! Big-endian, bit-packed fields. Every multi-byte number on disk goes through here,
//! so the packing rules (most significant bit first, no padding) live in one place.

use crate::error::{Error, Result};

/// Largest value of a 48-bit field (sequence numbers, file positions, sizes).
pub const MAX_U48: u64 = (1 << 48) - 1;
/// Largest value of a 40-bit field (document counts in reduce values).
pub const MAX_U40: u64 = (1 << 40) - 1;
/// Largest value of a 47-bit field (document body positions).
pub const MAX_U47: u64 = (1 << 47) - 1;
/// Largest key length a B-tree node can store (12 bits).
pub const MAX_KEY_LEN: usize = (1 << 12) - 1;
/// Largest value length a B-tree node can store (28 bits).
pub const MAX_VALUE_LEN: usize = (1 << 28) - 1;

/// Reads an unsigned big-endian number of `bytes.len()` bytes (at most 8).
#[inline]
pub fn get_be(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() <= 8);
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Writes `value` as a big-endian number filling all of `out` (at most 8 bytes).
/// Bits of `value` above the field's width are dropped; callers check ranges first.
#[inline]
pub fn put_be(out: &mut [u8], value: u64) {
    debug_assert!(out.len() <= 8);
    let n = out.len();
    out.copy_from_slice(&value.to_be_bytes()[8 - n..]);
}

/// Appends `value` as an `n`-byte big-endian number.
#[inline]
pub fn push_be(out: &mut Vec<u8>, value: u64, n: usize) {
    debug_assert!(n <= 8);
    out.extend_from_slice(&value.to_be_bytes()[8 - n..]);
}

/// A forward-only reader over a byte slice that fails with CORRUPT instead of
/// panicking when the input ends early.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    buf: &'a [u8],
}

impl<'a> ByteReader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf }
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Corrupt);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes the next `n` bytes as a big-endian number.
    #[inline]
    pub fn be(&mut self, n: usize) -> Result<u64> {
        self.take(n).map(get_be)
    }

    /// Everything not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The 5-byte pair of a 12-bit and a 28-bit length that prefixes every node item
/// (key length, value length) and every by-seq value (id length, body size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lengths12x28 {
    /// The 12-bit length.
    pub first: usize,
    /// The 28-bit length.
    pub second: usize,
}

impl Lengths12x28 {
    /// Encoded size in bytes.
    pub const SIZE: usize = 5;

    /// Packs both lengths; fails with INVALID_ARGUMENTS when one does not fit.
    pub fn encode(self) -> Result<[u8; 5]> {
        if self.first > MAX_KEY_LEN || self.second > MAX_VALUE_LEN {
            return Err(Error::InvalidArguments);
        }
        let packed = ((self.first as u64) << 28) | self.second as u64;
        let mut out = [0u8; 5];
        put_be(&mut out, packed);
        Ok(out)
    }

    /// Unpacks the two lengths.
    pub fn decode(raw: &[u8; 5]) -> Self {
        let packed = get_be(raw);
        Lengths12x28 {
            first: (packed >> 28) as usize,
            second: (packed & MAX_VALUE_LEN as u64) as usize,
        }
    }
}

/// The 6-byte pair of a 1-bit flag and a 47-bit number: the deleted flag and body
/// position of by-id and by-seq values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag1x47 {
    /// The top bit.
    pub flag: bool,
    /// The low 47 bits.
    pub value: u64,
}

impl Flag1x47 {
    /// Encoded size in bytes.
    pub const SIZE: usize = 6;

    /// Packs the flag and the number; fails with INVALID_ARGUMENTS when it does not fit.
    pub fn encode(self) -> Result<[u8; 6]> {
        if self.value > MAX_U47 {
            return Err(Error::InvalidArguments);
        }
        let mut out = [0u8; 6];
        put_be(&mut out, (u64::from(self.flag) << 47) | self.value);
        Ok(out)
    }

    /// Unpacks the flag and the number.
    pub fn decode(raw: &[u8; 6]) -> Self {
        let packed = get_be(raw);
        Flag1x47 {
            flag: packed >> 47 != 0,
            value: packed & MAX_U47,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_layouts() {
        // Key 14, value 62: the first leaf item of the golden localonly_v13 file.
        let raw = Lengths12x28 {
            first: 14,
            second: 62,
        }
        .encode()
        .unwrap();
        assert_eq!(raw, [0x00, 0xe0, 0x00, 0x00, 0x3e]);
        let raw = Flag1x47 {
            flag: true,
            value: 1,
        }
        .encode()
        .unwrap();
        assert_eq!(raw, [0x80, 0, 0, 0, 0, 1]);
        assert!(
            Lengths12x28 {
                first: 4096,
                second: 0
            }
            .encode()
            .is_err()
        );
        assert!(
            Lengths12x28 {
                first: 0,
                second: 1 << 28
            }
            .encode()
            .is_err()
        );
        assert!(
            Flag1x47 {
                flag: false,
                value: 1 << 47
            }
            .encode()
            .is_err()
        );
    }

    #[test]
    fn reader_fails_cleanly_at_end() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        assert_eq!(r.be(2).unwrap(), 0x0102);
        assert_eq!(r.take(2), Err(Error::Corrupt));
    }

    proptest! {
        #[test]
        fn be_round_trip(v in any::<u64>(), n in 1usize..=8) {
            let mask = if n == 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
            let mut buf = vec![0u8; n];
            put_be(&mut buf, v);
            prop_assert_eq!(get_be(&buf), v & mask);
        }

        #[test]
        fn lengths_round_trip(a in 0usize..=MAX_KEY_LEN, b in 0usize..=MAX_VALUE_LEN) {
            let l = Lengths12x28 { first: a, second: b };
            prop_assert_eq!(Lengths12x28::decode(&l.encode().unwrap()), l);
        }

        #[test]
        fn flag_round_trip(f in any::<bool>(), v in 0u64..=MAX_U47) {
            let x = Flag1x47 { flag: f, value: v };
            prop_assert_eq!(Flag1x47::decode(&x.encode().unwrap()), x);
        }
    }
}
