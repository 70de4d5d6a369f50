//! Helpers shared by the integration tests: golden file locations and a dump of a
//! database in the golden manifests' format.
#![allow(dead_code)]

pub mod workload;

use std::path::PathBuf;

use couchstore::btree::Step;
use couchstore::db::TreeWalkItem;
use couchstore::{Db, Error};
use serde_json::{Value, json};

/// The directory of golden files written by the original library.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden")
}

/// Every golden `.couch` file name (without extension), sorted.
pub fn golden_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("../shared/golden must sit beside the checkout")
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "couch" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// The parsed manifest of a golden file.
pub fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Copies a golden file into `dir` (golden files are never written) and returns the path.
pub fn copy_golden(name: &str, dir: &std::path::Path) -> PathBuf {
    let to = dir.join(format!("{name}.couch"));
    std::fs::copy(golden_dir().join(format!("{name}.couch")), &to).unwrap();
    let mut perms = std::fs::metadata(&to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&to, perms).unwrap();
    to
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a 64 as `refdump` computes it: its offset basis is 1469598103934665603 (the
/// standard basis less its last digit), so the manifests' digests use that.
pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 1_469_598_103_934_665_603;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The `current`/`headers_newest_first` record of the handle's header.
pub fn header_record(db: &Db) -> Value {
    let info = db.info().unwrap();
    let h = db.header();
    json!({
        "header_position": info.header_position,
        "version": h.version,
        "update_seq": info.last_sequence,
        "purge_seq": info.purge_seq,
        "timestamp": h.timestamp,
        "doc_count": info.doc_count,
        "deleted_count": info.deleted_count,
        "space_used": info.space_used,
        "file_size": info.file_size,
    })
}

/// The `docs_by_id` records: every entry of all_docs with its bodies.
pub fn docs_by_id(db: &Db) -> Vec<Value> {
    let mut out = Vec::new();
    db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |info| {
        let mut rec = json!({
            "id": hex(&info.id),
            "db_seq": info.db_seq,
            "rev_seq": info.rev_seq,
            "rev_meta": hex(&info.rev_meta),
            "deleted": info.deleted as i32,
            "content_meta": info.content_meta,
            "bp": info.bp,
            "physical_size": info.physical_size,
        });
        let m = rec.as_object_mut().unwrap();
        match db.open_doc_with_docinfo(info, true) {
            Ok(doc) => {
                m.insert("body_len".into(), json!(doc.data.len()));
                m.insert(
                    "body_fnv64".into(),
                    json!(format!("{:016x}", fnv1a64(&doc.data))),
                );
                if doc.data.len() <= 64 {
                    m.insert("body_hex".into(), json!(hex(&doc.data)));
                }
            }
            Err(e) => {
                m.insert("body_err".into(), json!(couchstore::capi::codes::code(&e)));
            }
        }
        match db.open_doc_with_docinfo(info, false) {
            Ok(doc) => m.insert("raw_len".into(), json!(doc.data.len())),
            Err(e) => m.insert("raw_err".into(), json!(couchstore::capi::codes::code(&e))),
        };
        out.push(rec);
        Ok(Step::Continue)
    })
    .unwrap();
    out
}

/// The `changes_since_0` list.
pub fn changes_since_0(db: &Db) -> Vec<Value> {
    let mut out = Vec::new();
    db.changes_since(0, couchstore::db::ScanOptions::default(), &mut |info| {
        out.push(json!(info.db_seq));
        Ok(Step::Continue)
    })
    .unwrap();
    out
}

/// The `local_docs` records, from a walk of the local tree and a lookup of each.
pub fn local_docs(db: &Db) -> Vec<Value> {
    let mut ids = Vec::new();
    db.walk_local_tree(None, &mut |item| {
        if let TreeWalkItem::Local { doc, .. } = item {
            ids.push(doc.id.clone());
        }
        Ok(Step::Continue)
    })
    .unwrap();
    ids.iter()
        .map(|id| {
            let doc = db.open_local_document(id).unwrap();
            json!({"id": hex(id), "json_hex": hex(&doc.json)})
        })
        .collect()
}

/// Every header from the current one back, by rewinding until the rewind fails. The
/// handle is closed at the end (as the original closes it).
pub fn headers_newest_first(db: &mut Db) -> Vec<Value> {
    let mut out = vec![header_record(db)];
    loop {
        match db.rewind() {
            Ok(()) => out.push(header_record(db)),
            Err(e) => {
                assert_eq!(e, Error::DbNoLongerValid);
                assert!(!db.is_open());
                return out;
            }
        }
    }
}

/// Asserts two lists of records are equal, naming the first differing entry.
pub fn assert_records(what: &str, got: &[Value], want: &[Value]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}[{i}] differs");
    }
    assert_eq!(got.len(), want.len(), "{what}: number of entries");
}
