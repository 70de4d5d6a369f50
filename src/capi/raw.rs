//! The original's fixed-width big-endian field helpers (`couchstore_encode_raw08` ...
//! `couchstore_decode_raw64`), which its tools call. Exported for them; not declared in
//! the public headers (the original declares them in an internal header). The raw types
//! are byte arrays wrapped in structs, passed and returned by value.
#![allow(non_camel_case_types)]

macro_rules! raw_type {
    ($name:ident, $n:expr) => {
        /// A big-endian field of this many bytes.
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// The bytes, most significant first.
            pub raw_bytes: [u8; $n],
        }
    };
}

raw_type!(raw_08, 1);
raw_type!(raw_16, 2);
raw_type!(raw_24, 3);
raw_type!(raw_32, 4);
raw_type!(raw_40, 5);
raw_type!(raw_48, 6);
raw_type!(raw_64, 8);

/// The low `N` bytes of `value`, big-endian.
fn be<const N: usize>(value: u64) -> [u8; N] {
    let all = value.to_be_bytes();
    let mut out = [0u8; N];
    out.copy_from_slice(&all[8 - N..]);
    out
}

/// The big-endian bytes as a number.
fn num(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Decodes a 1-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_decode_raw08(raw: raw_08) -> u8 {
    raw.raw_bytes[0]
}

/// Decodes a 2-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_decode_raw16(raw: raw_16) -> u16 {
    num(&raw.raw_bytes) as u16
}

/// Decodes the 3-byte field at `raw`; 0 for NULL.
///
/// # Safety
/// `raw` must be NULL or point to a readable raw_24.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_decode_raw24p(raw: *const raw_24) -> u32 {
    // SAFETY: NULL or readable by the caller's guarantee.
    unsafe { raw.as_ref() }.map_or(0, |r| num(&r.raw_bytes) as u32)
}

/// Decodes a 4-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_decode_raw32(raw: raw_32) -> u32 {
    num(&raw.raw_bytes) as u32
}

/// Decodes the 5-byte field at `raw`; 0 for NULL.
///
/// # Safety
/// `raw` must be NULL or point to a readable raw_40.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_decode_raw40p(raw: *const raw_40) -> u64 {
    // SAFETY: NULL or readable by the caller's guarantee.
    unsafe { raw.as_ref() }.map_or(0, |r| num(&r.raw_bytes))
}

/// Decodes the 6-byte field at `raw`; 0 for NULL.
///
/// # Safety
/// `raw` must be NULL or point to a readable raw_48.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_decode_raw48p(raw: *const raw_48) -> u64 {
    // SAFETY: NULL or readable by the caller's guarantee.
    unsafe { raw.as_ref() }.map_or(0, |r| num(&r.raw_bytes))
}

/// Decodes an 8-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_decode_raw64(raw: raw_64) -> u64 {
    num(&raw.raw_bytes)
}

/// Encodes a 1-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_encode_raw08(value: u8) -> raw_08 {
    raw_08 { raw_bytes: [value] }
}

/// Encodes a 2-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_encode_raw16(value: u16) -> raw_16 {
    raw_16 {
        raw_bytes: value.to_be_bytes(),
    }
}

/// Encodes the low 24 bits of `value` into `*raw` (nothing for NULL).
///
/// # Safety
/// `raw` must be NULL or point to a writable raw_24.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_encode_raw24(value: u32, raw: *mut raw_24) {
    // SAFETY: NULL or writable by the caller's guarantee.
    if let Some(r) = unsafe { raw.as_mut() } {
        r.raw_bytes = be(u64::from(value));
    }
}

/// Encodes a 4-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_encode_raw32(value: u32) -> raw_32 {
    raw_32 {
        raw_bytes: value.to_be_bytes(),
    }
}

/// Encodes the low 40 bits of `value` into `*raw` (nothing for NULL).
///
/// # Safety
/// `raw` must be NULL or point to a writable raw_40.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_encode_raw40(value: u64, raw: *mut raw_40) {
    // SAFETY: NULL or writable by the caller's guarantee.
    if let Some(r) = unsafe { raw.as_mut() } {
        r.raw_bytes = be(value);
    }
}

/// Encodes the low 48 bits of `value` into `*raw` (nothing for NULL).
///
/// # Safety
/// `raw` must be NULL or point to a writable raw_48.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn couchstore_encode_raw48(value: u64, raw: *mut raw_48) {
    // SAFETY: NULL or writable by the caller's guarantee.
    if let Some(r) = unsafe { raw.as_mut() } {
        r.raw_bytes = be(value);
    }
}

/// Encodes an 8-byte field.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_encode_raw64(value: u64) -> raw_64 {
    raw_64 {
        raw_bytes: value.to_be_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(
            couchstore_decode_raw16(couchstore_encode_raw16(0xbeef)),
            0xbeef
        );
        assert_eq!(couchstore_encode_raw32(0x0102_0304).raw_bytes, [1, 2, 3, 4]);
        let mut r48 = raw_48 { raw_bytes: [0; 6] };
        // SAFETY: a valid raw_48.
        unsafe { couchstore_encode_raw48(0xffff_0102_0304_0506, &mut r48) };
        assert_eq!(r48.raw_bytes, [1, 2, 3, 4, 5, 6]);
        // SAFETY: a valid raw_48, and NULL.
        assert_eq!(unsafe { couchstore_decode_raw48p(&r48) }, 0x0102_0304_0506);
        // SAFETY: NULL is accepted.
        assert_eq!(unsafe { couchstore_decode_raw48p(std::ptr::null()) }, 0);
        let mut r24 = raw_24 { raw_bytes: [0; 3] };
        // SAFETY: a valid raw_24.
        unsafe { couchstore_encode_raw24(0xaabbcc, &mut r24) };
        // SAFETY: as above.
        assert_eq!(unsafe { couchstore_decode_raw24p(&r24) }, 0xaabbcc);
        assert_eq!(
            couchstore_decode_raw64(couchstore_encode_raw64(u64::MAX - 1)),
            u64::MAX - 1
        );
        assert_eq!(couchstore_decode_raw08(couchstore_encode_raw08(7)), 7);
        let mut r40 = raw_40 { raw_bytes: [0; 5] };
        // SAFETY: a valid raw_40.
        unsafe { couchstore_encode_raw40(0x12_3456_789a, &mut r40) };
        // SAFETY: as above.
        assert_eq!(unsafe { couchstore_decode_raw40p(&r40) }, 0x12_3456_789a);
    }
}
