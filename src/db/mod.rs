//! The safe Rust database API: open, read, write, commit, header navigation.

#![forbid(unsafe_code)]

mod doc;
pub mod feed;
pub mod options;
mod read;
mod write;

pub use doc::{DbInfo, Doc, DocInfo, LocalDoc};
pub use options::{OpenOptions, SaveOptions, ScanOptions};
pub use read::{DocFilter, TreeWalkItem};
pub use write::{NewDoc, SavedDoc};

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::btree::NodeSizes;
use crate::error::{Error, ErrorKind, Result};
use crate::file::{Backend, CouchFile, FileBackend, FileIdentity, FoundHeader};
use crate::format::{ByIdReduce, ChecksumKind, FormatVersion, Header};

/// An open database handle.
///
/// Reads take `&self`; writes take `&mut self`. A handle is used by one thread at a
/// time; several handles (each with its own file descriptor) may share one file, with
/// at most one of them writing.
#[derive(Debug)]
pub struct Db {
    file: Option<CouchFile>,
    filename: String,
    options: OpenOptions,
    /// The header reads and writes work from (ahead of `committed` after a save).
    header: Header,
    /// The last committed (or opened) header, restored when a write fails.
    committed: Header,
    header_pos: u64,
    /// The file size last known, kept for `info()` after close.
    file_size: u64,
    /// This handle created the file and its name is not durable yet: the first commit
    /// makes it so, or a power cut could lose the file with every commit in it.
    name_pending: bool,
    /// Which file this is, for a compaction following its writers (see [`feed`]).
    identity: Option<FileIdentity>,
    /// This handle among the writers a compaction may follow.
    writer: u64,
    /// Saves made on the current header (what the next commit covers).
    saves_on_header: u32,
}

/// Writer numbers, unique in the process.
static WRITERS: AtomicU64 = AtomicU64::new(1);

impl Db {
    /// Opens (or with CREATE, creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Db> {
        let path = path.as_ref();
        let (file, created) = open_file(path, options)?;
        Self::open_with(
            Box::new(FileBackend::named(file, path)),
            path_string(path),
            options,
            created,
        )
    }

    /// Opens a database over `file`, which the caller just created for it (or an empty
    /// file it took over as if created): a compaction target.
    pub(crate) fn open_created(file: fs::File, name: String, options: OpenOptions) -> Result<Db> {
        let backend = FileBackend::named(file, Path::new(&name));
        Self::open_with(Box::new(backend), name, options, true)
    }

    /// Opens a database over any backend (an in-memory or fault-injecting one in tests).
    /// An empty backend counts as a file this call created.
    pub fn open_backend(
        backend: Box<dyn Backend>,
        name: String,
        options: OpenOptions,
    ) -> Result<Db> {
        Self::open_with(backend, name, options, true)
    }

    fn open_with(
        backend: Box<dyn Backend>,
        name: String,
        options: OpenOptions,
        created: bool,
    ) -> Result<Db> {
        let identity = backend.identity();
        let mut file = CouchFile::new(backend)?;
        if options.unbuffered {
            file.set_buffer_limit(0);
        }
        file.set_periodic_sync(options.periodic_sync);
        let mut db = Db {
            file: None,
            filename: name,
            options,
            header: Header::default(),
            committed: Header::default(),
            header_pos: 0,
            file_size: file.end(),
            name_pending: false,
            identity,
            writer: WRITERS.fetch_add(1, Ordering::Relaxed),
            saves_on_header: 0,
        };
        if file.end() == 0 {
            // An empty file opened for writing gets its first header, CREATE or not, as
            // the original does; a reader finds no header.
            if options.read_only {
                return Err(Error::NoHeader);
            }
            let version = if options.legacy_crc {
                FormatVersion::V11
            } else {
                FormatVersion::CURRENT
            };
            file.set_checksum(ChecksumKind::for_version(version));
            db.set_current(Header::new(version), 0);
            db.name_pending = created;
            db.file = Some(file);
            if options.no_commit_at_create {
                // The original refuses an empty file it did not just create.
                if !created {
                    return Err(Error::NoHeader);
                }
                // Without a header the file still starts with its first block's marker,
                // as the original writes it: reopened before a commit it is a non-empty
                // file without a header.
                db.file_mut()?.write_first_block_marker()?;
                return Ok(db);
            }
            db.commit()?;
            return Ok(db);
        }
        let found = file.find_header_at_or_before(u64::MAX)?;
        if options.legacy_crc && found.header.version >= FormatVersion::V12 {
            return Err(Error::InvalidArguments);
        }
        file.set_checksum(ChecksumKind::for_version(found.header.version));
        db.set_current(found.header, found.pos);
        db.file = Some(file);
        Ok(db)
    }

    fn set_current(&mut self, header: Header, pos: u64) {
        self.committed = header.clone();
        self.header = header;
        self.header_pos = pos;
        self.saves_on_header = 0;
    }

    /// The feed of a compaction following this file's writers, if any. Read-only
    /// handles have nothing to tell.
    fn feed(&self) -> Option<std::sync::Arc<feed::Feed>> {
        if self.options.read_only {
            return None;
        }
        feed::feed_for(self.identity)
    }

    /// Tells a compaction following this file's writers (if any) what this handle did.
    fn publish(&self, event: impl FnOnce() -> feed::FeedEvent) {
        if let Some(feed) = self.feed() {
            feed.publish(event());
        }
    }

    /// Tells a follower that saves this handle told of are gone.
    fn publish_discarded(&self) {
        let writer = self.writer;
        self.publish(|| feed::FeedEvent::Discarded { writer });
    }

    /// The open file, or FILE_CLOSED.
    pub(crate) fn file(&self) -> Result<&CouchFile> {
        self.file.as_ref().ok_or(Error::FileClosed)
    }

    /// The open file for writing: FILE_CLOSED when closed, WRITE when read-only.
    pub(crate) fn file_mut(&mut self) -> Result<&mut CouchFile> {
        if self.options.read_only && self.file.is_some() {
            return Err(Error::Write);
        }
        self.file.as_mut().ok_or(Error::FileClosed)
    }

    /// Closes the file. The handle keeps its header in memory (`info()` still answers);
    /// every call that touches the file returns FILE_CLOSED afterwards. Uncommitted
    /// changes are dropped.
    pub fn close(&mut self) -> Result<()> {
        match self.file.take() {
            Some(file) => {
                self.back_to_committed();
                file.close()
            }
            None => Ok(()),
        }
    }

    /// Closes the file without writing anything still buffered, back at the last
    /// commit: for a handle whose state can no longer be trusted.
    pub fn abandon(&mut self) {
        if let Some(mut file) = self.file.take() {
            file.discard_pending();
            let _ = file.close();
        }
        self.back_to_committed();
    }

    /// Asks for an fsync after every `bytes` written, or (None) only at commit, from now
    /// on; what the handle was opened with ([`OpenOptions::periodic_sync`]) until then.
    pub fn set_periodic_sync(&mut self, bytes: Option<u64>) -> Result<()> {
        self.file
            .as_mut()
            .ok_or(Error::FileClosed)?
            .set_periodic_sync(bytes);
        Ok(())
    }

    /// Keeps appends in memory (up to `limit` bytes) until the next commit or
    /// [`Db::sync_data`], instead of writing them out as they come; None goes back to
    /// normal buffering (what is pending stays until the next write-out). Reads see the
    /// pending bytes all the same; nothing is durable before it is written out. The
    /// online driver does this for its target while it paces the flusher, so its holds
    /// of the engine's lock copy nothing into the OS.
    pub fn set_deferred_writes(&mut self, limit: Option<usize>) -> Result<()> {
        self.file
            .as_mut()
            .ok_or(Error::FileClosed)?
            .set_deferred_writes(limit);
        Ok(())
    }

    /// Makes the next `bytes` of appends go to memory already allocated and touched (see
    /// [`CouchFile::reserve_pending`]): before holds whose appends are kept in memory.
    pub(crate) fn reserve_write_buffer(&mut self, bytes: usize) -> Result<()> {
        self.file_mut()?.reserve_pending(bytes);
        Ok(())
    }

    /// Until the next commit or sync, has this handle's write-outs done by another
    /// thread (see [`CouchFile::set_write_behind`]): the online driver's final round,
    /// which replays under the engine's lock while the OS copies what it wrote.
    pub(crate) fn set_write_behind(&mut self) -> Result<()> {
        self.file_mut()?.set_write_behind()
    }

    /// Writes B-tree nodes as Snappy literals (no compression, a copy) while `on` is set:
    /// faster writes, larger nodes, readable by any reader. The online driver does this
    /// for the rounds the engine waits for.
    pub fn set_literal_nodes(&mut self, on: bool) -> Result<()> {
        self.file
            .as_mut()
            .ok_or(Error::FileClosed)?
            .set_literal_nodes(on);
        Ok(())
    }

    /// While `on` is set, each batch of at least a few dozen documents has another
    /// thread read ahead the index nodes it rewrites (OS files only): for writes an
    /// engine waits for while a core is idle.
    pub fn set_prefetch(&mut self, on: bool) -> Result<()> {
        self.file
            .as_mut()
            .ok_or(Error::FileClosed)?
            .set_prefetch(on);
        Ok(())
    }

    /// The file's backend, while the file is open.
    pub(crate) fn backend(&self) -> Option<&dyn Backend> {
        self.file.as_ref().map(CouchFile::backend)
    }

    /// Which file this handle is on, when its backend tells (see [`FileIdentity`]).
    pub fn identity(&self) -> Option<FileIdentity> {
        self.identity
    }

    /// Whether the file is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The path the handle was opened with.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The options the handle was opened with.
    pub fn options(&self) -> OpenOptions {
        self.options
    }

    /// The node size thresholds of this handle.
    pub fn node_sizes(&self) -> NodeSizes {
        self.options.node_sizes
    }

    /// The header the next commit writes, for the compactor to fill in.
    pub(crate) fn header_mut(&mut self) -> Result<&mut Header> {
        self.file_mut()?;
        Ok(&mut self.header)
    }

    /// The current header (including uncommitted changes).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Position of the current header in the file.
    pub fn header_position(&self) -> u64 {
        self.header_pos
    }

    /// The by-id root's reduce value, decoded (zeros for an empty tree).
    pub(crate) fn by_id_reduce(&self) -> Result<ByIdReduce> {
        match &self.header.by_id_root {
            Some(root) => ByIdReduce::decode(&root.reduce),
            None => Ok(ByIdReduce::default()),
        }
    }

    /// Facts about the database as of the current header. Works on a closed handle too,
    /// from the header kept in memory.
    pub fn info(&self) -> Result<DbInfo> {
        let reduce = self.by_id_reduce()?;
        let tree_sizes: u64 = [
            &self.header.by_id_root,
            &self.header.by_seq_root,
            &self.header.local_root,
        ]
        .into_iter()
        .flatten()
        .map(|r| r.subtree_size)
        .sum();
        Ok(DbInfo {
            filename: self.filename.clone(),
            last_sequence: self.header.update_seq,
            doc_count: reduce.not_deleted,
            deleted_count: reduce.deleted,
            space_used: reduce.size + tree_sizes,
            file_size: self.file.as_ref().map_or(self.file_size, CouchFile::end),
            header_position: self.header_pos,
            purge_seq: self.header.purge_seq,
        })
    }

    /// Moves to the next older header. With none left (or on a read error) the file is
    /// closed and DB_NO_LONGER_VALID returned, as the original does. Uncommitted changes
    /// are dropped.
    pub fn rewind(&mut self) -> Result<()> {
        let found = match (self.file(), self.header_pos) {
            (Err(e), _) => return Err(e),
            (Ok(_), 0) => Err(Error::NoHeader),
            (Ok(file), pos) => file.find_header_at_or_before(pos - 1),
        };
        self.move_to_or_close(found)
    }

    /// Moves to the next newer header within the file as this handle knows it. With none
    /// the file is closed and DB_NO_LONGER_VALID returned, as the original does.
    pub fn fast_forward(&mut self) -> Result<()> {
        let found = self.file()?.find_header_after(self.header_pos);
        self.move_to_or_close(found)
    }

    fn move_to_or_close(&mut self, found: Result<crate::file::FoundHeader>) -> Result<()> {
        match found {
            Ok(found) => {
                self.drop_uncommitted();
                self.set_current(found.header, found.pos);
                Ok(())
            }
            Err(_) => {
                self.close()?;
                Err(Error::DbNoLongerValid)
            }
        }
    }

    /// Moves to the next newer header within the file as this handle knows it. With none
    /// (or on a read error) the handle stays where it was: NO_HEADER.
    pub fn seek_next(&mut self) -> Result<()> {
        let found = self.file()?.find_header_after(self.header_pos)?;
        self.drop_uncommitted();
        self.set_current(found.header, found.pos);
        Ok(())
    }

    /// Moves to the next older header. With none the handle stays where it was:
    /// NO_HEADER.
    pub fn seek_previous(&mut self) -> Result<()> {
        let file = self.file()?;
        if self.header_pos == 0 {
            return Err(Error::NoHeader);
        }
        let found = file.find_header_at_or_before(self.header_pos - 1)?;
        self.drop_uncommitted();
        self.set_current(found.header, found.pos);
        Ok(())
    }

    /// Moves to the oldest header whose update sequence is at least `seqno`, then
    /// forward to the last header whose timestamp lies before the next multiple of
    /// `granularity` above that header's timestamp. Only headers up to the current one
    /// are considered. NO_HEADER (handle unmoved) when none holds `seqno`;
    /// INVALID_ARGUMENTS for a granularity of 0.
    pub fn seek_first_header_containing(&mut self, seqno: u64, granularity: u64) -> Result<()> {
        if granularity == 0 {
            return Err(Error::InvalidArguments);
        }
        let tip = self.header_pos;
        if self.header.update_seq < seqno {
            return Err(Error::NoHeader);
        }
        // Headers are ordered by position and their sequences never decrease: walk back
        // while the previous header still holds `seqno`.
        let file = self.file()?;
        let mut first = FoundHeader {
            header: self.header.clone(),
            pos: tip,
        };
        while first.pos > 0 {
            match file.find_header_at_or_before(first.pos - 1) {
                Ok(prev) if prev.header.update_seq >= seqno => first = prev,
                Ok(_) => break,
                Err(e) if e == Error::NoHeader => break,
                Err(e) => return Err(e),
            }
        }
        let bucket_end = next_boundary(first.header.timestamp, granularity);
        let mut chosen = first;
        while granularity > 1 && chosen.pos < tip {
            let next = file.find_header_after(chosen.pos)?;
            if next.pos > tip || next.header.timestamp >= bucket_end {
                break;
            }
            chosen = next;
        }
        self.drop_uncommitted();
        self.set_current(chosen.header, chosen.pos);
        Ok(())
    }

    /// Moves to the header at `pos`, which must be a valid header of this file
    /// (otherwise the handle stays where it was and the error is returned): a position
    /// that is not a block boundary is INVALID_ARGUMENTS, one without a header NO_HEADER.
    pub fn seek_header(&mut self, pos: u64) -> Result<()> {
        if !crate::format::block::is_block_start(pos) {
            return Err(Error::InvalidArguments);
        }
        // A header beyond the size this handle knows may have been committed since.
        if pos >= self.file()?.end() && !self.has_uncommitted() {
            self.file.as_mut().ok_or(Error::FileClosed)?.refresh_end()?;
        }
        let header = self.file()?.read_header_at(pos)?;
        self.drop_uncommitted();
        self.set_current(header, pos);
        Ok(())
    }

    /// Moves to the newest header in the file, re-reading the file's size first, so a
    /// handle sees commits other handles made after it opened. Refused (INVALID_ARGUMENTS)
    /// while this handle has uncommitted changes.
    pub fn seek_newest(&mut self) -> Result<()> {
        let (pos, header) = self.newest_header()?;
        self.set_current(header, pos);
        Ok(())
    }

    /// The newest header in the file and its position, re-reading the file's size, without
    /// moving the handle to it.
    pub fn newest_header(&mut self) -> Result<(u64, Header)> {
        if self.has_uncommitted() {
            return Err(Error::InvalidArguments);
        }
        let file = self.file.as_mut().ok_or(Error::FileClosed)?;
        file.refresh_end()?;
        let found = file.find_header_at_or_before(u64::MAX)?;
        Ok((found.pos, found.header))
    }

    /// Whether saves since the last commit are pending.
    pub fn has_uncommitted(&self) -> bool {
        self.header != self.committed
    }

    fn drop_uncommitted(&mut self) {
        if let Some(file) = self.file.as_mut() {
            file.discard_pending();
        }
        self.back_to_committed();
    }

    /// The handle's header goes back to its last commit; a follower told of saves on it
    /// learns they are gone.
    fn back_to_committed(&mut self) {
        self.header = self.committed.clone();
        if self.saves_on_header > 0 {
            self.publish_discarded();
            self.saves_on_header = 0;
        }
    }

    /// Writes out and fsyncs what was saved so far without writing a header, so a later
    /// commit has little left to make durable (the online driver does this before
    /// taking the engine's lock).
    pub fn sync_data(&mut self) -> Result<()> {
        let result = self.file_mut()?.sync();
        if result.is_err() {
            self.drop_uncommitted();
        }
        result
    }

    /// Bytes saved since the file was last made durable, at most (see
    /// [`CouchFile::unsynced_bytes`]).
    pub(crate) fn unsynced_bytes(&self) -> u64 {
        self.file.as_ref().map_or(0, CouchFile::unsynced_bytes)
    }

    /// Between the online driver's holds: hands what was saved so far to a write-behind
    /// thread (started if need be; OS files only), which writes it and fsyncs whenever
    /// it catches up, so this thread goes on at once; with `durable`, or without such a
    /// thread (other backends), writes it out and fsyncs here.
    pub(crate) fn write_out_behind(&mut self, durable: bool) -> Result<()> {
        let file = self.file_mut()?;
        let result = file.set_write_behind().and_then(|()| {
            if file.has_write_behind() && !durable {
                file.flush()
            } else {
                file.sync()
            }
        });
        if result.is_err() {
            self.drop_uncommitted();
        }
        result
    }

    /// Commits everything saved so far: writes pending data, fsyncs, appends a header at
    /// the next block boundary stamped with the current time, and fsyncs again.
    pub fn commit(&mut self) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.commit_with_timestamp(now)
    }

    /// Commits with the caller's timestamp (format 13 headers carry it).
    pub fn commit_with_timestamp(&mut self, timestamp: u64) -> Result<()> {
        self.commit_inner(timestamp, true)
    }

    /// Commits a file nothing uses until this returns (a compaction target before the
    /// engine switches to it) with one fsync instead of two: data and header are made
    /// durable together. A crash before it returns may leave a header whose data is
    /// torn, which is harmless only because such a file is discarded, never opened.
    pub(crate) fn commit_unpublished(&mut self, timestamp: u64) -> Result<()> {
        self.commit_inner(timestamp, false)
    }

    fn commit_inner(&mut self, timestamp: u64, data_first: bool) -> Result<()> {
        let mut header = self.header.clone();
        header.timestamp = if header.version >= FormatVersion::V13 {
            timestamp
        } else {
            0
        };
        let body = header.encode()?;
        let kind = ChecksumKind::for_version(header.version);
        let file = self.file_mut()?;
        let result = (|| {
            if data_first {
                file.sync()?;
            }
            let pos = file.append_header(&body, kind)?;
            file.sync()?;
            Ok(pos)
        })();
        let result = match result {
            Ok(pos) if self.name_pending => {
                let named = self.file_mut()?.sync_name();
                named.map(|()| {
                    self.name_pending = false;
                    pos
                })
            }
            other => other,
        };
        match result {
            Ok(pos) => {
                self.file_size = self.file()?.end();
                let commit = feed::FedCommit {
                    writer: self.writer,
                    base: self.header_pos,
                    pos,
                    update_seq: header.update_seq,
                    saves: self.saves_on_header,
                };
                self.set_current(header, pos);
                self.publish(|| feed::FeedEvent::Committed(commit));
                Ok(())
            }
            Err(e) => {
                self.drop_uncommitted();
                Err(e)
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The first multiple of `interval` above `timestamp` (saturating).
pub(crate) fn next_boundary(timestamp: u64, interval: u64) -> u64 {
    (timestamp - timestamp % interval).saturating_add(interval)
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Opens the OS file as the options ask, mapping failures to the original's codes.
/// Also tells whether this call created the file.
fn open_file(path: &Path, options: OpenOptions) -> Result<(fs::File, bool)> {
    let mut os = fs::OpenOptions::new();
    os.read(true);
    let creating = !options.read_only && options.create;
    if !options.read_only {
        os.write(true);
    }
    let (file, created) = if creating {
        match os.clone().create_new(true).open(path) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !options.exclusive => {
                (os.open(path).map_err(open_error)?, false)
            }
            Err(e) => return Err(open_error(e)),
        }
    } else {
        (os.open(path).map_err(open_error)?, false)
    };
    let meta = file.metadata().map_err(open_error)?;
    if !meta.is_file() {
        return Err(Error::OpenFile);
    }
    Ok((file, created))
}

fn open_error(e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NoSuchFile,
        _ => ErrorKind::OpenFile,
    };
    Error::io(kind, e)
}
