//! Positioned I/O backends.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use parking_lot::RwLock;

/// Positioned reads and writes on one file. Implementations are shared between threads
/// only through `&self`, like `pread`/`pwrite` on one descriptor.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `pos`; returns how many were written.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<usize>;
    /// The current length of the file.
    fn size(&self) -> io::Result<u64>;
    /// Makes everything written so far durable.
    fn sync(&self) -> io::Result<()>;
}

/// A real file.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
}

impl FileBackend {
    /// Wraps an open file.
    pub fn new(file: File) -> Self {
        FileBackend { file }
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
}
