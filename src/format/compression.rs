//! Raw (unframed) Snappy, as B-tree nodes and compressed document bodies are stored.

use std::cell::RefCell;

use crate::error::{Error, Result};

thread_local! {
    // The codecs keep tables between calls: one of each per thread, not per node.
    static ENCODER: RefCell<snap::raw::Encoder> = RefCell::new(snap::raw::Encoder::new());
    static DECODER: RefCell<snap::raw::Decoder> = RefCell::new(snap::raw::Decoder::new());
}

/// Snappy can expand its input by at most this factor (a 3-byte copy op yields at most
/// 64 bytes), so a claimed length beyond it is corrupt and is never allocated.
const MAX_EXPANSION: usize = 22;

/// Compresses `data` with raw Snappy, appending to `out`.
pub fn compress_into(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + snap::raw::max_compress_len(data.len()), 0);
    let n = ENCODER
        .with(|e| e.borrow_mut().compress(data, &mut out[start..]))
        .expect("output sized by max_compress_len");
    out.truncate(start + n);
}

/// Encodes `data` as raw Snappy made of literals only, appending to `out`: a valid
/// stream any Snappy decoder reads (the original's included), written at the cost of a
/// copy instead of a compression, and no smaller than the input. For nodes whose write
/// time matters more than their size (those written while an engine waits).
pub fn store_literal_into(data: &[u8], out: &mut Vec<u8>) {
    // The uncompressed length, as a varint.
    let mut n = data.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    // Literal elements: tag 60 + k says k + 1 little-endian bytes of (length - 1)
    // follow; a literal is at most 2^32 bytes.
    for piece in data.chunks(1 << 32) {
        let len = piece.len() - 1;
        if len < 60 {
            out.push((len as u8) << 2);
        } else {
            let bytes = (64 - (len as u64).leading_zeros() as usize).div_ceil(8);
            out.push(((59 + bytes) as u8) << 2);
            out.extend_from_slice(&(len as u64).to_le_bytes()[..bytes]);
        }
        out.extend_from_slice(piece);
    }
}

/// Decompresses raw Snappy `data`, replacing the contents of `out`. Malformed input is
/// CORRUPT; the output size is checked against what the input could possibly produce
/// before anything is allocated.
pub fn decompress_into(data: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let len = snap::raw::decompress_len(data).map_err(|_| Error::Corrupt)?;
    if len > data.len().saturating_mul(MAX_EXPANSION) + 64 {
        return Err(Error::Corrupt);
    }
    // Every byte up to `len` is written by the decoder: only growth is zeroed, so a
    // reused buffer is not cleared for every node.
    out.resize(len, 0);
    let n = DECODER
        .with(|d| d.borrow_mut().decompress(data, out))
        .map_err(|_| Error::Corrupt)?;
    if n != len {
        return Err(Error::Corrupt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn literal_streams_decode(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
            let mut c = Vec::new();
            store_literal_into(&data, &mut c);
            let mut d = Vec::new();
            decompress_into(&c, &mut d).unwrap();
            prop_assert_eq!(&d, &data);
            // Into a buffer holding something longer, and something shorter.
            let mut longer = vec![0xa5u8; data.len() + 100];
            decompress_into(&c, &mut longer).unwrap();
            prop_assert_eq!(&longer, &data);
            let mut shorter = vec![0x5au8; data.len() / 2];
            decompress_into(&c, &mut shorter).unwrap();
            prop_assert_eq!(&shorter, &data);
            // The snap crate's own decoder agrees.
            prop_assert_eq!(snap::raw::Decoder::new().decompress_vec(&c).unwrap(), data);
        }

        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000), dirty in 0usize..6000) {
            let mut c = Vec::new();
            compress_into(&data, &mut c);
            // The buffer holds `dirty` bytes of something else: all of it is replaced.
            let mut d = vec![0xa5u8; dirty];
            decompress_into(&c, &mut d).unwrap();
            prop_assert_eq!(d, data);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = Vec::new();
            let _ = decompress_into(&data, &mut d);
        }
    }

    #[test]
    fn huge_claim_is_refused() {
        // A varint claiming ~2^35 bytes followed by nothing.
        let mut d = Vec::new();
        assert!(decompress_into(&[0xff, 0xff, 0xff, 0xff, 0x7f], &mut d).is_err());
    }
}
