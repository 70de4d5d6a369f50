//! Offline compaction: logical content preserved, sizes as the original's, hooks and
//! flags, bounded memory through the spill path, errors that leave nothing behind.

mod common;

use std::cell::Cell;
use std::path::Path;

use common::*;
use couchstore::compact::{self, CompactFlags, CompactOptions, FilterAction};
use couchstore::db::OpenOptions;
use couchstore::{Db, Error};
use serde_json::Value;

fn open_ro(path: &Path) -> Db {
    Db::open(path, OpenOptions::read_only()).unwrap()
}

/// Everything a compaction must preserve: doc infos but `bp`, bodies, local docs,
/// counters, sequences.
fn logical(db: &Db) -> Value {
    let mut docs = docs_by_id(db);
    for d in &mut docs {
        d.as_object_mut().unwrap().remove("bp");
    }
    let h = header_record(db);
    serde_json::json!({
        "docs": docs,
        "changes": changes_since_0(db),
        "locals": local_docs(db),
        "update_seq": h["update_seq"],
        "purge_seq": h["purge_seq"],
        "doc_count": h["doc_count"],
        "deleted_count": h["deleted_count"],
        "timestamp": h["timestamp"],
    })
}

#[test]
fn every_golden_file_compacts_to_the_same_content() {
    let dir = tempfile::tempdir().unwrap();
    for name in golden_names() {
        let source = open_ro(&golden_dir().join(format!("{name}.couch")));
        let target = dir.path().join(format!("{name}.compact"));
        let stats = compact::compact(&source, &target, CompactOptions::default()).unwrap();
        let compacted = open_ro(&target);
        assert_eq!(logical(&compacted), logical(&source), "{name}");
        // Format 11 stays 11; others get the current format, as in the original.
        let want_version = if source.header().version == 11 {
            11
        } else {
            13
        };
        assert_eq!(compacted.header().version, want_version, "{name}: format");
        let (src_size, dst_size) = (
            source.info().unwrap().file_size,
            compacted.info().unwrap().file_size,
        );
        // Never larger, but for a source of a single header: the target starts with a
        // data block, so its header goes to the next block, as the original's does.
        assert!(
            dst_size <= src_size.max(4096 + 64),
            "{name}: {dst_size} > {src_size}"
        );
        assert_eq!(
            stats.docs_copied,
            source.changes_count(0, u64::MAX).unwrap()
        );
        // One header only.
        let mut c = compacted;
        assert_eq!(headers_newest_first(&mut c).len(), 1, "{name}");
    }
}

/// What the original's compactor produced for two golden files: same content, size
/// within 10%.
#[test]
fn matches_the_originals_compacted_files() {
    let dir = tempfile::tempdir().unwrap();
    for (src, upgrade, golden) in [
        ("basic_v13", false, "basic_compacted_v13"),
        ("legacy_crc_v11", true, "legacy_upgraded_v13"),
    ] {
        let source = open_ro(&golden_dir().join(format!("{src}.couch")));
        let target = dir.path().join(format!("{golden}.ours"));
        compact::compact(
            &source,
            &target,
            CompactOptions {
                flags: CompactFlags {
                    upgrade,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        let ours = open_ro(&target);
        let m = manifest(golden);
        let theirs: Vec<Value> = m["docs_by_id"].as_array().unwrap().clone();
        let mine = docs_by_id(&ours);
        assert_eq!(mine.len(), theirs.len());
        for (a, b) in mine.iter().zip(&theirs) {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.as_object_mut().unwrap().remove("bp");
            b.as_object_mut().unwrap().remove("bp");
            assert_eq!(a, b, "{golden}");
        }
        let cur = header_record(&ours);
        for f in [
            "version",
            "update_seq",
            "purge_seq",
            "timestamp",
            "doc_count",
            "deleted_count",
        ] {
            assert_eq!(cur[f], m["current"][f], "{golden}: {f}");
        }
        let ratio =
            cur["file_size"].as_f64().unwrap() / m["current"]["file_size"].as_f64().unwrap();
        eprintln!("{golden}: ours / original = {ratio:.3}");
        assert!((0.9..=1.1).contains(&ratio), "{golden}: size ratio {ratio}");
        assert_eq!(Value::Array(local_docs(&ours)), m["local_docs"]);
    }
}

#[test]
fn spills_the_id_sort_beyond_its_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let source = open_ro(&golden_dir().join("large_v13.couch"));
    let target = dir.path().join("large.compact");
    let options = CompactOptions {
        id_sort_memory: 256 * 1024,
        ..Default::default()
    };
    let stats = compact::compact(&source, &target, options).unwrap();
    assert!(
        stats.id_runs_spilled >= 4,
        "spilled {} runs",
        stats.id_runs_spilled
    );
    assert_eq!(logical(&open_ro(&target)), logical(&source));
    // The spill files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("large.compact")]);
}

#[test]
fn drop_deletes_without_and_with_a_filter() {
    let dir = tempfile::tempdir().unwrap();
    let source = open_ro(&golden_dir().join("basic_v13.couch"));
    let target = dir.path().join("nodeletes");
    let stats = compact::compact(
        &source,
        &target,
        CompactOptions {
            flags: CompactFlags {
                drop_deletes: true,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let db = open_ro(&target);
    let info = db.info().unwrap();
    assert_eq!((info.doc_count, info.deleted_count), (966, 0));
    assert_eq!(stats.deletes_dropped, 34);
    assert_eq!(info.purge_seq, 1);
    assert_eq!(info.last_sequence, 1333);
    // With a filter hook, the hook decides; the purge counter is still bumped.
    let target = dir.path().join("filtered");
    let keep_all: compact::FilterHook<'_> = Box::new(|_, _| Ok(FilterAction::Keep));
    compact::compact(
        &source,
        &target,
        CompactOptions {
            flags: CompactFlags {
                drop_deletes: true,
                ..Default::default()
            },
            filter: Some(keep_all),
            ..Default::default()
        },
    )
    .unwrap();
    let info = open_ro(&target).info().unwrap();
    assert_eq!(
        (info.doc_count, info.deleted_count, info.purge_seq),
        (966, 34, 1)
    );
}

#[test]
fn filter_hook_need_body_and_final_call() {
    let dir = tempfile::tempdir().unwrap();
    let source = open_ro(&golden_dir().join("small_v13.couch"));
    let target = dir.path().join("filtered");
    let calls = Cell::new(0);
    let with_body = Cell::new(0);
    let finals = Cell::new(0);
    let filter: compact::FilterHook<'_> = Box::new(|info, body| {
        let Some(info) = info else {
            finals.set(finals.get() + 1);
            return Ok(FilterAction::Keep);
        };
        calls.set(calls.get() + 1);
        match body {
            // Ask for the body of documents whose id ends in an odd digit.
            None if info.id.last().is_some_and(|c| c % 2 == 1) => Ok(FilterAction::NeedBody),
            None => Ok(FilterAction::Keep),
            Some(body) => {
                with_body.set(with_body.get() + 1);
                // Drop the ones whose stored body is longer than 100 bytes.
                Ok(if body.len() > 100 {
                    FilterAction::Drop
                } else {
                    FilterAction::Keep
                })
            }
        }
    });
    let stats = compact::compact(
        &source,
        &target,
        CompactOptions {
            filter: Some(filter),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(finals.get(), 1);
    let db = open_ro(&target);
    let src_docs = docs_by_id(&source);
    let odd_long = src_docs
        .iter()
        .filter(|d| {
            d["id"]
                .as_str()
                .unwrap()
                .ends_with(['1', '3', '5', '7', '9'])
                && d["raw_len"].as_u64().is_some_and(|n| n > 100)
        })
        .count() as u64;
    assert!(odd_long > 0);
    assert_eq!(stats.docs_dropped, odd_long);
    assert_eq!(calls.get() as u64, 40 + with_body.get() as u64);
    assert_eq!(
        db.info().unwrap().doc_count + db.info().unwrap().deleted_count,
        40 - odd_long
    );
}

#[test]
fn rewrite_hook_changes_doc_infos() {
    let dir = tempfile::tempdir().unwrap();
    let source = open_ro(&golden_dir().join("small_v13.couch"));
    let target = dir.path().join("rewritten");
    let filter: compact::FilterHook<'_> = Box::new(|_, _| Ok(FilterAction::Keep));
    let rewrite: compact::RewriteHook<'_> = Box::new(|info, _body| {
        info.rev_meta.extend_from_slice(b"+x");
        Ok(true)
    });
    compact::compact(
        &source,
        &target,
        CompactOptions {
            filter: Some(filter),
            rewrite: Some(rewrite),
            ..Default::default()
        },
    )
    .unwrap();
    let db = open_ro(&target);
    let info = db.docinfo_by_id(b"doc-000001").unwrap();
    assert!(info.rev_meta.ends_with(b"+x"));
    assert_eq!(db.docinfo_by_sequence(info.db_seq).unwrap(), info);
    // Deletions without a body are not given to the rewrite hook.
    let tomb = db.docinfo_by_id(b"doc-000010").unwrap();
    assert!(!tomb.rev_meta.ends_with(b"+x"));
    // A rewrite hook without a filter hook is refused, as in the original.
    let rewrite: compact::RewriteHook<'_> = Box::new(|_, _| Ok(false));
    let target = dir.path().join("refused");
    assert_eq!(
        compact::compact(
            &source,
            &target,
            CompactOptions {
                rewrite: Some(rewrite),
                ..Default::default()
            }
        )
        .err(),
        Some(Error::InvalidArguments)
    );
    assert!(!target.exists());
}

#[test]
fn errors_remove_the_target_and_leave_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = copy_golden("small_v13", dir.path());
    let before = std::fs::read(&src_path).unwrap();
    let source = open_ro(&src_path);
    // A hook error aborts with that error.
    let target = dir.path().join("aborted");
    let n = Cell::new(0);
    let filter: compact::FilterHook<'_> = Box::new(|_, _| {
        n.set(n.get() + 1);
        if n.get() == 5 {
            Err(Error::Cancel)
        } else {
            Ok(FilterAction::Keep)
        }
    });
    assert_eq!(
        compact::compact(
            &source,
            &target,
            CompactOptions {
                filter: Some(filter),
                ..Default::default()
            }
        )
        .err(),
        Some(Error::Cancel)
    );
    assert!(!target.exists());
    // A precommit error too.
    let precommit: compact::PrecommitHook<'_> = Box::new(|| Err(Error::Callback(-99)));
    assert_eq!(
        compact::compact(
            &source,
            &target,
            CompactOptions {
                precommit: Some(precommit),
                ..Default::default()
            }
        )
        .err(),
        Some(Error::Callback(-99))
    );
    assert!(!target.exists());
    // An existing target is not overwritten.
    std::fs::write(&target, b"keep me").unwrap();
    assert_eq!(
        compact::compact(&source, &target, CompactOptions::default()).err(),
        Some(Error::OpenFile)
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    // Nor is the source itself, given as its own target.
    let source_bytes = std::fs::read(source.filename()).unwrap();
    assert_eq!(
        compact::compact(
            &source,
            Path::new(source.filename()),
            CompactOptions::default()
        )
        .err(),
        Some(Error::OpenFile)
    );
    assert_eq!(std::fs::read(source.filename()).unwrap(), source_bytes);
    // An existing empty file is used (tools pass names from mkstemp), and emptied again,
    // not removed, when the compaction fails.
    let empty = dir.path().join("mkstemp.compact");
    std::fs::write(&empty, b"").unwrap();
    let precommit: compact::PrecommitHook<'_> = Box::new(|| Err(Error::Cancel));
    assert_eq!(
        compact::compact(
            &source,
            &empty,
            CompactOptions {
                precommit: Some(precommit),
                ..Default::default()
            }
        )
        .err(),
        Some(Error::Cancel)
    );
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    let stats = compact::compact(&source, &empty, CompactOptions::default()).unwrap();
    let compacted = Db::open(&empty, OpenOptions::read_only()).unwrap();
    assert_eq!(
        compacted.info().unwrap().last_sequence,
        source.info().unwrap().last_sequence
    );
    assert!(stats.docs_copied > 0);
    // A missing directory.
    let nowhere = dir.path().join("no/such/dir/x.couch");
    assert_eq!(
        compact::compact(&source, &nowhere, CompactOptions::default()).err(),
        Some(Error::NoSuchFile)
    );
    assert_eq!(std::fs::read(&src_path).unwrap(), before);
}

#[test]
fn recovery_mode_copies_what_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_golden("large_v13", dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage one by-seq leaf in the middle of the tree: descend from the root through
    // the middle child of each interior node.
    let db = open_ro(&path);
    let file = couchstore::file::CouchFile::new(Box::new(
        couchstore::file::MemoryBackend::from_bytes(bytes.clone()),
    ))
    .unwrap();
    let mut pos = db.header().by_seq_root.clone().unwrap().pos;
    loop {
        let node = couchstore::btree::read_node(&file, pos, u64::MAX, u64::MAX).unwrap();
        if node.kind() == couchstore::format::NodeKind::Leaf {
            break;
        }
        let items: Vec<_> = node.items().map(|i| i.unwrap().1.to_vec()).collect();
        pos = couchstore::format::NodePointer::decode_interior(&items[items.len() / 2])
            .unwrap()
            .pos;
    }
    drop(db);
    bytes[pos as usize + 20] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let source = open_ro(&path);
    let target = dir.path().join("recovered");
    assert!(compact::compact(&source, &target, CompactOptions::default()).is_err());
    assert!(!target.exists());
    let stats = compact::compact(
        &source,
        &target,
        CompactOptions {
            flags: CompactFlags {
                recovery: true,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    assert!(stats.tolerated_error.is_some());
    let db = open_ro(&target);
    let copied = db.changes_count(0, u64::MAX).unwrap();
    assert_eq!(copied, stats.docs_copied);
    assert!(copied > 20_000 && copied < 30_000, "copied {copied}");
}

/// Replays sharing one set of buffers (as the online driver's holds do): a batch of long
/// ids and revision metadata, then batches of short ones with deletions, each filling
/// doc infos that held longer values. The target ends up as a fresh compaction of the
/// source's newest header would, document for document.
#[test]
fn replays_into_reused_buffers_match_a_fresh_compaction() {
    use couchstore::compact::replay::{ReplayBuffers, ReplayOptions, replay};
    use couchstore::db::NewDoc;
    use std::cell::RefCell;

    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("src.couch");
    let mut db = Db::open(
        &src_path,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let body = vec![b'x'; 300];
    let commit = |db: &mut Db, ids: &[Vec<u8>], meta: &[u8], delete_every: usize| {
        let mut docs: Vec<NewDoc<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let deleted = delete_every > 0 && i % delete_every == 0;
                NewDoc {
                    id,
                    body: (!deleted).then_some(&body[..]),
                    deleted,
                    rev_seq: 2,
                    rev_meta: meta,
                    ..Default::default()
                }
            })
            .collect();
        db.save_documents(&mut docs, Default::default()).unwrap();
        db.commit().unwrap();
        db.header_position()
    };
    let long: Vec<Vec<u8>> = (0..400)
        .map(|i| format!("a-long-document-id-of-some-length-{i:05}").into_bytes())
        .collect();
    let short: Vec<Vec<u8>> = (0..150).map(|i| format!("s{i}").into_bytes()).collect();
    commit(&mut db, &long[..200], b"m", 0);
    let start = db.header_position();
    let target_path = dir.path().join("t.couch");
    compact::compact(&db, &target_path, CompactOptions::default()).unwrap();
    let ends = [
        commit(&mut db, &long, &[7u8; 40], 0),
        commit(&mut db, &short, b"", 4),
        commit(&mut db, &short[..20], b"r", 3),
        commit(&mut db, &long[..50], b"", 2),
    ];

    let fresh_path = dir.path().join("fresh.couch");
    let newest = open_ro(&src_path);
    compact::compact(&newest, &fresh_path, CompactOptions::default()).unwrap();
    let want = logical(&open_ro(&fresh_path));
    // Small batches (a few documents each, so a batch leaves older entries in the
    // buffers), then whole commits with the prefetcher reading the target's nodes while
    // the bodies are copied.
    for (threshold, prefetch) in [(700, false), (0, true)] {
        let copy = dir.path().join(format!("t-{threshold}.couch"));
        std::fs::copy(&target_path, &copy).unwrap();
        let mut src = open_ro(&src_path);
        src.seek_header(start).unwrap();
        let mut t = Db::open(&copy, OpenOptions::default()).unwrap();
        t.set_prefetch(prefetch).unwrap();
        let target = RefCell::new(t);
        let mut buffers = ReplayBuffers::default();
        for (i, &end) in ends.iter().enumerate() {
            let stats = replay(
                &mut src,
                &target,
                end,
                ReplayOptions {
                    flush_threshold: threshold,
                    buffers: Some(&mut buffers),
                    skip_commit: i + 1 < ends.len(),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(stats.docs > 0, "{stats:?}");
        }
        let target = target.into_inner();
        assert_eq!(logical(&target), want, "threshold {threshold}");
    }
}
