//! Write buffers lent out process-wide: a handle holds one only between its first append
//! and the write-out that ends its batch, so a thousand idle handles hold none, and the
//! few flushers writing at any moment reuse the same few buffers (no allocation, no page
//! faults on fresh memory, per commit).

use parking_lot::Mutex;

/// Buffers kept for reuse: a few per flusher thread an engine runs.
const KEPT: usize = 32;

/// A buffer that grew beyond this (a large document) is freed rather than kept.
const LARGEST_KEPT: usize = 1 << 20;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for at least `capacity` bytes, reused when one is free.
pub fn take(capacity: usize) -> Vec<u8> {
    let reused = {
        let mut free = FREE.lock();
        free.iter()
            .rposition(|b| b.capacity() >= capacity)
            .map(|i| free.swap_remove(i))
    };
    reused.unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// Returns a buffer for reuse (emptied); buffers with no room, too large ones, or more
/// than are kept, are freed.
pub fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > LARGEST_KEPT {
        return;
    }
    buffer.clear();
    let mut free = FREE.lock();
    if free.len() < KEPT {
        free.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_come_back_empty() {
        let mut b = take(4096);
        assert!(b.capacity() >= 4096);
        b.extend_from_slice(&[1, 2, 3]);
        give_back(b);
        // Another test thread may take it first; whatever comes back is empty and large
        // enough.
        let again = take(4096);
        assert!(again.is_empty());
        assert!(again.capacity() >= 4096);
        give_back(Vec::with_capacity(LARGEST_KEPT * 2));
        assert!(FREE.lock().iter().all(|b| b.capacity() <= LARGEST_KEPT));
    }
}
