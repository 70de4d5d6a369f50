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
