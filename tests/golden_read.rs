//! Reads every golden file (written by the original couchstore) and checks what our
//! library reads back against the file's manifest, field by field.

mod common;

use common::*;
use couchstore::Db;
use couchstore::db::OpenOptions;
use serde_json::Value;

fn check_golden(name: &str) {
    let m = manifest(name);
    let path = golden_dir().join(format!("{name}.couch"));
    let mut db = Db::open(&path, OpenOptions::read_only()).unwrap();
    assert_eq!(header_record(&db), m["current"], "{name}: current header");
    let want = |k: &str| m[k].as_array().unwrap().clone();
    assert_records(
        &format!("{name}: docs_by_id"),
        &docs_by_id(&db),
        &want("docs_by_id"),
    );
    assert_eq!(
        Value::Array(changes_since_0(&db)),
        m["changes_since_0"],
        "{name}: changes_since_0"
    );
    assert_records(
        &format!("{name}: local_docs"),
        &local_docs(&db),
        &want("local_docs"),
    );
    assert_records(
        &format!("{name}: headers_newest_first"),
        &headers_newest_first(&mut db),
        &want("headers_newest_first"),
    );
}

/// Every golden file has a test below; this catches a file added without one.
#[test]
fn every_golden_file_has_a_test() {
    assert_eq!(golden_names(), GOLDEN);
}

const GOLDEN: [&str; 11] = [
    "basic_compacted_v13",
    "basic_v12",
    "basic_v13",
    "fresh_v11",
    "fresh_v13",
    "large_v13",
    "legacy_crc_v11",
    "legacy_upgraded_v13",
    "localonly_v13",
    "nodesize4k_v13",
    "small_v13",
];

macro_rules! golden_tests {
    ($($name:ident),*) => { $( #[test] fn $name() { check_golden(stringify!($name)); } )* };
}

golden_tests!(
    basic_compacted_v13,
    basic_v12,
    basic_v13,
    fresh_v11,
    fresh_v13,
    large_v13,
    legacy_crc_v11,
    legacy_upgraded_v13,
    localonly_v13,
    nodesize4k_v13,
    small_v13
);

/// Every by-id entry has a by-seq entry with identical doc info, lookups by id and by
/// sequence agree with iteration, and counts from reduce values agree with scans.
#[test]
fn indexes_agree_on_every_golden_file() {
    use couchstore::btree::Step;
    for name in GOLDEN {
        let db = Db::open(
            golden_dir().join(format!("{name}.couch")),
            OpenOptions::read_only(),
        )
        .unwrap();
        let mut by_id = Vec::new();
        db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |i| {
            by_id.push(i.clone());
            Ok(Step::Continue)
        })
        .unwrap();
        let mut seqs = Vec::new();
        for info in &by_id {
            assert_eq!(
                &db.docinfo_by_sequence(info.db_seq).unwrap(),
                info,
                "{name}"
            );
            assert_eq!(&db.docinfo_by_id(&info.id).unwrap(), info, "{name}");
            seqs.push(info.db_seq);
        }
        seqs.sort();
        let info = db.info().unwrap();
        assert_eq!(
            info.doc_count + info.deleted_count,
            by_id.len() as u64,
            "{name}"
        );
        assert_eq!(
            db.changes_count(0, u64::MAX).unwrap(),
            seqs.len() as u64,
            "{name}"
        );
        // Counts over sub-ranges equal the number of sequences in them.
        for (lo, hi) in [
            (0, 0),
            (1, 1),
            (2, 7),
            (seqs.len() as u64 / 3, seqs.len() as u64),
            (5, 3),
        ] {
            let lo = seqs.get(lo as usize).copied().unwrap_or(0);
            let hi = seqs.get(hi as usize).copied().unwrap_or(u64::MAX);
            let want = seqs.iter().filter(|&&s| s >= lo && s <= hi).count() as u64;
            assert_eq!(
                db.changes_count(lo, hi).unwrap(),
                want,
                "{name} [{lo},{hi}]"
            );
        }
    }
}
