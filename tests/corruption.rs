//! Damaged copies of golden files: every read returns an error code, never panics,
//! loops or allocates without bound.

mod common;

use common::*;
use couchstore::btree::Step;
use couchstore::db::OpenOptions;
use couchstore::file::{CouchFile, MemoryBackend};
use couchstore::format::{ChecksumKind, Header, NodeKind, NodePointer, NodeWriter};
use couchstore::{Db, Error, Result};
use proptest::prelude::*;

fn golden_bytes(name: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join(format!("{name}.couch"))).unwrap()
}

fn open_bytes(bytes: Vec<u8>) -> Result<Db> {
    Db::open_backend(
        Box::new(MemoryBackend::from_bytes(bytes)),
        "mem".into(),
        OpenOptions::read_only(),
    )
}

/// Reads everything the API offers; returns the first error.
fn read_everything(db: &mut Db) -> Result<()> {
    let mut infos = Vec::new();
    db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |i| {
        infos.push(i.clone());
        Ok(Step::Continue)
    })?;
    for info in &infos {
        match db.open_doc_with_docinfo(info, true) {
            Ok(_) => {}
            Err(e) if e == Error::DocNotFound => {}
            Err(e) => return Err(e),
        }
    }
    db.changes_since(0, couchstore::db::ScanOptions::default(), &mut |_| {
        Ok(Step::Continue)
    })?;
    db.walk_id_tree(None, couchstore::db::ScanOptions::default(), &mut |_| {
        Ok(Step::Continue)
    })?;
    db.walk_seq_tree(0, couchstore::db::ScanOptions::default(), &mut |_| {
        Ok(Step::Continue)
    })?;
    db.walk_local_tree(None, &mut |_| Ok(Step::Continue))?;
    db.changes_count(0, u64::MAX)?;
    db.info()?;
    Ok(())
}

/// Appends to `bytes` a data chunk with `body` and a header whose by-id root points to
/// it with the given reduce value, using the library's own writer.
fn with_forged_root(bytes: Vec<u8>, node: &[u8], compress: bool, reduce: Vec<u8>) -> Vec<u8> {
    let mem = MemoryBackend::from_bytes(bytes);
    let reader = CouchFile::new(Box::new(mem.clone())).unwrap();
    let mut header = reader.find_header_at_or_before(u64::MAX).unwrap().header;
    let mut f = CouchFile::new(Box::new(mem.clone())).unwrap();
    f.set_checksum(ChecksumKind::for_version(header.version));
    let mut stored = Vec::new();
    if compress {
        couchstore::format::compression::compress_into(node, &mut stored);
    } else {
        stored = node.to_vec();
    }
    let loc = f.append_chunk(&stored).unwrap();
    header.by_id_root = Some(NodePointer {
        pos: loc.pos,
        subtree_size: loc.physical_size,
        reduce,
    });
    let body = header.encode().unwrap();
    f.append_header(&body, ChecksumKind::for_version(header.version))
        .unwrap();
    f.sync().unwrap();
    mem.snapshot()
}

fn by_id_root(bytes: &[u8]) -> NodePointer {
    let db = open_bytes(bytes.to_vec()).unwrap();
    db.header().by_id_root.clone().unwrap()
}

fn good_reduce() -> Vec<u8> {
    vec![0; 16]
}

#[test]
fn flipped_byte_in_a_node_is_checksum_fail() {
    let mut bytes = golden_bytes("basic_v13");
    let root = by_id_root(&bytes);
    // A byte in the middle of the root node's stored body.
    let p = root.pos as usize;
    let stored = u32::from_be_bytes(bytes[p..p + 4].try_into().unwrap()) & 0x7fff_ffff;
    let at = p + 8 + stored as usize / 2;
    assert_ne!(at % 4096, 0);
    bytes[at] ^= 0x5a;
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::ChecksumFail));
    assert_eq!(db.docinfo_by_id(b"doc-000005"), Err(Error::ChecksumFail));
}

#[test]
fn chunk_length_past_the_end_is_corrupt() {
    let mut bytes = golden_bytes("small_v13");
    let root = by_id_root(&bytes);
    let at = root.pos as usize;
    bytes[at..at + 4].copy_from_slice(&0xfff0_0000u32.to_be_bytes());
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
}

#[test]
fn chunk_without_data_bit_is_corrupt() {
    let mut bytes = golden_bytes("small_v13");
    let root = by_id_root(&bytes);
    bytes[root.pos as usize] &= 0x7f;
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
}

#[test]
fn node_that_is_not_snappy_is_corrupt() {
    let bytes = with_forged_root(golden_bytes("small_v13"), &[0xff; 40], false, good_reduce());
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
}

#[test]
fn node_that_decompresses_to_garbage_is_corrupt() {
    // Valid Snappy and checksum, but an unknown node kind.
    let bytes = with_forged_root(
        golden_bytes("small_v13"),
        &[7, 1, 2, 3, 4, 5],
        true,
        good_reduce(),
    );
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
    // A leaf whose item claims more bytes than the node has.
    let bytes = with_forged_root(
        golden_bytes("small_v13"),
        &[1, 0x00, 0x30, 0x00, 0x00, 0xff, b'a', b'b'],
        true,
        good_reduce(),
    );
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
}

#[test]
fn leaf_value_too_short_is_corrupt() {
    let mut w = NodeWriter::new(NodeKind::Leaf, Vec::new());
    w.push(b"doc", &[0u8; 10]).unwrap();
    let bytes = with_forged_root(golden_bytes("small_v13"), &w.finish(), true, good_reduce());
    let mut db = open_bytes(bytes).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
    assert_eq!(db.docinfo_by_id(b"doc"), Err(Error::Corrupt));
}

#[test]
fn reduce_value_of_the_wrong_size_is_corrupt() {
    let bytes = golden_bytes("small_v13");
    let root = by_id_root(&bytes);
    let db = open_bytes(bytes.clone()).unwrap();
    // Re-point the root at the real root node, with a 3-byte reduce value.
    let node_bytes = {
        let mut chunk = Vec::new();
        CouchFile::new(Box::new(MemoryBackend::from_bytes(bytes.clone())))
            .unwrap()
            .read_chunk(root.pos, &mut chunk)
            .unwrap();
        let mut plain = Vec::new();
        couchstore::format::compression::decompress_into(&chunk, &mut plain).unwrap();
        plain
    };
    drop(db);
    let forged = with_forged_root(bytes, &node_bytes, true, vec![1, 2, 3]);
    let db = open_bytes(forged).unwrap();
    assert_eq!(db.info().map(|_| ()), Err(Error::Corrupt));
}

#[test]
fn interior_pointers_past_their_node_are_corrupt() {
    // An interior node whose child would lie after it (here past the end of the file).
    // Real cycles, a node pointing at itself, are built in tests/hostile.rs.
    let bytes = golden_bytes("small_v13");
    let end = bytes.len() as u64;
    let mut w = NodeWriter::new(NodeKind::Interior, Vec::new());
    let mut ptr = Vec::new();
    NodePointer {
        pos: end + 1,
        subtree_size: 10,
        reduce: good_reduce(),
    }
    .encode_interior(&mut ptr)
    .unwrap();
    w.push(b"zzz", &ptr).unwrap();
    let forged = with_forged_root(bytes, &w.finish(), true, good_reduce());
    let mut db = open_bytes(forged).unwrap();
    assert_eq!(read_everything(&mut db), Err(Error::Corrupt));
}

#[test]
fn truncated_files_fall_back_to_an_older_header() {
    let bytes = golden_bytes("basic_v13");
    let m = manifest("basic_v13");
    let headers: Vec<u64> = m["headers_newest_first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["header_position"].as_u64().unwrap())
        .collect();
    for cut in [bytes.len() - 1, bytes.len() / 2, bytes.len() / 7, 4097, 100] {
        let mut db = open_bytes(bytes[..cut].to_vec()).unwrap();
        let pos = db.header_position();
        assert!(
            headers.contains(&pos) && pos < cut as u64,
            "cut {cut}: header at {pos}"
        );
        // The newest header that fits entirely before the cut is the one found: marker,
        // 4-byte length (which counts the CRC), then CRC and body.
        let header_end = |h: u64| {
            let p = h as usize + 1;
            h + 5 + u64::from(u32::from_be_bytes(bytes[p..p + 4].try_into().unwrap()))
        };
        let newest_fitting = headers
            .iter()
            .copied()
            .filter(|&h| header_end(h) <= cut as u64)
            .max()
            .unwrap();
        assert_eq!(pos, newest_fitting, "cut {cut}");
        read_everything(&mut db).unwrap();
    }
    assert_eq!(
        open_bytes(bytes[..30].to_vec()).err(),
        Some(Error::NoHeader)
    );
    assert_eq!(open_bytes(Vec::new()).err(), Some(Error::NoHeader));
}

#[test]
fn unsupported_versions_are_header_version() {
    for version in [10u8, 14, 200] {
        let mut bytes = golden_bytes("fresh_v13");
        // Rewrite the version byte and fix the header's CRC32C.
        bytes[9] = version;
        let crc = crc32c::crc32c(&bytes[9..]);
        bytes[5..9].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            open_bytes(bytes).err(),
            Some(Error::HeaderVersion),
            "version {version}"
        );
    }
    // A version byte changed without fixing the CRC: the only header is damaged, and
    // the search reports why, as the original does.
    let mut bytes = golden_bytes("fresh_v13");
    bytes[9] = 14;
    assert_eq!(open_bytes(bytes).err(), Some(Error::ChecksumFail));
}

#[test]
fn tolerate_corruption_skips_bad_subtrees() {
    let mut bytes = golden_bytes("large_v13");
    let m = manifest("large_v13");
    let total = m["docs_by_id"].as_array().unwrap().len();
    // Damage the first child of the by-id root (large_v13 has interior nodes).
    let db = open_bytes(bytes.clone()).unwrap();
    let file = CouchFile::new(Box::new(MemoryBackend::from_bytes(bytes.clone()))).unwrap();
    let root = db.header().by_id_root.clone().unwrap();
    let mut chunk = Vec::new();
    file.read_chunk(root.pos, &mut chunk).unwrap();
    let mut plain = Vec::new();
    couchstore::format::compression::decompress_into(&chunk, &mut plain).unwrap();
    let reader = couchstore::format::NodeReader::new(&plain).unwrap();
    assert_eq!(reader.kind(), NodeKind::Interior);
    let (_, first_child) = reader.clone().next().unwrap().unwrap();
    let child = NodePointer::decode_interior(first_child).unwrap();
    let at = (child.pos + 20) as usize;
    bytes[at] ^= 0xff;
    let db = open_bytes(bytes).unwrap();
    let mut seen = 0usize;
    assert_eq!(
        db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |_| Ok(
            Step::Continue
        )),
        Err(Error::ChecksumFail)
    );
    db.all_docs(
        None,
        couchstore::db::ScanOptions {
            tolerate_corruption: true,
            ..Default::default()
        },
        &mut |_| {
            seen += 1;
            Ok(Step::Continue)
        },
    )
    .unwrap();
    assert!(
        seen > 0 && seen < total,
        "tolerant scan saw {seen} of {total}"
    );
    // A tolerant walk skips exactly what a tolerant iteration skips.
    let mut walked = 0usize;
    assert_eq!(
        db.walk_id_tree(None, couchstore::db::ScanOptions::default(), &mut |_| Ok(
            Step::Continue
        )),
        Err(Error::ChecksumFail)
    );
    db.walk_id_tree(
        None,
        couchstore::db::ScanOptions {
            tolerate_corruption: true,
            ..Default::default()
        },
        &mut |item| {
            if matches!(item, couchstore::db::TreeWalkItem::Doc { .. }) {
                walked += 1;
            }
            Ok(Step::Continue)
        },
    )
    .unwrap();
    assert_eq!(walked, seen);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Random byte changes anywhere in a file never panic any read.
    #[test]
    fn random_damage_never_panics(edits in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..12)) {
        let mut bytes = golden_bytes("small_v13");
        for (at, value) in edits {
            let i = at as usize % bytes.len();
            bytes[i] = value;
        }
        if let Ok(mut db) = open_bytes(bytes) {
            let _ = read_everything(&mut db);
            while db.rewind().is_ok() {
                let _ = read_everything(&mut db);
            }
        }
    }

    /// Random truncation plus damage near the end never panics.
    #[test]
    fn truncation_and_damage_never_panic(cut in 0usize..36_963, flip in any::<u16>()) {
        let mut bytes = golden_bytes("small_v13");
        bytes.truncate(cut);
        if !bytes.is_empty() {
            let i = bytes.len() - 1 - (flip as usize % bytes.len());
            bytes[i] ^= 0xa5;
        }
        if let Ok(mut db) = open_bytes(bytes) {
            let _ = read_everything(&mut db);
        }
    }
}

#[test]
fn header_fields_survive_forging() {
    // Sanity check of the helper itself: a forged header keeps the other fields.
    let bytes = golden_bytes("small_v13");
    let h0 = open_bytes(bytes.clone()).unwrap().header().clone();
    let forged = with_forged_root(bytes, &[1], true, good_reduce());
    let h1: Header = open_bytes(forged).unwrap().header().clone();
    assert_eq!(
        (h0.update_seq, h0.local_root.clone()),
        (h1.update_seq, h1.local_root)
    );
}
