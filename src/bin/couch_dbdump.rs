//! couch_dbdump: prints the documents, local documents or tree structure of couchstore
//! database files.

use std::fmt::Write as _;
use std::process::ExitCode;

use couchstore::btree::Step;
use couchstore::db::{OpenOptions, TreeWalkItem};
use couchstore::format::{ByIdReduce, BySeqReduce};
use couchstore::{Db, DocInfo, Error};

const USAGE: &str = "\
usage: couch_dbdump [options] FILE...

Prints every document of each file, in sequence order by default.

  --byid        in id order
  --byseq       in sequence order (the default)
  --local       print the local documents instead
  --tree        print the by-id tree's nodes and statistics instead (with --byseq,
                the by-seq tree)
  --json        one JSON object per document
  --no-body     leave out document bodies
  --raw         print bodies as stored (compressed bodies stay compressed)
  -h, --help    print this help";

#[derive(Default)]
struct Opts {
    by_id: bool,
    local: bool,
    tree: bool,
    json: bool,
    no_body: bool,
    raw: bool,
    files: Vec<String>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts::default();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--byid" => o.by_id = true,
            "--byseq" => o.by_id = false,
            "--local" => o.local = true,
            "--tree" => o.tree = true,
            "--json" => o.json = true,
            "--no-body" => o.no_body = true,
            "--raw" => o.raw = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => o.files.push(a),
        }
    }
    if o.files.is_empty() {
        return Err("no file given".into());
    }
    Ok(o)
}

/// Bytes as text: printable ASCII as is, others as \xNN.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON string literal of `bytes` (invalid UTF-8 replaced).
fn json_str(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn body_of(db: &Db, info: &DocInfo, o: &Opts) -> Result<Option<Vec<u8>>, Error> {
    if o.no_body {
        return Ok(None);
    }
    match db.open_doc_with_docinfo(info, !o.raw) {
        Ok(doc) => Ok(Some(doc.data)),
        Err(e) if e == Error::DocNotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn print_doc(db: &Db, info: &DocInfo, o: &Opts) -> Result<(), Error> {
    let body = body_of(db, info, o)?;
    if o.json {
        let mut line = format!(
            "{{\"seq\":{},\"id\":{},\"rev\":{},\"content_meta\":{},\"physical_size\":{},\"rev_meta\":\"{}\",\"deleted\":{}",
            info.db_seq,
            json_str(&info.id),
            info.rev_seq,
            info.content_meta,
            info.physical_size,
            hex(&info.rev_meta),
            info.deleted
        );
        if let Some(b) = &body {
            match std::str::from_utf8(b) {
                Ok(_) => line.push_str(&format!(",\"body\":{}", json_str(b))),
                Err(_) => line.push_str(&format!(",\"body_hex\":\"{}\"", hex(b))),
            }
        }
        line.push('}');
        println!("{line}");
    } else {
        println!("Doc seq: {}", info.db_seq);
        println!("     id: {}", escape(&info.id));
        println!("     rev: {}", info.rev_seq);
        println!("     content_meta: {}", info.content_meta);
        println!("     size (on disk): {}", info.physical_size);
        println!("     rev_meta: {}", hex(&info.rev_meta));
        if info.deleted {
            println!("     deleted: yes");
        }
        if let Some(b) = &body {
            println!("     size: {}", b.len());
            println!("     data: {}", escape(b));
        }
    }
    Ok(())
}

fn dump(path: &str, o: &Opts) -> Result<(), Error> {
    let db = Db::open(path, OpenOptions::read_only())?;
    if o.local {
        dump_locals(&db, o)
    } else if o.tree {
        dump_tree(&db, o)
    } else {
        dump_docs(&db, o)
    }
}

/// `--local`: every local document.
fn dump_locals(db: &Db, o: &Opts) -> Result<(), Error> {
    let mut n = 0u64;
    db.walk_local_tree(None, &mut |item| {
        if let TreeWalkItem::Local { doc, .. } = item {
            n += 1;
            if o.json {
                println!(
                    "{{\"id\":{},\"json\":{}}}",
                    json_str(&doc.id),
                    json_str(&doc.json)
                );
            } else {
                println!("Key: {}", escape(&doc.id));
                println!("Value: {}", escape(&doc.json));
            }
        }
        Ok(Step::Continue)
    })?;
    if !o.json {
        println!("\nTotal local docs: {n}");
    }
    Ok(())
}

/// `--tree`: every node of the chosen tree, with statistics per depth.
fn dump_tree(db: &Db, o: &Opts) -> Result<(), Error> {
    let mut per_depth: Vec<(u64, u64)> = Vec::new();
    let mut docs = 0u64;
    let mut visit = |item: TreeWalkItem<'_>| {
        match item {
            TreeWalkItem::Node {
                depth,
                subtree_size,
                reduce,
            } => {
                let summary = if o.by_id {
                    ByIdReduce::decode(reduce).map(|r| {
                        format!(
                            "live {} deleted {} size {}",
                            r.not_deleted, r.deleted, r.size
                        )
                    })
                } else {
                    BySeqReduce::decode(reduce).map(|r| format!("count {}", r.count))
                }?;
                println!(
                    "{:indent$}node depth {depth} subtree {subtree_size} bytes: {summary}",
                    "",
                    indent = depth * 2
                );
                if per_depth.len() <= depth {
                    per_depth.resize(depth + 1, (0, 0));
                }
                per_depth[depth].0 += 1;
                per_depth[depth].1 += subtree_size;
            }
            TreeWalkItem::Doc { .. } | TreeWalkItem::Local { .. } => docs += 1,
        }
        Ok(Step::Continue)
    };
    if o.by_id {
        db.walk_id_tree(None, couchstore::db::ScanOptions::default(), &mut visit)?;
    } else {
        db.walk_seq_tree(0, couchstore::db::ScanOptions::default(), &mut visit)?;
    }
    println!("\nTree statistics:");
    for (depth, (nodes, bytes)) in per_depth.iter().enumerate() {
        println!("  depth {depth}: {nodes} nodes, {bytes} bytes in subtrees");
    }
    println!("  documents: {docs}");
    Ok(())
}

/// Every document, by sequence or (`--byid`) by id.
fn dump_docs(db: &Db, o: &Opts) -> Result<(), Error> {
    let mut n = 0u64;
    let mut failed = None;
    let mut each = |info: &DocInfo| {
        n += 1;
        if let Err(e) = print_doc(db, info, o) {
            failed = Some(e);
            return Ok(Step::Stop);
        }
        Ok(Step::Continue)
    };
    if o.by_id {
        db.all_docs(None, couchstore::db::ScanOptions::default(), &mut each)?;
    } else {
        db.changes_since(0, couchstore::db::ScanOptions::default(), &mut each)?;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if !o.json {
        println!("\nTotal docs: {n}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("couch_dbdump: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut status = ExitCode::SUCCESS;
    for file in &o.files {
        if let Err(e) = dump(file, &o) {
            eprintln!(
                "couch_dbdump: {file}: {}",
                couchstore::capi::codes::report(&e)
            );
            status = ExitCode::FAILURE;
        }
    }
    status
}
