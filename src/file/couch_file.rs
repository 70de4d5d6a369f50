//! [`CouchFile`]: the append-only file of chunks and headers.

use std::io;
use std::sync::Arc;

use super::backend::{AccessTag, Backend};
use super::node_cache::{CacheSpace, NodeCache};
use super::write_behind::WriteBehind;
use super::write_buffer;
use crate::error::{Error, ErrorKind, Result};
use crate::format::block::{
    BLOCK_SIZE, DATA_MARKER, HEADER_MARKER, insert_markers, is_block_start, physical_len,
    strip_markers, strip_markers_after,
};
use crate::format::checksum::{ChecksumKind, ChecksumPolicy, VerifiedChecksum};
use crate::format::chunk::{
    self, PREFIX_LEN, decode_data_prefix, decode_header_prefix, encode_data_prefix,
    encode_header_prefix,
};
use crate::format::header::Header;

/// Default number of bytes buffered before appends are written out.
pub const DEFAULT_WRITE_BUFFER: usize = 128 * 1024;
/// Fewest bytes read at once when a chunk is read: a read runs to the end of the
/// 4096-byte block the chunk starts in (as the original reads whole blocks), and on into
/// the next block when fewer than this are left in it, so most chunks take one read and
/// reads stay block-aligned.
const SHORTEST_READ: u64 = 1024;
/// Bytes read at once at a candidate header: marker, prefix and a header with roots.
const HEADER_READ: u64 = 512;
/// Largest header body accepted: fixed fields, timestamp and three maximal roots.
const MAX_HEADER_BODY: u32 = 1 + 24 + 8 + 3 * 0xffff;

/// Bytes read at once into a [`ReadAhead`] window.
const READ_AHEAD: u64 = 256 * 1024;

/// A window of the file read ahead, for [`CouchFile::read_chunk_ahead`].
#[derive(Debug, Default)]
pub struct ReadAhead {
    start: u64,
    bytes: Vec<u8>,
}

/// Where a chunk was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLocation {
    /// Position of the chunk (what node pointers and `bp` hold); never a block
    /// boundary, whose marker byte precedes the chunk.
    pub pos: u64,
    /// File bytes the chunk occupies from `pos`: prefix, body and block markers crossed.
    pub physical_size: u64,
}

/// A header found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundHeader {
    /// The decoded header.
    pub header: Header,
    /// Its position (a block boundary).
    pub pos: u64,
}

/// An append-only couchstore file.
#[derive(Debug)]
pub struct CouchFile {
    backend: Box<dyn Backend>,
    policy: ChecksumPolicy,
    /// Logical end of the file: everything written, buffered or not.
    end: u64,
    /// Bytes below this position are in the backend; `pending` holds the rest.
    flushed: u64,
    /// Appends not yet written out, in a buffer taken from the process-wide pool at the
    /// first append and given back when they are written out (an idle handle holds none).
    pending: Vec<u8>,
    buffer_limit: usize,
    /// While set, appends stay in memory up to this many bytes (see
    /// [`CouchFile::set_deferred_writes`]) and the buffer is kept between write-outs.
    deferred: Option<usize>,
    sync_every: Option<u64>,
    unsynced: u64,
    /// This handle's part of the process-wide node cache.
    cache_space: CacheSpace,
    /// Whether nodes are written as Snappy literals (fast) instead of compressed.
    literal_nodes: bool,
    /// Whether large batched modifications read ahead on another thread (see
    /// [`CouchFile::set_prefetch`]).
    prefetch: bool,
    /// While set, write-outs are done by another thread (see
    /// [`CouchFile::set_write_behind`]).
    behind: Option<WriteBehind>,
}

impl CouchFile {
    /// Wraps a backend whose current length is the end of the file. Until the format is
    /// known, chunks are accepted with either checksum.
    pub fn new(backend: Box<dyn Backend>) -> Result<Self> {
        let end = backend.size().map_err(|e| Error::io(ErrorKind::Read, e))?;
        Ok(Self::ending_at(backend, end))
    }

    /// A handle on `backend` whose file ends at `end`, with the defaults of a new one.
    fn ending_at(backend: Box<dyn Backend>, end: u64) -> Self {
        CouchFile {
            backend,
            policy: ChecksumPolicy::Either,
            end,
            flushed: end,
            pending: Vec::new(),
            buffer_limit: DEFAULT_WRITE_BUFFER,
            deferred: None,
            sync_every: None,
            unsynced: 0,
            cache_space: CacheSpace::fresh(),
            literal_nodes: false,
            prefetch: false,
            behind: None,
        }
    }

    /// A read-only handle on a second descriptor of the same file, for another thread
    /// to read what this handle has written out (chunks beyond that are a read error
    /// there) while this one goes on appending; it shares this handle's node cache.
    /// None when the backend is not an OS file.
    pub fn concurrent_reader(&self) -> Option<CouchFile> {
        let file = self.backend.sync_handle()?;
        let backend = Box::new(super::backend::FileBackend::new(file));
        Some(CouchFile {
            policy: self.policy,
            cache_space: self.cache_space,
            ..Self::ending_at(backend, self.in_file())
        })
    }

    /// Where the bytes not yet in the backend start: those handed to the write-behind
    /// thread and not written yet, then the pending ones.
    fn in_file(&self) -> u64 {
        match &self.behind {
            Some(behind) => behind.first_pending().unwrap_or(self.flushed),
            None => self.flushed,
        }
    }

    /// Fixes the checksum kind once the format is known.
    pub fn set_checksum(&mut self, kind: ChecksumKind) {
        self.policy = ChecksumPolicy::Exactly(kind);
    }

    /// Sets how many bytes are buffered before a write (0: write every append at once).
    pub fn set_buffer_limit(&mut self, bytes: usize) {
        self.buffer_limit = bytes;
    }

    /// Asks for an fsync after every `bytes` written (None: only at commit).
    pub fn set_periodic_sync(&mut self, bytes: Option<u64>) {
        self.sync_every = bytes.filter(|&b| b > 0);
    }

    /// Until the next sync (or rollback, or close), has write-outs done by another
    /// thread, so this one goes on appending while the OS copies what it wrote: for a
    /// burst of appends under an engine's lock that ends in a commit. Reads of bytes
    /// handed over are served from memory. Nothing changes for a backend that is not an
    /// OS file.
    pub fn set_write_behind(&mut self) -> Result<()> {
        if self.behind.is_none()
            && let Some(file) = self.backend.sync_handle()
        {
            self.behind =
                Some(WriteBehind::start(file).map_err(|e| Error::io(ErrorKind::Write, e))?);
        }
        Ok(())
    }

    /// Waits for the write-behind thread, if any, and ends it: everything written out
    /// so far is then in the file (or the first failure is returned).
    fn settle_writes(&mut self) -> Result<()> {
        match self.behind.take() {
            Some(mut behind) => behind.settle().map_err(|e| Error::io(ErrorKind::Write, e)),
            None => Ok(()),
        }
    }

    /// Makes sure the next `bytes` appended go to memory that is already allocated and
    /// touched, so appends made while an engine waits take no page faults (a hold's
    /// buffer is a few MiB of fresh memory the first time, faulted in page by page).
    pub fn reserve_pending(&mut self, bytes: usize) {
        let pending = self.pending_buffer();
        let len = pending.len();
        if pending.capacity() - len >= bytes {
            return;
        }
        pending.resize(len + bytes, 0);
        pending.truncate(len);
    }

    /// Writes B-tree nodes as Snappy literals (a copy, no compression) while `on` is set:
    /// for the writes an engine waits for. Readers, the original included, see valid
    /// Snappy either way.
    pub fn set_literal_nodes(&mut self, on: bool) {
        self.literal_nodes = on;
    }

    /// While `on` is set, a large batch of changes has another thread read ahead the
    /// nodes it rewrites (for work the engine waits for, when a core is idle; only with
    /// an OS file, see [`CouchFile::concurrent_reader`]).
    pub fn set_prefetch(&mut self, on: bool) {
        self.prefetch = on;
    }

    /// Whether large batches read ahead on another thread.
    pub fn prefetches(&self) -> bool {
        self.prefetch
    }

    /// Whether nodes are written as Snappy literals.
    pub fn literal_nodes(&self) -> bool {
        self.literal_nodes
    }

    /// A decoded chunk kept by [`CouchFile::remember`], if still cached.
    pub fn cached(&self, pos: u64) -> Option<Arc<[u8]>> {
        NodeCache::global().get(self.cache_space, pos)
    }

    /// Keeps the decoded form of the chunk at `pos` (the caller decides what is worth
    /// keeping: the B-tree keeps interior nodes) for later [`CouchFile::cached`] calls.
    pub fn remember(&self, pos: u64, decoded: Arc<[u8]>) {
        NodeCache::global().insert(self.cache_space, pos, decoded);
    }

    /// Makes room in the pending buffer, taking one from the pool if this handle has none.
    fn pending_buffer(&mut self) -> &mut Vec<u8> {
        if self.pending.capacity() == 0 {
            let written = match (self.deferred, self.behind.as_mut()) {
                (Some(_), Some(behind)) => behind.take_written(),
                _ => None,
            };
            self.pending = written.unwrap_or_else(|| {
                write_buffer::take(self.buffer_limit.saturating_add(BLOCK_SIZE as usize))
            });
        }
        &mut self.pending
    }

    /// Whether write-outs go to a write-behind thread now.
    pub fn has_write_behind(&self) -> bool {
        self.behind.is_some()
    }

    /// Gives the (empty) pending buffer back to the pool.
    fn release_pending(&mut self) {
        debug_assert!(self.pending.is_empty());
        if self.deferred.is_none() {
            write_buffer::give_back(std::mem::take(&mut self.pending));
        }
    }

    /// Keeps appends in memory, up to `limit` bytes, instead of writing them out every
    /// [`DEFAULT_WRITE_BUFFER`] bytes, and keeps the buffer's memory between write-outs;
    /// None goes back to normal buffering (what is pending stays until the next
    /// write-out). For work done under an engine's lock whose write-out can wait until
    /// the lock is released: reads see pending bytes all the same.
    pub fn set_deferred_writes(&mut self, limit: Option<usize>) {
        self.deferred = limit;
        if limit.is_none() && self.pending.is_empty() {
            self.release_pending();
        }
    }

    /// Forgets every node cached for this handle: positions from `end` on are being
    /// rolled back and may be written again with other bytes.
    fn forget_cached(&mut self) {
        self.cache_space.renew();
    }

    /// The logical end of the file as this handle knows it.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Re-reads the file's length (to see what other handles appended). Only valid with
    /// nothing pending.
    pub fn refresh_end(&mut self) -> Result<u64> {
        debug_assert!(self.pending.is_empty());
        self.settle_writes()?;
        let len = self
            .backend
            .size()
            .map_err(|e| Error::io(ErrorKind::Read, e))?;
        if self.pending.is_empty() {
            self.end = len;
            self.flushed = len;
        }
        Ok(self.end)
    }

    /// Puts the file bytes `[pos, pos + len)` into `out` from index `start` on (out's
    /// length becomes `start + len`), from the backend or from the pending buffer.
    /// Reading past the end is READ. What `out` held from `start` on is overwritten, not
    /// zeroed first: a buffer reused for reads of about one size is zeroed only where it
    /// grows (zeroing every read cost a twentieth of a replay's instructions).
    fn read_raw(&self, pos: u64, len: u64, out: &mut Vec<u8>, start: usize) -> Result<()> {
        let stop = pos.checked_add(len).ok_or(Error::Read)?;
        if stop > self.end {
            return Err(Error::Read);
        }
        let len = usize::try_from(len).map_err(|_| Error::AllocFail)?;
        let end = start.checked_add(len).ok_or(Error::AllocFail)?;
        debug_assert!(start <= out.len());
        if out.len() < end {
            out.resize(end, 0);
        } else {
            out.truncate(end);
        }
        // Below `in_file` the bytes are in the backend; from there to `flushed` they
        // are with the write-behind thread; then pending.
        let in_file = self.in_file();
        let from_backend = stop.min(in_file).saturating_sub(pos) as usize;
        let mut done = 0;
        while done < from_backend {
            match self.backend.read_at(
                &mut out[start + done..start + from_backend],
                pos + done as u64,
            ) {
                Ok(0) => {
                    out.truncate(start);
                    return Err(Error::Read);
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    out.truncate(start);
                    return Err(Error::io(ErrorKind::Read, e));
                }
            }
        }
        let mut at = pos + from_backend as u64;
        if at < stop && at < self.flushed {
            let upto = stop.min(self.flushed);
            let dst = &mut out[start + (at - pos) as usize..start + (upto - pos) as usize];
            if !self.behind.as_ref().is_some_and(|b| b.copy(at, dst)) {
                out.truncate(start);
                return Err(Error::Read);
            }
            at = upto;
        }
        if at < stop {
            let offset = (at - self.flushed) as usize;
            let n = (stop - at) as usize;
            out[start + (at - pos) as usize..].copy_from_slice(&self.pending[offset..offset + n]);
        }
        Ok(())
    }

    /// Runs `read` with the backend told that its accesses are for `tag`.
    fn tagged<T>(&self, tag: AccessTag, read: impl FnOnce() -> T) -> T {
        if !self.backend.wants_tags() {
            return read();
        }
        self.backend.tag(tag);
        let result = read();
        self.backend.tag(AccessTag::Unknown);
        result
    }

    /// [`CouchFile::read_chunk`], telling the backend what the chunk is (a B-tree node
    /// or a document body).
    pub fn read_tagged(&self, tag: AccessTag, pos: u64, out: &mut Vec<u8>) -> Result<()> {
        self.tagged(tag, || self.read_chunk(pos, out))
    }

    /// [`CouchFile::read_tagged`] for a chunk thought to take `size` bytes of the file
    /// (a leaf's subtree size, from the pointer to it): one read of about that many
    /// bytes instead of one to the end of the block, which copies a few KiB more than a
    /// leaf needs. Only a hint: a chunk that is longer is read in full all the same.
    pub fn read_tagged_sized(
        &self,
        tag: AccessTag,
        pos: u64,
        size: u64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.tagged(tag, || {
            self.read_chunk_with(None, pos, Some(size), out).map(|_| ())
        })
    }

    /// The backend, for the C API's access to the caller's file operations.
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Closes the backend (after dropping what is pending: the caller commits first if
    /// it wants to keep it).
    pub fn close(mut self) -> Result<()> {
        self.discard_pending();
        self.settle_writes()?;
        self.backend
            .close()
            .map_err(|e| Error::io(ErrorKind::FileClose, e))
    }

    /// Reads the data chunk at `pos` into `out` (replacing its contents) and checks its
    /// checksum. A chunk reaching past the end of the file is CORRUPT; a checksum
    /// mismatch is CHECKSUM_FAIL.
    pub fn read_chunk(&self, pos: u64, out: &mut Vec<u8>) -> Result<()> {
        self.read_chunk_with(None, pos, None, out).map(|_| ())
    }

    /// [`CouchFile::read_chunk`] through a window read ahead of it: chunks that lie close
    /// together, read in order (the bodies one commit wrote, as a replay reads them),
    /// cost one read per window instead of one per chunk. Returns the chunk's checksum,
    /// for [`CouchFile::append_copy`].
    pub fn read_chunk_ahead(
        &self,
        ahead: &mut ReadAhead,
        pos: u64,
        out: &mut Vec<u8>,
    ) -> Result<VerifiedChecksum> {
        self.read_chunk_with(Some(ahead), pos, None, out)
    }

    /// [`CouchFile::read_raw`] from `ahead` when it holds the bytes (refilling it from
    /// `pos` when it does not), or straight from the file.
    fn read_raw_via(
        &self,
        ahead: Option<&mut ReadAhead>,
        pos: u64,
        len: u64,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<()> {
        let Some(ra) = ahead else {
            return self.read_raw(pos, len, out, start);
        };
        let stop = pos.checked_add(len).ok_or(Error::Read)?;
        let held = ra.start..ra.start + ra.bytes.len() as u64;
        if !(held.contains(&pos) && stop <= held.end) {
            if stop > self.flushed {
                // Not yet written out: the pending buffer has it.
                return self.read_raw(pos, len, out, start);
            }
            ra.start = pos;
            self.read_raw(
                pos,
                len.max(READ_AHEAD).min(self.flushed - pos),
                &mut ra.bytes,
                0,
            )
            .inspect_err(|_| ra.bytes.clear())?;
        }
        let from = (pos - ra.start) as usize;
        out.truncate(start);
        out.extend_from_slice(&ra.bytes[from..from + len as usize]);
        Ok(())
    }

    /// Reads the chunk at `pos`; `size`: how many file bytes it is thought to take.
    /// Returns its checksum, verified.
    fn read_chunk_with(
        &self,
        mut ahead: Option<&mut ReadAhead>,
        pos: u64,
        size: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<VerifiedChecksum> {
        if pos >= self.end {
            return Err(Error::Corrupt);
        }
        let avail = self.end - pos;
        let to_block_end = BLOCK_SIZE - pos % BLOCK_SIZE;
        let usual = if to_block_end < SHORTEST_READ {
            to_block_end + BLOCK_SIZE
        } else {
            to_block_end
        };
        // A smaller size is taken at its word, but never below what holds the prefix.
        let first = match size {
            Some(size) if size < usual => size.max(physical_len(pos, PREFIX_LEN as u64)),
            _ => usual,
        }
        .min(avail);
        // What `out` held is overwritten (see `read_raw`).
        self.read_raw_via(ahead.as_deref_mut(), pos, first, out, 0)?;
        strip_markers(pos, out);
        if out.len() < PREFIX_LEN {
            return Err(Error::Corrupt);
        }
        let prefix = decode_data_prefix(out[..PREFIX_LEN].try_into().expect("8 bytes"))?;
        let body_len = prefix.body_len as u64;
        let total = physical_len(pos, PREFIX_LEN as u64 + body_len);
        if total > avail {
            return Err(Error::Corrupt);
        }
        if (out.len() as u64) < PREFIX_LEN as u64 + body_len {
            // The chunk is longer than the first read: read the remainder, starting at a
            // position whose marker (if any) has not been read yet, after what is there.
            let read = out.len();
            self.read_raw_via(ahead, pos + first, total - first, out, read)?;
            strip_markers_after(pos + first, out, read);
        }
        out.truncate(PREFIX_LEN + body_len as usize);
        out.drain(..PREFIX_LEN);
        match self.policy.matching(out, prefix.crc) {
            Some(kind) => Ok(VerifiedChecksum {
                kind,
                crc: prefix.crc,
            }),
            None => Err(Error::ChecksumFail),
        }
    }

    /// Reads and validates the header at `pos` (a block boundary). A position without a
    /// header marker, or a header whose length is impossible, is NO_HEADER; a checksum
    /// mismatch is CHECKSUM_FAIL; an unsupported version is HEADER_VERSION.
    pub fn read_header_at(&self, pos: u64) -> Result<Header> {
        self.tagged(AccessTag::FileHeader, || self.read_header_untagged(pos))
    }

    fn read_header_untagged(&self, pos: u64) -> Result<Header> {
        if !is_block_start(pos) || pos >= self.end {
            return Err(Error::NoHeader);
        }
        let avail = self.end - pos;
        // One read for the marker, the prefix and a typical header body; a block start
        // holds no other marker, and within a block there is none.
        let first = HEADER_READ.min(avail);
        let mut raw = Vec::new();
        self.read_raw(pos, first, &mut raw, 0)?;
        if raw[0] != HEADER_MARKER {
            return Err(Error::NoHeader);
        }
        raw.remove(0);
        if raw.len() < PREFIX_LEN {
            return Err(Error::NoHeader);
        }
        let prefix = decode_header_prefix(raw[..PREFIX_LEN].try_into().expect("8 bytes"))?;
        if prefix.body_len > MAX_HEADER_BODY {
            return Err(Error::NoHeader);
        }
        let total = physical_len(pos + 1, PREFIX_LEN as u64 + u64::from(prefix.body_len));
        if total > avail - 1 {
            return Err(Error::NoHeader);
        }
        if total > first - 1 {
            let read = raw.len();
            self.read_raw(pos + first, total - (first - 1), &mut raw, read)?;
            strip_markers_after(pos + first, &mut raw, read);
        }
        let body = &raw[PREFIX_LEN..PREFIX_LEN + prefix.body_len as usize];
        // Headers are checked against either kind: the format is what they tell us.
        if !ChecksumPolicy::Either.accepts(body, prefix.crc) {
            return Err(Error::ChecksumFail);
        }
        let header = Header::decode(body)?;
        // Everything a header points at was written before it (as the original checks).
        let roots = [&header.by_seq_root, &header.by_id_root, &header.local_root];
        if roots
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.pos >= pos))
            || header.purge_ptr > pos
        {
            return Err(Error::Corrupt);
        }
        Ok(header)
    }

    /// Whether an error met while reading a candidate header means "not a valid header
    /// here, keep looking" rather than a failure to report. As in the original, a torn,
    /// corrupt or unknown-version header is passed over for an older one; unlike it, an
    /// I/O error ends the search (scanning on through a failing device hides it).
    fn skippable(e: &Error) -> bool {
        matches!(
            e.kind(),
            ErrorKind::NoHeader
                | ErrorKind::ChecksumFail
                | ErrorKind::Corrupt
                | ErrorKind::HeaderVersion
        )
    }

    /// The error a search that found no valid header reports, as the original's: the
    /// last invalid header's (HEADER_VERSION for a file written by a newer version,
    /// CHECKSUM_FAIL for a damaged one), NO_HEADER if there was none at all.
    fn not_found(last: Option<Error>) -> Error {
        last.unwrap_or(Error::NoHeader)
    }

    /// Finds the newest valid header at or before `pos`, scanning back block by block.
    /// Torn, corrupt and unknown-version headers, and headers whose roots do not lie
    /// before them, are skipped; when none is valid the last one's error is returned
    /// (HEADER_VERSION, CORRUPT...), NO_HEADER if there was none at all.
    pub fn find_header_at_or_before(&self, pos: u64) -> Result<FoundHeader> {
        self.tagged(AccessTag::Empty, || self.scan_back(pos))
    }

    fn scan_back(&self, pos: u64) -> Result<FoundHeader> {
        if self.end == 0 {
            return Err(Error::NoHeader);
        }
        let mut block = pos.min(self.end - 1) / BLOCK_SIZE * BLOCK_SIZE;
        let mut last = None;
        loop {
            match self.read_header_untagged(block) {
                Ok(header) => return Ok(FoundHeader { header, pos: block }),
                Err(e) if e == Error::NoHeader => {}
                Err(e) if Self::skippable(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
            if block == 0 {
                return Err(Self::not_found(last));
            }
            block -= BLOCK_SIZE;
        }
    }

    /// Finds the oldest valid header after `pos`, scanning forward block by block.
    pub fn find_header_after(&self, pos: u64) -> Result<FoundHeader> {
        self.tagged(AccessTag::Empty, || self.scan_forward(pos))
    }

    fn scan_forward(&self, pos: u64) -> Result<FoundHeader> {
        let mut block = (pos / BLOCK_SIZE + 1) * BLOCK_SIZE;
        let mut last = None;
        while block < self.end {
            match self.read_header_untagged(block) {
                Ok(header) => return Ok(FoundHeader { header, pos: block }),
                Err(e) if e == Error::NoHeader => {}
                Err(e) if Self::skippable(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
            block += BLOCK_SIZE;
        }
        Err(Self::not_found(last))
    }

    /// Appends a data chunk holding `body`. The write may stay buffered until the next
    /// flush; reads see it at once.
    pub fn append_chunk(&mut self, body: &[u8]) -> Result<ChunkLocation> {
        self.append_chunk_with(body, None)
    }

    /// [`CouchFile::append_chunk`] of a chunk read from a file (a body a compaction or
    /// replay copies as stored): its checksum, verified as read, is carried over when
    /// it is of this file's kind, instead of being computed again.
    pub fn append_copy(&mut self, body: &[u8], sum: VerifiedChecksum) -> Result<ChunkLocation> {
        self.append_chunk_with(body, Some(sum))
    }

    fn append_chunk_with(
        &mut self,
        body: &[u8],
        sum: Option<VerifiedChecksum>,
    ) -> Result<ChunkLocation> {
        let crc = match (self.policy, sum) {
            (ChecksumPolicy::Exactly(kind), Some(sum)) if sum.kind == kind => sum.crc,
            (ChecksumPolicy::Exactly(kind), _) => kind.compute(body),
            (ChecksumPolicy::Either, _) => return Err(Error::Write),
        };
        let prefix = encode_data_prefix(body.len(), crc)?;
        // A chunk starting on a block boundary is recorded after the boundary's marker,
        // as the original records it: positions are then never 0, which means "no body".
        let start = self.end;
        let pending = self.pending_buffer();
        let pos = if is_block_start(start) {
            pending.push(DATA_MARKER);
            start + 1
        } else {
            start
        };
        let after_prefix = insert_markers(pos, &prefix, pending);
        self.end = insert_markers(after_prefix, body, pending);
        let loc = ChunkLocation {
            pos,
            physical_size: self.end - pos,
        };
        if self.pending.len() > self.deferred.unwrap_or(self.buffer_limit) {
            self.flush()?;
        }
        Ok(loc)
    }

    /// Writes the data marker that starts an empty file's first block, at once (a new
    /// file created without a header).
    pub fn write_first_block_marker(&mut self) -> Result<()> {
        if self.end != 0 {
            return Ok(());
        }
        self.pending_buffer().push(DATA_MARKER);
        self.end = 1;
        self.flush()
    }

    /// Appends a header holding `body` at the next block boundary (zero-filling the gap)
    /// and returns its position. Buffered like any append.
    pub fn append_header(&mut self, body: &[u8], kind: ChecksumKind) -> Result<u64> {
        if body.len() > chunk::MAX_DATA_LEN {
            return Err(Error::InvalidArguments);
        }
        let pos = self.end.div_ceil(BLOCK_SIZE) * BLOCK_SIZE;
        let gap = (pos - self.end) as usize;
        let pending = self.pending_buffer();
        pending.resize(pending.len() + gap, 0);
        pending.push(HEADER_MARKER);
        let prefix = encode_header_prefix(body.len(), kind.compute(body));
        let after_prefix = insert_markers(pos + 1, &prefix, pending);
        self.end = insert_markers(after_prefix, body, pending);
        Ok(pos)
    }

    /// Writes out everything pending. On failure nothing pending is kept: the caller
    /// must roll back to its last committed state (see [`CouchFile::discard_pending`]).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(behind) = self.behind.as_mut() {
            if self.pending.is_empty() {
                return Ok(());
            }
            let buf = std::mem::take(&mut self.pending);
            let done = buf.len();
            if let Err(e) = behind.send(self.flushed, buf) {
                self.behind = None;
                self.discard_pending();
                return Err(Error::io(ErrorKind::Write, e));
            }
            self.flushed = self.end;
            self.unsynced += done as u64;
            return Ok(());
        }
        let mut done = 0;
        while done < self.pending.len() {
            match self
                .backend
                .write_at(&self.pending[done..], self.flushed + done as u64)
            {
                Ok(0) => {
                    // A write that makes no progress: the disk is full.
                    self.discard_pending();
                    let full = io::Error::from_raw_os_error(libc::ENOSPC);
                    return Err(Error::io(ErrorKind::Write, full));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.discard_pending();
                    return Err(Error::io(ErrorKind::Write, e));
                }
            }
        }
        self.flushed = self.end;
        self.unsynced += done as u64;
        self.pending.clear();
        self.release_pending();
        if let Some(every) = self.sync_every
            && self.unsynced >= every
        {
            self.sync_backend()?;
        }
        Ok(())
    }

    fn sync_backend(&mut self) -> Result<()> {
        self.settle_writes()?;
        self.backend
            .sync()
            .map_err(|e| Error::io(ErrorKind::Write, e))?;
        self.unsynced = 0;
        Ok(())
    }

    /// Bytes appended since this handle last made the file durable (what its next
    /// fsync would have to write back, at most: a write-behind thread's own fsyncs are
    /// not counted off).
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced + self.pending.len() as u64
    }

    /// Writes out everything pending and makes it durable.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.sync_backend()
    }

    /// Makes the file's name durable (see [`Backend::sync_name`]).
    pub fn sync_name(&mut self) -> Result<()> {
        self.backend
            .sync_name()
            .map_err(|e| Error::io(ErrorKind::Write, e))
    }

    /// Drops buffered appends, so the file ends where it was last written out. Nothing
    /// a committed header points to lies beyond that point.
    pub fn discard_pending(&mut self) {
        if self.end != self.flushed {
            self.forget_cached();
        }
        self.pending.clear();
        self.release_pending();
        self.end = self.flushed;
    }

    /// Moves the end of the file back to `end` (not before the last write-out of a
    /// commit: the caller passes an end it saw after its last commit), dropping what was
    /// appended since. Returns false if bytes needed below `end` were lost (after a failed
    /// write-out), in which case the caller must fall back to its last commit.
    pub fn rollback_to(&mut self, end: u64) -> bool {
        if end > self.end {
            return false;
        }
        // What the write-behind thread still has to write must not land after the new
        // end is written again.
        if self.settle_writes().is_err() {
            return false;
        }
        if end >= self.flushed {
            self.pending.truncate((end - self.flushed) as usize);
        } else {
            // Already written out: those bytes are unreferenced and will be overwritten.
            self.pending.clear();
            self.flushed = end;
        }
        if end < self.end {
            self.forget_cached();
        }
        self.end = end;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::MemoryBackend;
    use proptest::prelude::*;

    fn new_file(mem: &MemoryBackend) -> CouchFile {
        let mut f = CouchFile::new(Box::new(mem.clone())).unwrap();
        f.set_checksum(ChecksumKind::Crc32c);
        f
    }

    #[test]
    fn a_copied_chunk_carries_its_checksum_over_only_into_a_file_of_its_kind() {
        let body = vec![3u8; 5000];
        let mem = MemoryBackend::new();
        let mut src = new_file(&mem);
        let at = src.append_chunk(&body).unwrap();
        src.sync().unwrap();
        let mut out = Vec::new();
        let mut ahead = ReadAhead::default();
        let sum = src.read_chunk_ahead(&mut ahead, at.pos, &mut out).unwrap();
        assert_eq!(out, body);
        assert_eq!(sum.kind, ChecksumKind::Crc32c);
        assert_eq!(sum.crc, ChecksumKind::Crc32c.compute(&body));
        for kind in [ChecksumKind::Crc32c, ChecksumKind::Crc32] {
            let mut target = CouchFile::new(Box::new(MemoryBackend::new())).unwrap();
            target.set_checksum(kind);
            let copy = target.append_copy(&out, sum).unwrap();
            target.read_chunk(copy.pos, &mut out).unwrap();
            assert_eq!(out, body, "{kind:?}");
        }
        // A checksum of the file's kind is taken as given, not computed again.
        let mut target = new_file(&MemoryBackend::new());
        let forged = VerifiedChecksum {
            crc: sum.crc ^ 1,
            ..sum
        };
        let copy = target.append_copy(&body, forged).unwrap();
        let err = target.read_chunk(copy.pos, &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ChecksumFail);
    }

    #[test]
    fn rolled_back_chunks_leave_the_cache() {
        let mem = MemoryBackend::new();
        let mut f = new_file(&mem);
        let kept = f.append_chunk(b"kept").unwrap();
        f.sync().unwrap();
        f.remember(kept.pos, Arc::from(&b"kept decoded"[..]));
        let end = f.end();
        let gone = f.append_chunk(b"gone").unwrap();
        f.remember(gone.pos, Arc::from(&b"gone decoded"[..]));
        assert!(f.rollback_to(end));
        // The position is reused by the next append: the old decoded form must not be
        // served for it. (A rollback forgets the handle's whole cache, kept nodes too:
        // rollbacks follow failures, and forgetting is then O(1).)
        let again = f.append_chunk(b"again").unwrap();
        assert_eq!(again.pos, gone.pos);
        assert!(f.cached(again.pos).is_none());
        assert!(f.cached(kept.pos).is_none());
        f.remember(kept.pos, Arc::from(&b"kept decoded"[..]));
        assert_eq!(&*f.cached(kept.pos).unwrap(), b"kept decoded");
        // Discarding what was never written out drops it too.
        f.remember(again.pos, Arc::from(&b"again decoded"[..]));
        f.discard_pending();
        assert!(f.cached(again.pos).is_none());
    }

    /// A reserved buffer takes a hold's appends without growing (no fresh pages while the
    /// engine waits), and what was appended before the reservation stays.
    #[test]
    fn reserved_pending_buffer_takes_the_appends_without_growing() {
        let mem = MemoryBackend::new();
        let mut f = new_file(&mem);
        f.set_deferred_writes(Some(64 << 20));
        let first = f.append_chunk(b"before").unwrap();
        f.reserve_pending(700_000);
        let reserved = f.pending.capacity();
        assert!(reserved >= 700_000, "{reserved}");
        let body = vec![3u8; 3000];
        let locs: Vec<_> = (0..200).map(|_| f.append_chunk(&body).unwrap()).collect();
        assert_eq!(f.pending.capacity(), reserved);
        // Reserving again with room left changes nothing.
        f.reserve_pending(1000);
        assert_eq!(f.pending.capacity(), reserved);
        let mut out = Vec::new();
        f.read_chunk(first.pos, &mut out).unwrap();
        assert_eq!(out, b"before");
        f.sync().unwrap();
        for loc in &locs {
            f.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(out, body);
        }
    }

    /// Write-behind: chunks handed to the writer thread read back before it is settled,
    /// a rollback waits for it (so nothing it still had lands after the new end), and
    /// after a sync the file holds exactly what was appended.
    /// Appends kept in memory between write-outs to a write-behind thread: the next
    /// batch reuses the buffer the writer is done with (grown to a batch's size)
    /// rather than growing a new one, and every byte reads back.
    #[test]
    fn deferred_appends_reuse_the_buffer_the_writer_is_done_with() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("wb.couch"))
            .unwrap();
        let mut f = CouchFile::new(Box::new(crate::file::FileBackend::new(file))).unwrap();
        f.set_checksum(ChecksumKind::Crc32c);
        f.set_deferred_writes(Some(64 << 20));
        f.set_write_behind().unwrap();
        let body = vec![7u8; 3000];
        let mut locs = Vec::new();
        for _ in 0..200 {
            locs.push(f.append_chunk(&body).unwrap());
        }
        let grown = f.pending.capacity();
        assert!(grown >= 600_000, "{grown}");
        f.flush().unwrap();
        assert!(f.has_write_behind());
        let waited = std::time::Instant::now();
        while f.in_file() < f.flushed {
            assert!(waited.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        locs.push(f.append_chunk(&body).unwrap());
        assert_eq!(f.pending.capacity(), grown);
        let mut out = Vec::new();
        for loc in &locs {
            f.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(out, body);
        }
        f.sync().unwrap();
        assert!(!f.has_write_behind());
    }

    #[test]
    fn write_behind_serves_reads_and_ends_at_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wb.couch");
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let mut f = CouchFile::new(Box::new(crate::file::FileBackend::new(file))).unwrap();
        f.set_checksum(ChecksumKind::Crc32c);
        f.set_buffer_limit(1000);
        f.set_write_behind().unwrap();
        let bodies: Vec<Vec<u8>> = (0..200u32)
            .map(|i| vec![i as u8; 300 + i as usize])
            .collect();
        let mut locs = Vec::new();
        for b in &bodies {
            locs.push(f.append_chunk(b).unwrap());
        }
        let mut out = Vec::new();
        for (b, loc) in bodies.iter().zip(&locs) {
            f.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(&out, b);
        }
        // Roll back the last 50 and append others in their place.
        let end = locs[150].pos;
        assert!(f.rollback_to(end));
        let replaced: Vec<Vec<u8>> = (0..50u32).map(|i| vec![0xee; 100 + i as usize]).collect();
        let mut new_locs = Vec::new();
        f.set_write_behind().unwrap();
        for b in &replaced {
            new_locs.push(f.append_chunk(b).unwrap());
        }
        for (b, loc) in replaced.iter().zip(&new_locs) {
            f.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(&out, b);
        }
        f.sync().unwrap();
        assert!(f.behind.is_none());
        // (What the rollback dropped may still be in the file beyond the end, as
        // without write-behind: unreferenced, and written over by later appends.)
        assert!(std::fs::metadata(&path).unwrap().len() >= f.end());
        // A fresh handle on the file sees the kept chunks and the replacements.
        let reopened = std::fs::File::open(&path).unwrap();
        let mut g = CouchFile::new(Box::new(crate::file::FileBackend::new(reopened))).unwrap();
        g.set_checksum(ChecksumKind::Crc32c);
        for (b, loc) in bodies[..150].iter().zip(&locs) {
            g.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(&out, b);
        }
        for (b, loc) in replaced.iter().zip(&new_locs) {
            g.read_chunk(loc.pos, &mut out).unwrap();
            assert_eq!(&out, b);
        }
    }

    #[test]
    fn header_then_chunks_then_header() {
        let mem = MemoryBackend::new();
        let mut f = new_file(&mem);
        let h = Header::new(13);
        let body = h.encode().unwrap();
        assert_eq!(f.append_header(&body, ChecksumKind::Crc32c).unwrap(), 0);
        assert_eq!(f.end(), 42);
        let big = vec![7u8; 10_000];
        let a = f.append_chunk(b"hello").unwrap();
        let b = f.append_chunk(&big).unwrap();
        assert_eq!(
            a,
            ChunkLocation {
                pos: 42,
                physical_size: 13
            }
        );
        let mut out = Vec::new();
        // Served from the pending buffer, then from the backend after a flush.
        f.read_chunk(b.pos, &mut out).unwrap();
        assert_eq!(out, big);
        f.sync().unwrap();
        f.read_chunk(a.pos, &mut out).unwrap();
        assert_eq!(out, b"hello");
        let hpos = f.append_header(&body, ChecksumKind::Crc32c).unwrap();
        f.sync().unwrap();
        assert_eq!(hpos % BLOCK_SIZE, 0);
        let reopened = CouchFile::new(Box::new(mem.clone())).unwrap();
        assert_eq!(
            reopened.find_header_at_or_before(u64::MAX).unwrap().pos,
            hpos
        );
        assert_eq!(reopened.find_header_at_or_before(hpos - 1).unwrap().pos, 0);
        assert_eq!(reopened.find_header_after(0).unwrap().pos, hpos);
        assert_eq!(reopened.find_header_after(hpos), Err(Error::NoHeader));
    }

    #[test]
    fn torn_header_falls_back() {
        let mem = MemoryBackend::new();
        let mut f = new_file(&mem);
        let body = Header::new(13).encode().unwrap();
        f.append_header(&body, ChecksumKind::Crc32c).unwrap();
        f.append_chunk(&[1u8; 5000]).unwrap();
        let second = f.append_header(&body, ChecksumKind::Crc32c).unwrap();
        f.sync().unwrap();
        let mut bytes = mem.snapshot();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let torn = CouchFile::new(Box::new(MemoryBackend::from_bytes(bytes))).unwrap();
        assert_eq!(torn.find_header_at_or_before(u64::MAX).unwrap().pos, 0);
        assert_eq!(torn.read_header_at(second), Err(Error::ChecksumFail));
    }

    /// An in-memory file that records the length of every read.
    #[derive(Debug)]
    struct CountingBackend {
        mem: MemoryBackend,
        reads: Arc<parking_lot::Mutex<Vec<usize>>>,
    }

    impl Backend for CountingBackend {
        fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
            self.reads.lock().push(buf.len());
            self.mem.read_at(buf, pos)
        }
        fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
            self.mem.write_at(buf, pos)
        }
        fn size(&self) -> io::Result<u64> {
            self.mem.size()
        }
        fn sync(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_sized_read_takes_one_read_of_the_chunks_size() {
        // A chunk of leaf size that starts early in a block, and one that crosses a
        // block boundary.
        let mem = MemoryBackend::from_bytes(vec![0u8; 100]);
        let mut f = new_file(&mem);
        let small = f.append_chunk(&[7u8; 1300]).unwrap();
        let padding = f.append_chunk(&vec![1u8; 4096 - 1300 - 300]).unwrap();
        let crossing = f.append_chunk(&[9u8; 1300]).unwrap();
        f.sync().unwrap();
        assert!(crossing.pos / 4096 < (crossing.pos + crossing.physical_size) / 4096);
        let reads = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let backend = CountingBackend {
            mem: mem.clone(),
            reads: reads.clone(),
        };
        let mut counted = CouchFile::new(Box::new(backend)).unwrap();
        counted.set_checksum(ChecksumKind::Crc32c);
        let mut out = Vec::new();
        for (loc, byte) in [(small, 7u8), (crossing, 9u8), (padding, 1u8)] {
            reads.lock().clear();
            counted
                .read_tagged_sized(AccessTag::BTree, loc.pos, loc.physical_size, &mut out)
                .unwrap();
            assert!(out.iter().all(|&b| b == byte));
            assert_eq!(*reads.lock(), vec![loc.physical_size as usize]);
        }
        // Without the hint, the small chunk is read to the end of its block.
        reads.lock().clear();
        counted.read_chunk(small.pos, &mut out).unwrap();
        assert_eq!(*reads.lock(), vec![(4096 - small.pos % 4096) as usize]);
    }

    proptest! {
        #[test]
        fn chunks_round_trip(start in 0usize..9000, bodies in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..6000), 1..6)) {
            let mem = MemoryBackend::from_bytes(vec![0u8; start]);
            let mut f = new_file(&mem);
            f.set_buffer_limit(3000);
            let locs: Vec<_> = bodies.iter().map(|b| f.append_chunk(b).unwrap()).collect();
            let mut out = Vec::new();
            for (loc, body) in locs.iter().zip(&bodies) {
                f.read_chunk(loc.pos, &mut out).unwrap();
                prop_assert_eq!(&out, body);
                prop_assert_eq!(loc.physical_size, physical_len(loc.pos, 8 + body.len() as u64));
                // A size hint, right or wrong, reads the same chunk.
                let size = loc.physical_size;
                for hint in [size, 0, 1, size / 2, size + 1, size + 5000, u64::MAX] {
                    // `out` still holds the last chunk read: overwritten, never mixed in.
                    f.read_tagged_sized(AccessTag::BTree, loc.pos, hint, &mut out).unwrap();
                    prop_assert_eq!(&out, body);
                }
            }
            // Through one window, in order and then backwards (each read refilling it),
            // into the same buffer.
            let mut ahead = ReadAhead::default();
            for (loc, body) in locs.iter().zip(&bodies).chain(locs.iter().zip(&bodies).rev()) {
                f.read_chunk_ahead(&mut ahead, loc.pos, &mut out).unwrap();
                prop_assert_eq!(&out, body);
            }
        }

        #[test]
        fn random_positions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..9000), pos in 0u64..10_000) {
            let f = CouchFile::new(Box::new(MemoryBackend::from_bytes(bytes))).unwrap();
            let mut out = Vec::new();
            let _ = f.read_chunk(pos, &mut out);
            let _ = f.read_header_at(pos / 4096 * 4096);
            let _ = f.find_header_at_or_before(u64::MAX);
        }
    }
}
