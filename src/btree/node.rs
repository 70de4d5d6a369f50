//! Loading nodes from the file, and the node size thresholds that decide splitting.

use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::file::{AccessTag, CouchFile};
use crate::format::compression::decompress_into;
use crate::format::{NodeKind, NodeReader};

/// A decompressed node read from the file.
#[derive(Debug)]
pub struct Node {
    /// Position of the node's chunk.
    pub pos: u64,
    data: NodeData,
}

/// Where a node's bytes live: shared with the file's cache (interior nodes), or in a
/// buffer that goes back to this thread's pool when the node is dropped (leaves, which
/// a writer reads once and replaces), so reading a leaf allocates nothing.
#[derive(Debug)]
enum NodeData {
    Shared(Arc<[u8]>),
    Pooled(Vec<u8>),
}

/// Buffers kept for reuse per thread: about the depth of a tree, times a few trees.
const POOL_SIZE: usize = 32;
/// Buffers kept for any thread: a thread that reads nodes another one drops (a
/// prefetcher, see [`super::prefetch`]) takes them from here.
const SHARED_POOL_SIZE: usize = 128;
/// Larger buffers (from nodes far above the default size) are not kept there.
const SHARED_BUFFER_MAX: usize = 64 * 1024;

thread_local! {
    // The chunk as read, reused for every node.
    static CHUNK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

static SHARED_POOL: Mutex<Vec<Vec<u8>>> = parking_lot::const_mutex(Vec::new());

fn pooled_buffer() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop())
        .or_else(|| SHARED_POOL.lock().pop())
        .unwrap_or_default()
}

fn return_buffer(buf: Vec<u8>) {
    let mut buf = Some(buf);
    // During thread teardown the thread's pool may be gone: the shared one takes it.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_SIZE {
            p.extend(buf.take());
        }
    });
    if let Some(buf) = buf.filter(|b| b.capacity() <= SHARED_BUFFER_MAX) {
        let mut shared = SHARED_POOL.lock();
        if shared.len() < SHARED_POOL_SIZE {
            shared.push(buf);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let NodeData::Pooled(buf) = &mut self.data {
            return_buffer(std::mem::take(buf));
        }
    }
}

impl Node {
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.data {
            NodeData::Shared(d) => d,
            NodeData::Pooled(d) => d,
        }
    }

    /// A second handle on the node when its bytes are shared (interior nodes are).
    pub(crate) fn share(&self) -> Option<Node> {
        match &self.data {
            NodeData::Shared(d) => Some(Node {
                pos: self.pos,
                data: NodeData::Shared(d.clone()),
            }),
            NodeData::Pooled(_) => None,
        }
    }

    /// An iterator over the node's items.
    pub fn items(&self) -> NodeReader<'_> {
        NodeReader::new(self.bytes()).expect("kind checked when read")
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.items().kind()
    }
}

/// Reads the node at `pos`. Children are always written before their parents, so a
/// node must lie before `below` (its parent's position, or the header's); anything
/// else is CORRUPT, which also rules out cycles in a damaged file. `size` is the
/// subtree size the pointer to the node gives: for a leaf, the bytes its chunk takes,
/// so a leaf is read with one read of about its size (only a hint; `u64::MAX` for
/// none).
pub fn read_node(file: &CouchFile, pos: u64, size: u64, below: u64) -> Result<Node> {
    if pos >= below {
        return Err(Error::Corrupt);
    }
    if let Some(data) = file.cached(pos) {
        return Ok(Node {
            pos,
            data: NodeData::Shared(data),
        });
    }
    let mut plain = pooled_buffer();
    let kind = CHUNK.with(|chunk| -> Result<_> {
        let chunk = &mut *chunk.borrow_mut();
        file.read_tagged_sized(AccessTag::BTree, pos, size, chunk)?;
        decompress_into(chunk, &mut plain)?;
        Ok(NodeReader::new(&plain)?.kind())
    });
    let kind = match kind {
        Ok(kind) => kind,
        Err(e) => {
            return_buffer(plain);
            return Err(e);
        }
    };
    let data = if cacheable(kind) {
        let shared = Arc::<[u8]>::from(&plain[..]);
        return_buffer(plain);
        file.remember(pos, shared.clone());
        NodeData::Shared(shared)
    } else {
        NodeData::Pooled(plain)
    };
    Ok(Node { pos, data })
}

/// Which nodes the file's cache keeps: interior nodes are on every path, so the next
/// batch or lookup reads them again; a leaf a writer reads it replaces.
fn cacheable(kind: NodeKind) -> bool {
    kind == NodeKind::Interior
}

/// Keeps a node just written in the file's cache if it is worth it.
pub fn remember_written(file: &CouchFile, pos: u64, kind: NodeKind, plain: &[u8]) {
    if cacheable(kind) {
        file.remember(pos, Arc::from(plain));
    }
}

/// Node size thresholds (uncompressed bytes) of an open handle. They are not stored in
/// the file; each handle chooses them when it opens (see `db::OpenOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSizes {
    /// Threshold for key/pointer (interior) nodes.
    pub interior: usize,
    /// Threshold for key/value (leaf) nodes.
    pub leaf: usize,
}

impl NodeSizes {
    /// The original's default threshold for both kinds.
    pub const DEFAULT_THRESHOLD: usize = 1279;

    /// The original's default sizes.
    pub const DEFAULT: NodeSizes = NodeSizes {
        interior: Self::DEFAULT_THRESHOLD,
        leaf: Self::DEFAULT_THRESHOLD,
    };

    /// Thresholds of `leaf_kib` and `interior_kib` KiB (0: the default threshold).
    pub fn from_kib(leaf_kib: usize, interior_kib: usize) -> Self {
        let bytes = |kib: usize| match kib {
            0 => Self::DEFAULT_THRESHOLD,
            n => n * 1024,
        };
        NodeSizes {
            leaf: bytes(leaf_kib),
            interior: bytes(interior_kib),
        }
    }

    /// The threshold for a kind of node.
    pub fn for_kind(&self, kind: NodeKind) -> usize {
        match kind {
            NodeKind::Leaf => self.leaf,
            NodeKind::Interior => self.interior,
        }
    }
}

impl Default for NodeSizes {
    fn default() -> Self {
        Self::DEFAULT
    }
}
