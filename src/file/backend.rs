//! Positioned I/O backends.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use parking_lot::RwLock;

/// What an access of the file is for, told to backends that ask for it (the caller's
/// file operations count I/O by it). Numbered as the original's `FileTag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AccessTag {
    /// A speculative access (searching for a header).
    Empty = 0,
    /// Reading a header.
    FileHeader = 1,
    /// Reading a B-tree node.
    BTree = 2,
    /// Reading a document body.
    Document = 3,
    /// Any other access.
    Unknown = 4,
}

/// Which file a backend is on: (device, inode) for an OS file, or a backend's own pair
/// (an in-memory file's address). Two handles with equal identities share one file,
/// whatever names they were opened by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    /// The device, or a backend's own kind of identity.
    pub device: u64,
    /// The inode, or a number the backend tells files apart by.
    pub inode: u64,
}

impl FileIdentity {
    /// The identity of the OS file `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
}

/// Positioned reads and writes on one file. Implementations are shared between threads
/// only through `&self`, like `pread`/`pwrite` on one descriptor.
pub trait Backend: Send + Sync + std::fmt::Debug + std::any::Any {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `pos`; returns how many were written.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize>;
    /// The current length of the file.
    fn size(&self) -> io::Result<u64>;
    /// Makes everything written so far durable.
    fn sync(&self) -> io::Result<()>;
    /// Makes the file's name durable (an fsync of its directory), so a file just
    /// created survives a power cut along with its first commit. Nothing to do for a
    /// backend without a name.
    fn sync_name(&self) -> io::Result<()> {
        Ok(())
    }
    /// Whether [`Backend::tag`] does anything (so callers skip it when not).
    fn wants_tags(&self) -> bool {
        false
    }
    /// Told what the following accesses are for ([`AccessTag::Unknown`] after them).
    fn tag(&self, _tag: AccessTag) {}
    /// A second descriptor on the same file, for making its data durable from another
    /// thread while this one goes on (None when the backend is not an OS file).
    fn sync_handle(&self) -> Option<File> {
        None
    }
    /// Which file this is, when the backend can tell (see [`FileIdentity`]).
    fn identity(&self) -> Option<FileIdentity> {
        None
    }
    /// Closes the file; the backend is dropped afterwards. Errors are reported to the
    /// caller of the database's close.
    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A real file.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
    /// The directory holding the file's name, when known.
    dir: Option<std::path::PathBuf>,
}

impl FileBackend {
    /// Wraps an open file.
    pub fn new(file: File) -> Self {
        FileBackend { file, dir: None }
    }

    /// Wraps an open file named `path`, so [`Backend::sync_name`] can fsync its directory.
    pub fn named(file: File, path: &std::path::Path) -> Self {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        FileBackend {
            file,
            dir: Some(dir),
        }
    }
}

impl Backend for FileBackend {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.file.read_at(buf, pos)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        self.file.write_at(buf, pos)
    }

    fn size(&self) -> io::Result<u64> {
        self.file.metadata().map(|m| m.len())
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_handle(&self) -> Option<File> {
        self.file.try_clone().ok()
    }

    fn sync_name(&self) -> io::Result<()> {
        match &self.dir {
            Some(dir) => File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    }

    fn identity(&self) -> Option<FileIdentity> {
        self.file.metadata().ok().map(|m| FileIdentity::of(&m))
    }
}

/// An in-memory file; clones share the same bytes, like two descriptors on one file.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    bytes: Arc<RwLock<Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty in-memory file.
    pub fn new() -> Self {
        Self::default()
    }

    /// An in-memory file holding `bytes`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        MemoryBackend {
            bytes: Arc::new(RwLock::new(bytes)),
        }
    }

    /// A copy of the current contents.
    pub fn snapshot(&self) -> Vec<u8> {
        self.bytes.read().clone()
    }
}

impl Backend for MemoryBackend {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let bytes = self.bytes.read();
        let Ok(start) = usize::try_from(pos) else {
            return Ok(0);
        };
        if start >= bytes.len() {
            return Ok(0);
        }
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize> {
        let mut bytes = self.bytes.write();
        let start =
            usize::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let end = start + buf.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(buf);
        Ok(buf.len())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.bytes.read().len() as u64)
    }

    fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    fn identity(&self) -> Option<FileIdentity> {
        // Clones share the bytes behind one Arc: its address tells files apart (device
        // u64::MAX is no OS device's number).
        Some(FileIdentity {
            device: u64::MAX,
            inode: Arc::as_ptr(&self.bytes) as usize as u64,
        })
    }
}
