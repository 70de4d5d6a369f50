//! Chunk prefixes. A data chunk is a 32-bit length with the high bit set (counting the
//! body only), a 32-bit checksum of the body, then the body. A header chunk sits right
//! after a header marker byte; its length does not have the high bit and counts the
//! 4-byte checksum too.

use super::bits::get_be;
use crate::error::{Error, Result};

/// Size of a chunk prefix: length + checksum.
pub const PREFIX_LEN: usize = 8;
/// The bit that marks a data chunk's length.
const DATA_BIT: u32 = 0x8000_0000;
/// Largest body a data chunk can carry (31 bits).
pub const MAX_DATA_LEN: usize = (DATA_BIT - 1) as usize;

/// A decoded chunk prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPrefix {
    /// Length of the body that follows the prefix.
    pub body_len: u32,
    /// The stored checksum of the body.
    pub crc: u32,
}

/// Encodes the prefix of a data chunk with a body of `body_len` bytes.
pub fn encode_data_prefix(body_len: usize, crc: u32) -> Result<[u8; PREFIX_LEN]> {
    if body_len > MAX_DATA_LEN {
        return Err(Error::InvalidArguments);
    }
    let mut out = [0u8; PREFIX_LEN];
    out[..4].copy_from_slice(&(body_len as u32 | DATA_BIT).to_be_bytes());
    out[4..].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Decodes the prefix of a data chunk; a length without the data bit is CORRUPT.
pub fn decode_data_prefix(raw: &[u8; PREFIX_LEN]) -> Result<ChunkPrefix> {
    let len = get_be(&raw[..4]) as u32;
    if len & DATA_BIT == 0 {
        return Err(Error::Corrupt);
    }
    Ok(ChunkPrefix {
        body_len: len & !DATA_BIT,
        crc: get_be(&raw[4..]) as u32,
    })
}

/// Encodes the prefix of a header chunk with a body of `body_len` bytes.
pub fn encode_header_prefix(body_len: usize, crc: u32) -> [u8; PREFIX_LEN] {
    let mut out = [0u8; PREFIX_LEN];
    out[..4].copy_from_slice(&(body_len as u32 + 4).to_be_bytes());
    out[4..].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes the prefix of a header chunk. A length that has the data bit or is too
/// short to hold its own checksum is not a header: NO_HEADER.
pub fn decode_header_prefix(raw: &[u8; PREFIX_LEN]) -> Result<ChunkPrefix> {
    let len = get_be(&raw[..4]) as u32;
    if len & DATA_BIT != 0 || len < 4 {
        return Err(Error::NoHeader);
    }
    Ok(ChunkPrefix {
        body_len: len - 4,
        crc: get_be(&raw[4..]) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_prefixes() {
        // localonly_v13: header at 0 has length 0x25 (33-byte body + 4), a node chunk at
        // 42 has length 0x80000052.
        let h = decode_header_prefix(&[0, 0, 0, 0x25, 0x0c, 0xfe, 0xa2, 0x5e]).unwrap();
        assert_eq!(h.body_len, 33);
        assert_eq!(h.crc, 0x0cfe_a25e);
        let d = decode_data_prefix(&[0x80, 0, 0, 0x52, 0x54, 0xe9, 0x49, 0x24]).unwrap();
        assert_eq!(d.body_len, 0x52);
        assert_eq!(
            decode_data_prefix(&[0, 0, 0, 0x52, 0, 0, 0, 0]),
            Err(Error::Corrupt)
        );
        assert_eq!(
            decode_header_prefix(&[0, 0, 0, 3, 0, 0, 0, 0]),
            Err(Error::NoHeader)
        );
    }

    proptest! {
        #[test]
        fn data_round_trip(len in 0usize..=MAX_DATA_LEN, crc in any::<u32>()) {
            let raw = encode_data_prefix(len, crc).unwrap();
            prop_assert_eq!(decode_data_prefix(&raw).unwrap(), ChunkPrefix { body_len: len as u32, crc });
            prop_assert!(decode_header_prefix(&raw).is_err());
        }

        #[test]
        fn header_round_trip(len in 0usize..100_000, crc in any::<u32>()) {
            let raw = encode_header_prefix(len, crc);
            prop_assert_eq!(decode_header_prefix(&raw).unwrap(), ChunkPrefix { body_len: len as u32, crc });
        }

        #[test]
        fn random_prefixes_never_panic(raw in any::<[u8; 8]>()) {
            let _ = decode_data_prefix(&raw);
            let _ = decode_header_prefix(&raw);
        }
    }
}
