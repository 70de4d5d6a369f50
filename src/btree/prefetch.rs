//! Prefetching for a batched modification: another thread reads, in the order the
//! modification will ask for them, the nodes it is about to rewrite (the root, the
//! interior nodes and leaves on the paths of the plan's keys), so the thread that
//! rewrites them does not wait for the reads, checksums and decompression. For work
//! done while the engine's flusher waits for its lock and leaves a core idle.
//!
//! The walk mirrors [`super::modify`]'s descent: depth first, a child visited when any
//! key falls in it (the last child of a node takes every key beyond). Nodes are handed
//! over through a bounded channel; [`Prefetched::take`] asks for the next one and, if
//! it is not the one wanted (nothing guarantees the two walks agree), keeps it aside
//! and lets the caller read for itself. The prefetcher reads only what is in the file
//! (a [`CouchFile::concurrent_reader`]) and stops at its first error or when the
//! receiver is gone, so the modification's own reads, with their own errors, decide.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::descent::{Descent, next_child};
use super::node::Node;
use crate::error::Result;
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer};

/// Nodes read ahead at most (about a leaf's size each).
const CHANNEL_BOUND: usize = 256;

/// The sending end, for [`walk`].
pub struct NodeSender(SyncSender<(u64, Node)>);

/// The receiving end: the nodes read ahead, for the modification to take.
pub struct Prefetched {
    receiver: Receiver<(u64, Node)>,
    aside: RefCell<HashMap<u64, Node>>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

/// A channel for one tree's nodes.
pub fn channel() -> (NodeSender, Prefetched) {
    let (sender, receiver) = sync_channel(CHANNEL_BOUND);
    (
        NodeSender(sender),
        Prefetched {
            receiver,
            aside: RefCell::new(HashMap::new()),
            hits: Cell::new(0),
            misses: Cell::new(0),
        },
    )
}

impl Prefetched {
    /// The node at `pos` if the prefetcher read it: waits for its next node when the
    /// one wanted is not already aside. None (the caller reads it) when the next one is
    /// another node (kept aside) or the prefetcher has stopped.
    pub fn take(&self, pos: u64) -> Option<Node> {
        // (The map's borrow ends before the closure may borrow it again.)
        let aside = self.aside.borrow_mut().remove(&pos);
        let found = aside.or_else(|| {
            let (at, node) = self.receiver.recv().ok()?;
            if at == pos {
                return Some(node);
            }
            self.aside.borrow_mut().insert(at, node);
            None
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.set(counter.get() + 1);
        found
    }

    /// Nodes taken from the prefetcher, and nodes the caller had to read itself.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }
}

/// A node on the walk's path: its items from `offset` on, and the keys not yet given
/// to a child.
struct Frame<'k, K> {
    node: Node,
    depth: usize,
    offset: usize,
    rest: &'k [K],
}

/// Walks the tree at `root` for the sorted `keys` as a modification with those keys
/// would, sending every node read, in that order; `found(key, value)` is told of each
/// leaf entry whose key is one of `keys`. Ends quietly at the first error (the
/// modification meets it itself) or when the receiver is dropped.
pub fn walk<K: AsRef<[u8]>>(
    file: &CouchFile,
    root: &NodePointer,
    keys: &[K],
    sender: &NodeSender,
    found: &mut dyn FnMut(&[u8], &[u8]),
) {
    let _ = try_walk(file, root, keys, sender, found);
}

/// The walk; `Ok(false)` when the receiver is gone.
fn try_walk<K: AsRef<[u8]>>(
    file: &CouchFile,
    root: &NodePointer,
    keys: &[K],
    sender: &NodeSender,
    found: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<bool> {
    if keys.is_empty() {
        return Ok(true);
    }
    let descent = Descent::of(file);
    let mut path: Vec<Frame<'_, K>> = Vec::new();
    let node = descent.read(file, root.pos, root.subtree_size, file.end(), 1)?;
    if !visit(node, 1, keys, &mut path, sender, found)? {
        return Ok(false);
    }
    while let Some(frame) = path.last_mut() {
        let bytes = frame.node.bytes();
        let Some(item) = next_child(bytes, &mut frame.offset, &mut frame.rest, K::as_ref)? else {
            path.pop();
            continue;
        };
        let mine = item.keys;
        if mine.is_empty() {
            continue;
        }
        let child = descent.child(item.value, frame.node.pos)?;
        let depth = frame.depth + 1;
        let node = descent.read(file, child.pos, child.subtree_size, frame.node.pos, depth)?;
        if !visit(node, depth, mine, &mut path, sender, found)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Hands `node` over; an interior node also goes on the path (shared with the
/// receiver: interior nodes are read into shared buffers), a leaf's entries with keys
/// among `keys` go to `found`.
fn visit<'k, K: AsRef<[u8]>>(
    node: Node,
    depth: usize,
    keys: &'k [K],
    path: &mut Vec<Frame<'k, K>>,
    sender: &NodeSender,
    found: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<bool> {
    let pos = node.pos;
    if node.kind() == NodeKind::Leaf {
        let mut keys = keys.iter().map(AsRef::as_ref).peekable();
        for item in node.items() {
            let (key, value) = item?;
            while keys.next_if(|k| *k < key).is_some() {}
            if keys.next_if(|k| *k == key).is_some() {
                found(key, value);
            }
        }
        return Ok(sender.0.send((pos, node)).is_ok());
    }
    let Some(shared) = node.share() else {
        // Interior nodes are read into shared buffers; anything else ends the walk.
        return Ok(false);
    };
    path.push(Frame {
        node,
        depth,
        offset: 1,
        rest: keys,
    });
    Ok(sender.0.send((pos, shared)).is_ok())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::btree::{Action, BySeqReducer, ModifyPlan, NodeSizes, modify, modify_with};
    use crate::format::checksum::ChecksumKind;

    fn os_file(path: &std::path::Path) -> CouchFile {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        let mut f = CouchFile::new(Box::new(crate::file::FileBackend::new(file))).unwrap();
        f.set_checksum(ChecksumKind::Crc32c);
        f
    }

    fn key(i: u64) -> Vec<u8> {
        format!("key-{:08}", i.wrapping_mul(2_654_435_761) % 100_000_000).into_bytes()
    }

    /// A modification fed by the prefetcher takes every node it reads from it (none
    /// read twice, none missing) and writes the same bytes as one reading for itself,
    /// over a tree of several levels with inserts, replacements and removals.
    #[test]
    fn the_walk_reads_what_the_modification_reads_in_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let sizes = NodeSizes {
            leaf: 256,
            interior: 256,
        };
        let mut file = os_file(&a);
        let mut root = None;
        for batch in 0..20u64 {
            let keys: Vec<Vec<u8>> = (batch * 500..(batch + 1) * 500).map(key).collect();
            let mut actions: Vec<Action<'_>> = keys
                .iter()
                .map(|k| Action::Insert(Cow::Borrowed(k), Cow::Borrowed(&b"value"[..])))
                .collect();
            actions.sort_by(|x, y| x.key().cmp(y.key()));
            let plan = ModifyPlan::new(actions);
            root = modify(
                &mut file,
                root.as_ref(),
                &plan,
                &BySeqReducer,
                sizes,
                &mut |_, _| Ok(()),
            )
            .unwrap();
        }
        file.sync().unwrap();
        drop(file);
        std::fs::copy(&a, &b).unwrap();
        let c = dir.path().join("c");
        std::fs::copy(&a, &c).unwrap();
        let root = root.unwrap();

        // Every 37th key replaced, every 101st removed, new keys in between.
        let mut changes: Vec<(Vec<u8>, bool)> = (0..10_000u64)
            .filter(|i| i % 37 == 0 || i % 101 == 0)
            .map(|i| (key(i), i % 101 == 0))
            .chain((0..150u64).map(|i| (key(1_000_000 + i), false)))
            .collect();
        changes.sort();
        changes.dedup_by(|x, y| x.0 == y.0);
        let plan = || {
            ModifyPlan::from_sorted(
                changes
                    .iter()
                    .map(|(k, remove)| match remove {
                        true => Action::Remove(Cow::Borrowed(k)),
                        false => Action::Insert(Cow::Borrowed(k), Cow::Borrowed(&b"new"[..])),
                    })
                    .collect(),
            )
        };
        let keys: Vec<&[u8]> = changes.iter().map(|(k, _)| k.as_slice()).collect();

        let mut plain = os_file(&a);
        let mut seen_plain = Vec::new();
        let plain_root = modify(
            &mut plain,
            Some(&root),
            &plan(),
            &BySeqReducer,
            sizes,
            &mut |k, _| {
                seen_plain.push(k.to_vec());
                Ok(())
            },
        )
        .unwrap();
        plain.sync().unwrap();

        let mut fed = os_file(&b);
        let reader = fed.concurrent_reader().expect("an OS file");
        let mut found = Vec::new();
        let mut seen_fed = Vec::new();
        // The receiving end is dropped inside the scope, as `Db` does: a walker left with
        // nodes nobody takes then stops instead of keeping the scope from ending.
        let (fed_root, (hits, misses), aside) = std::thread::scope(|s| {
            let (sender, prefetched) = channel();
            s.spawn(|| {
                walk(&reader, &root, &keys, &sender, &mut |k, _| {
                    found.push(k.to_vec())
                });
                drop(sender);
            });
            let root = modify_with(
                &mut fed,
                Some(&root),
                &plan(),
                &BySeqReducer,
                sizes,
                &mut |k, _| {
                    seen_fed.push(k.to_vec());
                    Ok(())
                },
                Some(&prefetched),
            )
            .unwrap();
            let aside = prefetched.aside.borrow().len();
            (root, prefetched.counts(), aside)
        });
        fed.sync().unwrap();

        assert_eq!(misses, 0);
        assert!(hits > 100, "{hits} nodes taken from the prefetcher");
        assert_eq!(aside, 0);
        assert_eq!(fed_root, plain_root);
        assert_eq!(seen_fed, seen_plain);
        assert_eq!(
            found, seen_plain,
            "the walk finds the entries the plan meets"
        );
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

        // A walk that disagrees (for other keys: every other one of the plan's and some
        // the plan does not have) hands over nodes the modification does not ask for,
        // or not when it asks: it reads those itself, and the result is the same.
        let other: Vec<Vec<u8>> = keys
            .iter()
            .step_by(2)
            .map(|k| k.to_vec())
            .chain((0..300u64).map(|i| key(2_000_000 + i)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut third = os_file(&c);
        let reader = third.concurrent_reader().unwrap();
        let (third_root, (hits, misses)) = std::thread::scope(|s| {
            let (sender, prefetched) = channel();
            s.spawn(|| {
                walk(&reader, &root, &other, &sender, &mut |_, _| {});
                drop(sender);
            });
            let root = modify_with(
                &mut third,
                Some(&root),
                &plan(),
                &BySeqReducer,
                sizes,
                &mut |_, _| Ok(()),
                Some(&prefetched),
            )
            .unwrap();
            (root, prefetched.counts())
        });
        third.sync().unwrap();
        assert!(misses > 0 && hits > 0, "{hits} taken, {misses} read");
        assert_eq!(third_root, plain_root);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    }

    /// A walk that cannot read (a node beyond what the reader sees) ends, and the
    /// modification reads for itself: nothing is waited for forever.
    #[test]
    fn a_walk_that_stops_leaves_the_reads_to_the_modification() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = os_file(&dir.path().join("f"));
        let keys: Vec<Vec<u8>> = (0..2000u64).map(key).collect();
        let mut actions: Vec<Action<'_>> = keys
            .iter()
            .map(|k| Action::Insert(Cow::Borrowed(k), Cow::Borrowed(&b"v"[..])))
            .collect();
        actions.sort_by(|x, y| x.key().cmp(y.key()));
        let sizes = NodeSizes::DEFAULT;
        // The reader is taken before the tree is written out: it sees none of it.
        let reader = file.concurrent_reader().unwrap();
        let root = modify(
            &mut file,
            None,
            &ModifyPlan::new(actions.clone()),
            &BySeqReducer,
            sizes,
            &mut |_, _| Ok(()),
        )
        .unwrap()
        .unwrap();
        file.flush().unwrap();
        let ids: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        let (hits, misses) = std::thread::scope(|s| {
            let (sender, prefetched) = channel();
            s.spawn(|| {
                walk(&reader, &root, &ids, &sender, &mut |_, _| {});
                drop(sender);
            });
            modify_with(
                &mut file,
                Some(&root),
                &ModifyPlan::new(actions),
                &BySeqReducer,
                sizes,
                &mut |_, _| Ok(()),
                Some(&prefetched),
            )
            .unwrap();
            prefetched.counts()
        });
        assert_eq!(hits, 0);
        assert!(misses > 0);
    }
}
