//! The command-line tools, run as a user runs them.

mod common;

use std::process::Command;

use common::*;

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn dbinfo_prints_the_header_and_history() {
    let path = golden_dir().join("small_v13.couch");
    let m = manifest("small_v13");
    let (ok, out, _) = run(
        env!("CARGO_BIN_EXE_couch_dbinfo"),
        &["--history", path.to_str().unwrap()],
    );
    assert!(ok);
    let cur = &m["current"];
    for (label, field) in [
        ("header position", "header_position"),
        ("update_seq", "update_seq"),
        ("doc count", "doc_count"),
        ("deleted doc count", "deleted_count"),
        ("space used", "space_used"),
        ("file size", "file_size"),
    ] {
        let line = format!("  {label}: {}", cur[field]);
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert!(out.contains("file format version: 13 (CRC-32C)"));
    let headers = m["headers_newest_first"].as_array().unwrap();
    assert_eq!(out.matches("header position:").count(), headers.len());
    for h in headers {
        assert!(out.contains(&format!("  header position: {}\n", h["header_position"])));
    }
}

#[test]
fn dbinfo_reports_errors_on_stderr() {
    let (ok, _, err) = run(
        env!("CARGO_BIN_EXE_couch_dbinfo"),
        &["/nonexistent/x.couch"],
    );
    assert!(!ok);
    assert!(err.contains("no such file"), "{err}");
    let (ok, out, _) = run(env!("CARGO_BIN_EXE_couch_dbinfo"), &["--help"]);
    assert!(ok && out.contains("usage: couch_dbinfo"));
    let (ok, _, err) = run(env!("CARGO_BIN_EXE_couch_dbinfo"), &["--bogus", "x"]);
    assert!(!ok && err.contains("usage"));
}

#[test]
fn dbdump_prints_documents_locals_and_trees() {
    let path = golden_dir().join("small_v13.couch");
    let p = path.to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_couch_dbdump");
    let (ok, out, _) = run(bin, &[p]);
    assert!(ok);
    assert!(out.contains("Total docs: 40"), "{out}");
    assert!(out.contains("     id: doc-000001\n"));
    assert!(out.contains("     id: bin\\x00\\xffdoc-000000\n"));
    // Sequence order by default, id order with --byid.
    let seqs: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Doc seq: "))
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let (_, out, _) = run(bin, &["--byid", "--json", "--no-body", p]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    assert_eq!(lines[1]["id"], "doc-000001");
    assert_eq!(lines[1]["seq"], 42);
    assert!(lines[1].get("body").is_none());
    let (_, out, _) = run(bin, &["--json", p]);
    let doc3: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["id"] == "doc-000003")
        .unwrap();
    assert_eq!(doc3["body"], r#"{"id":3,"gen":2,"pad":""}"#);
    let (_, out, _) = run(bin, &["--local", p]);
    assert!(
        out.contains("Key: _local/vbstate\nValue: {\"state\":\"replica\"}"),
        "{out}"
    );
    assert!(out.contains("Total local docs: 2"));
    let (_, out, _) = run(
        bin,
        &[
            "--tree",
            "--byid",
            &golden_dir().join("large_v13.couch").to_string_lossy(),
        ],
    );
    assert!(out.contains("node depth 0"));
    assert!(out.contains("  documents: 30000"), "{out}");
    assert!(out.contains("depth 2:"));
    let (ok, _, err) = run(bin, &["/nonexistent"]);
    assert!(!ok && err.contains("no such file"));
}

#[test]
fn compact_tool_compacts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let src = golden_dir().join("basic_v13.couch");
    let dst = dir.path().join("out.couch");
    let bin = env!("CARGO_BIN_EXE_couch_compact");
    let (ok, out, err) = run(
        bin,
        &[
            "--dropdeletes",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("documents copied: 966"), "{out}");
    assert!(out.contains("deletions dropped: 34"));
    let db = couchstore::Db::open(&dst, couchstore::db::OpenOptions::read_only()).unwrap();
    assert_eq!(db.info().unwrap().deleted_count, 0);
    // The target exists now: refused, with the error on stderr.
    let (ok, _, err) = run(bin, &[src.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(!ok && err.contains("error opening file"), "{err}");
    let (ok, _, err) = run(bin, &["only-one"]);
    assert!(!ok && err.contains("usage"));
    let up = dir.path().join("up.couch");
    let (ok, _, _) = run(
        bin,
        &[
            "--upgrade",
            "--quiet",
            golden_dir().join("legacy_crc_v11.couch").to_str().unwrap(),
            up.to_str().unwrap(),
        ],
    );
    assert!(ok);
    let db = couchstore::Db::open(&up, couchstore::db::OpenOptions::read_only()).unwrap();
    assert_eq!(db.header().version, 13);
}
