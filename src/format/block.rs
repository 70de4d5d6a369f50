//! The 4096-byte block structure. The first byte of every block is a marker (0 for data,
//! 1 for a header); above this layer those marker bytes are invisible, so a chunk that
//! crosses a block boundary has a marker byte inserted at each boundary it crosses.

/// Size of a block in bytes.
pub const BLOCK_SIZE: u64 = 4096;

/// The marker byte of a data block.
pub const DATA_MARKER: u8 = 0;
/// The marker byte of a block that starts with a header.
pub const HEADER_MARKER: u8 = 1;

/// Whether a file position is the first byte of a block (where a marker sits).
#[inline]
pub fn is_block_start(pos: u64) -> bool {
    pos.is_multiple_of(BLOCK_SIZE)
}

/// The number of file bytes that `logical_len` bytes of chunk data occupy when written
/// starting at file position `pos`, counting every marker byte at or after `pos`.
#[inline]
pub fn physical_len(pos: u64, logical_len: u64) -> u64 {
    if logical_len == 0 {
        return 0;
    }
    // The bytes after the first marker (if pos is itself a boundary, that marker counts).
    let in_first = BLOCK_SIZE - (pos % BLOCK_SIZE);
    let (start_marker, room) = if is_block_start(pos) {
        (1, BLOCK_SIZE - 1)
    } else {
        (0, in_first)
    };
    if logical_len <= room {
        return start_marker + logical_len;
    }
    let rest = logical_len - room;
    // Each further block holds BLOCK_SIZE - 1 data bytes after its marker.
    let blocks = rest.div_ceil(BLOCK_SIZE - 1);
    start_marker + room + rest + blocks
}

/// Removes, in place, the marker bytes from `buf`, which holds the file bytes starting
/// at position `pos`.
pub fn strip_markers(pos: u64, buf: &mut Vec<u8>) {
    strip_markers_after(pos, buf, 0);
}

/// [`strip_markers`] for the bytes of `buf` from `from` on, which are the file bytes
/// starting at `pos` (those before `from` are kept as they are).
pub fn strip_markers_after(pos: u64, buf: &mut Vec<u8>, from: usize) {
    let mut write = from;
    let mut read = from;
    let mut p = pos;
    while read < buf.len() {
        if is_block_start(p) {
            read += 1;
            p += 1;
            continue;
        }
        let room = (BLOCK_SIZE - p % BLOCK_SIZE) as usize;
        let take = room.min(buf.len() - read);
        buf.copy_within(read..read + take, write);
        read += take;
        write += take;
        p += take as u64;
    }
    buf.truncate(write);
}

/// Appends `data` to `out` as it is written at file position `pos`, inserting a data
/// marker at every block boundary. Returns the position after the last byte written.
pub fn insert_markers(pos: u64, data: &[u8], out: &mut Vec<u8>) -> u64 {
    let mut p = pos;
    let mut rest = data;
    while !rest.is_empty() {
        if is_block_start(p) {
            out.push(DATA_MARKER);
            p += 1;
        }
        let room = (BLOCK_SIZE - p % BLOCK_SIZE) as usize;
        let take = room.min(rest.len());
        out.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        p += take as u64;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_at_edges() {
        assert_eq!(physical_len(42, 10), 10);
        assert_eq!(physical_len(4096, 10), 11);
        assert_eq!(physical_len(4090, 6), 6);
        assert_eq!(physical_len(4090, 7), 8);
        assert_eq!(physical_len(0, 4095), 4096);
        assert_eq!(physical_len(0, 4096), 4098);
        assert_eq!(physical_len(5, 0), 0);
    }

    proptest! {
        #[test]
        fn insert_then_strip(pos in 0u64..20_000, data in proptest::collection::vec(any::<u8>(), 0..10_000)) {
            let mut raw = Vec::new();
            let end = insert_markers(pos, &data, &mut raw);
            prop_assert_eq!(raw.len() as u64, end - pos);
            prop_assert_eq!(raw.len() as u64, physical_len(pos, data.len() as u64));
            strip_markers(pos, &mut raw);
            prop_assert_eq!(raw, data);
        }

        #[test]
        fn strip_in_two_parts(pos in 0u64..20_000, data in proptest::collection::vec(any::<u8>(), 0..10_000), cut in 0usize..12_000) {
            let mut raw = Vec::new();
            insert_markers(pos, &data, &mut raw);
            // Stripped as a chunk read in two: a first part, then the rest appended.
            let cut = cut.min(raw.len());
            let mut out = raw[..cut].to_vec();
            strip_markers(pos, &mut out);
            let kept = out.len();
            out.extend_from_slice(&raw[cut..]);
            strip_markers_after(pos + cut as u64, &mut out, kept);
            prop_assert_eq!(out, data);
        }
    }
}
