//! Hostile files: trees crafted to be as deep, cyclic or misdirected as the format
//! allows. Every read, iteration, walk, count and write on them, run on a thread with a
//! 256 KiB stack (engines run flushers on small stacks), returns a clean error or reads
//! an older header, and does so in bounded time.

use std::sync::mpsc;
use std::time::Duration;

use couchstore::btree::Step;
use couchstore::db::{LocalDoc, NewDoc, OpenOptions};
use couchstore::file::{CouchFile, MemoryBackend};
use couchstore::format::compression::compress_into;
use couchstore::format::{ChecksumKind, Header, NodeKind, NodePointer, NodeWriter};
use couchstore::{Db, Error, Result};

const SMALL_STACK: usize = 256 << 10;
/// Far more than any of these operations takes; a run past it is a hang.
const HANG: Duration = Duration::from_secs(120);

/// A real database: a few documents and local documents, committed.
fn base() -> (MemoryBackend, Header) {
    let mem = MemoryBackend::new();
    let mut db =
        Db::open_backend(Box::new(mem.clone()), "mem".into(), OpenOptions::create()).unwrap();
    for i in 0..20u32 {
        let id = format!("doc-{i:03}").into_bytes();
        let body = vec![b'x'; 100];
        db.save_document(
            NewDoc {
                id: &id,
                body: Some(&body),
                ..Default::default()
            },
            couchstore::db::SaveOptions::default(),
        )
        .unwrap();
    }
    for id in ["_local/a", "_local/z"] {
        db.save_local_document(&LocalDoc {
            id: id.as_bytes().to_vec(),
            json: b"{}".to_vec(),
            deleted: false,
        })
        .unwrap();
    }
    db.commit().unwrap();
    let header = db.header().clone();
    (mem, header)
}

/// Appends nodes and headers to a file with the library's own writer.
struct Forger {
    mem: MemoryBackend,
    file: CouchFile,
    header: Header,
}

impl Forger {
    fn new() -> Self {
        let (mem, header) = base();
        let mut file = CouchFile::new(Box::new(mem.clone())).unwrap();
        file.set_checksum(ChecksumKind::for_version(header.version));
        Forger { mem, file, header }
    }

    fn node(&mut self, kind: NodeKind, items: &[(&[u8], Vec<u8>)]) -> u64 {
        let mut w = NodeWriter::new(kind, Vec::new());
        for (k, v) in items {
            w.push(k, v).unwrap();
        }
        let mut stored = Vec::new();
        compress_into(&w.finish(), &mut stored);
        self.file.append_chunk(&stored).unwrap().pos
    }

    /// An interior node at a position decided before it is written (so it can point at
    /// itself): filler chunks are appended until the prediction holds.
    fn node_at_next_pos(&mut self, items: impl Fn(u64) -> Vec<(Vec<u8>, Vec<u8>)>) -> u64 {
        loop {
            let end = self.file.end();
            // A chunk starting on a block boundary is moved past the block's marker byte.
            let pos = if end.is_multiple_of(4096) {
                end + 1
            } else {
                end
            };
            let items = items(pos);
            let refs: Vec<(&[u8], Vec<u8>)> =
                items.iter().map(|(k, v)| (&k[..], v.clone())).collect();
            let written = self.node(NodeKind::Interior, &refs);
            if written == pos {
                return pos;
            }
        }
    }

    /// A chain of `depth` one-child interior nodes over the tree's real root, each
    /// pointing at the one before: valid in every respect but its depth.
    fn chain(&mut self, root: &NodePointer, key: &[u8], depth: usize) -> NodePointer {
        let mut below = root.clone();
        for _ in 0..depth {
            let value = pointer(&below);
            let pos = self.node(NodeKind::Interior, &[(key, value)]);
            below = NodePointer { pos, ..below };
        }
        below
    }

    fn commit(&mut self, header: &Header) -> Vec<u8> {
        let body = header.encode().unwrap();
        self.file
            .append_header(&body, ChecksumKind::for_version(header.version))
            .unwrap();
        self.file.sync().unwrap();
        self.mem.snapshot()
    }
}

fn pointer(p: &NodePointer) -> Vec<u8> {
    couchstore::btree::node_sink::pointer_value(p).unwrap()
}

fn roots(h: &Header) -> (NodePointer, NodePointer, NodePointer) {
    (
        h.by_id_root.clone().unwrap(),
        h.by_seq_root.clone().unwrap(),
        h.local_root.clone().unwrap(),
    )
}

/// Runs `f` on a thread with a small stack and waits for it, at most [`HANG`].
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    rx.recv_timeout(HANG)
        .expect("finished in bounded time, without a crash")
}

fn open(bytes: Vec<u8>, options: OpenOptions) -> Result<Db> {
    Db::open_backend(
        Box::new(MemoryBackend::from_bytes(bytes)),
        "mem".into(),
        options,
    )
}

/// Every operation on the database, each result in order.
fn everything(bytes: Vec<u8>) -> Vec<(&'static str, Result<()>)> {
    let mut out = Vec::new();
    let db = open(bytes.clone(), OpenOptions::read_only()).unwrap();
    let each = |_: &_| Ok(Step::Continue);
    out.push(("docinfo_by_id", db.docinfo_by_id(b"doc-005").map(drop)));
    out.push(("docinfo_by_sequence", db.docinfo_by_sequence(3).map(drop)));
    out.push(("open_local", db.open_local_document(b"_local/a").map(drop)));
    out.push((
        "all_docs",
        db.all_docs(
            None,
            couchstore::db::ScanOptions::default(),
            &mut each.clone(),
        ),
    ));
    out.push((
        "changes_since",
        db.changes_since(0, couchstore::db::ScanOptions::default(), &mut each.clone()),
    ));
    let walk = |_: couchstore::db::TreeWalkItem<'_>| Ok(Step::Continue);
    out.push((
        "walk_id",
        db.walk_id_tree(
            None,
            couchstore::db::ScanOptions::default(),
            &mut walk.clone(),
        ),
    ));
    out.push((
        "walk_seq",
        db.walk_seq_tree(0, couchstore::db::ScanOptions::default(), &mut walk.clone()),
    ));
    out.push(("walk_local", db.walk_local_tree(None, &mut walk.clone())));
    out.push(("changes_count", db.changes_count(0, u64::MAX).map(drop)));
    let mut db = open(bytes.clone(), OpenOptions::default()).unwrap();
    let body = b"new".to_vec();
    let saved = db
        .save_document(
            NewDoc {
                id: b"doc-007",
                body: Some(&body),
                ..Default::default()
            },
            couchstore::db::SaveOptions::default(),
        )
        .map(drop)
        .and_then(|()| db.commit());
    out.push(("save+commit", saved));
    let mut db = open(bytes, OpenOptions::default()).unwrap();
    let deleted = db.save_local_document(&LocalDoc {
        id: b"_local/a".to_vec(),
        json: Vec::new(),
        deleted: true,
    });
    out.push(("local delete", deleted));
    out
}

/// What a tolerant scan says: it must finish, skipping what it cannot read.
fn tolerant_scans(bytes: Vec<u8>) -> Vec<(&'static str, Result<()>)> {
    let db = open(bytes, OpenOptions::read_only()).unwrap();
    let each = |_: &_| Ok(Step::Continue);
    let walk = |_: couchstore::db::TreeWalkItem<'_>| Ok(Step::Continue);
    let t = couchstore::db::ScanOptions {
        tolerate_corruption: true,
        ..Default::default()
    };
    vec![
        ("all_docs tolerant", db.all_docs(None, t, &mut each.clone())),
        (
            "changes tolerant",
            db.changes_since(0, t, &mut each.clone()),
        ),
        ("walk tolerant", db.walk_id_tree(None, t, &mut walk.clone())),
    ]
}

fn assert_all_corrupt(what: &str, results: Vec<(&'static str, Result<()>)>) {
    for (op, r) in results {
        assert_eq!(r, Err(Error::Corrupt), "{what}: {op}");
    }
}

fn assert_all_ok(what: &str, results: Vec<(&'static str, Result<()>)>) {
    for (op, r) in results {
        assert_eq!(r, Ok(()), "{what}: {op}");
    }
}

fn deep_chains(depth: usize) -> Vec<u8> {
    let mut f = Forger::new();
    let (id, seq, local) = roots(&f.header);
    let mut h = f.header.clone();
    h.by_id_root = Some(f.chain(&id, b"doc-019", depth));
    h.by_seq_root = Some(f.chain(&seq, &[0, 0, 0, 0, 0, 20], depth));
    h.local_root = Some(f.chain(&local, b"_local/z", depth));
    f.commit(&h)
}

#[test]
fn deep_chains_are_corrupt_however_deep() {
    for depth in [1_000, 10_000, 100_000] {
        let bytes = deep_chains(depth);
        let what = format!("chain of {depth}");
        let (results, tolerant) = on_small_stack(move || {
            let tolerant = tolerant_scans(bytes.clone());
            (everything(bytes), tolerant)
        });
        assert_all_corrupt(&what, results);
        assert_all_ok(&what, tolerant);
    }
}

#[test]
fn a_chain_as_deep_as_the_file_allows_is_a_tree() {
    // The depth bound is about the file's size: a short chain over a real root is
    // legal and every operation works through it.
    let bytes = deep_chains(3);
    let results = on_small_stack(move || everything(bytes));
    assert_all_ok("chain of 3", results);
}

/// A root with two children: a leaf holding the first half of the tree's real root's
/// entries, and a one-child interior node that points at itself.
fn self_pointing() -> Vec<u8> {
    let mut f = Forger::new();
    let (id, seq, local) = roots(&f.header);
    let mut h = f.header.clone();
    let cycle = |f: &mut Forger, real: &NodePointer, last_key: Vec<u8>| -> NodePointer {
        let reduce = real.reduce.clone();
        let size = real.subtree_size;
        let looped = f.node_at_next_pos(|pos| {
            let me = NodePointer {
                pos,
                subtree_size: size,
                reduce: reduce.clone(),
            };
            vec![(last_key.clone(), pointer(&me))]
        });
        let looped = NodePointer {
            pos: looped,
            ..real.clone()
        };
        let items = [
            (&b"\x00"[..], pointer(real)),
            (&last_key[..], pointer(&looped)),
        ];
        let pos = f.node(NodeKind::Interior, &items);
        NodePointer {
            pos,
            ..real.clone()
        }
    };
    h.by_id_root = Some(cycle(&mut f, &id, b"zzz".to_vec()));
    h.by_seq_root = Some(cycle(&mut f, &seq, vec![0xff; 6]));
    h.local_root = Some(cycle(&mut f, &local, b"_local/zzz".to_vec()));
    f.commit(&h)
}

#[test]
fn self_pointing_nodes_are_corrupt_and_never_loop() {
    let bytes = self_pointing();
    // Every key sorts after the first child's key, so every descent meets the loop.
    let results = on_small_stack(move || everything(bytes));
    assert_all_corrupt("self-pointing", results);
}

#[test]
fn the_root_shrink_never_follows_a_loop() {
    // Deleting the only local document under the first child leaves the root with the
    // looping child alone: the root shrink reads it by the descent's rules.
    let mut f = Forger::new();
    let local = f.header.local_root.clone().unwrap();
    let mut h = f.header.clone();
    let leaf = {
        let value = b"{}".to_vec();
        f.node(NodeKind::Leaf, &[(b"_local/a", value)])
    };
    let leaf = NodePointer {
        pos: leaf,
        ..local.clone()
    };
    let (size, reduce) = (local.subtree_size, local.reduce.clone());
    let looped = f.node_at_next_pos(|pos| {
        let me = NodePointer {
            pos,
            subtree_size: size,
            reduce: reduce.clone(),
        };
        vec![(b"_local/z".to_vec(), pointer(&me))]
    });
    let looped = NodePointer {
        pos: looped,
        ..local.clone()
    };
    let root = f.node(
        NodeKind::Interior,
        &[
            (b"_local/a", pointer(&leaf)),
            (b"_local/z", pointer(&looped)),
        ],
    );
    h.local_root = Some(NodePointer { pos: root, ..local });
    let bytes = f.commit(&h);
    let result = on_small_stack(move || {
        let mut db = open(bytes, OpenOptions::default()).unwrap();
        db.save_local_document(&LocalDoc {
            id: b"_local/a".to_vec(),
            json: Vec::new(),
            deleted: true,
        })
    });
    assert_eq!(result, Err(Error::Corrupt));
}

#[test]
fn forward_pointing_nodes_are_corrupt() {
    // An interior node pointing at a node written after it: a child must come first.
    let mut f = Forger::new();
    let (id, seq, local) = roots(&f.header);
    let mut h = f.header.clone();
    for (real, slot) in [(id, 0), (seq, 1), (local, 2)] {
        // Predict where the copy of the real root will land, after the parent.
        let parent_pos = f.node_at_next_pos(|pos| {
            let ahead = NodePointer {
                pos: pos + 4096,
                ..real.clone()
            };
            vec![(vec![0xff; 10], pointer(&ahead))]
        });
        let parent = NodePointer {
            pos: parent_pos,
            ..real.clone()
        };
        match slot {
            0 => h.by_id_root = Some(parent),
            1 => h.by_seq_root = Some(parent),
            _ => h.local_root = Some(parent),
        }
    }
    // Something valid to point at, ahead of the parents.
    for _ in 0..3 {
        f.node(NodeKind::Leaf, &[(b"k", vec![0; 4096])]);
    }
    let bytes = f.commit(&h);
    let results = on_small_stack(move || everything(bytes));
    assert_all_corrupt("forward pointer", results);
}

#[test]
fn a_header_whose_roots_do_not_lie_before_it_is_passed_over() {
    for (what, offset) in [
        ("at itself", 0u64),
        ("past itself", 100),
        ("past the end", 1 << 40),
    ] {
        let mut f = Forger::new();
        let good = f.header.clone();
        let mut h = good.clone();
        let header_pos = f.file.end().div_ceil(4096) * 4096;
        let mut root = h.by_id_root.clone().unwrap();
        root.pos = header_pos + offset;
        h.by_id_root = Some(root);
        h.update_seq += 1000;
        let bytes = f.commit(&h);
        let results = on_small_stack(move || {
            let db = open(bytes.clone(), OpenOptions::read_only()).unwrap();
            (db.header().clone(), everything(bytes))
        });
        assert_eq!(
            results.0, good,
            "{what}: the previous header is the one opened"
        );
        assert_all_ok(what, results.1);
    }
}

#[test]
fn a_header_of_an_unknown_version_is_passed_over() {
    let mut f = Forger::new();
    let good = f.header.clone();
    let mut body = good.encode().unwrap();
    body[0] = 14;
    f.file.append_header(&body, ChecksumKind::Crc32c).unwrap();
    f.file.sync().unwrap();
    let bytes = f.mem.snapshot();
    let db = open(bytes, OpenOptions::read_only()).unwrap();
    assert_eq!(db.header(), &good);
}

/// The hostile files above as seeds for the fuzzers (`fuzz/run` passes the directory
/// in COUCHSTORE_FUZZ_SEEDS; without it they go to a scratch directory). Each is checked
/// to be hostile: reading it fails or falls back, as the tests above show in detail.
#[test]
fn write_fuzz_seeds() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("COUCHSTORE_FUZZ_SEEDS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = [
        ("deep_chain_1000.couch", deep_chains(1000)),
        ("self_pointing.couch", self_pointing()),
    ];
    for (name, bytes) in seeds {
        let db = open(bytes.clone(), OpenOptions::read_only()).unwrap();
        assert_eq!(
            db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |_| Ok(
                Step::Continue
            )),
            Err(Error::Corrupt),
            "{name}"
        );
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
