//! Writes databases in the shapes of the golden files (see ../shared/golden/README.md)
//! with our library, keeping a model of what each should contain.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use couchstore::btree::NodeSizes;
use couchstore::btree::Step;
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::{Db, Error, LocalDoc};

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One golden workload shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub docs: usize,
    pub batch: usize,
    pub options: OpenOptions,
    /// COMPRESS_DOC_BODIES on, even-numbered docs flagged compressed.
    pub compress: bool,
}

pub const SMALL: Shape = Shape {
    docs: 40,
    batch: 10,
    options: OpenOptions::create(),
    compress: false,
};
pub const BASIC: Shape = Shape {
    docs: 1000,
    batch: 100,
    options: OpenOptions::create(),
    compress: true,
};
pub const LEGACY: Shape = Shape {
    docs: 1000,
    batch: 100,
    options: OpenOptions {
        legacy_crc: true,
        create: true,
        ..OpenOptions::DEFAULT
    },
    compress: true,
};
pub const LARGE: Shape = Shape {
    docs: 30000,
    batch: 5000,
    options: OpenOptions::create(),
    compress: true,
};
pub const NODESIZE4K: Shape = Shape {
    docs: 5000,
    batch: 1000,
    options: OpenOptions {
        node_sizes: NodeSizes {
            leaf: 4096,
            interior: 4096,
        },
        create: true,
        ..OpenOptions::DEFAULT
    },
    compress: false,
};

/// What a document should read back as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDoc {
    pub db_seq: u64,
    pub rev_seq: u64,
    pub rev_meta: Vec<u8>,
    pub deleted: bool,
    pub content_meta: u8,
    /// None for a deletion without a body.
    pub body: Option<Vec<u8>>,
}

/// The expected content of a database.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub docs: BTreeMap<Vec<u8>, ModelDoc>,
    pub locals: BTreeMap<Vec<u8>, Vec<u8>>,
    pub update_seq: u64,
}

pub fn doc_id(i: usize) -> Vec<u8> {
    let mut id = Vec::new();
    if i.is_multiple_of(211) {
        id.extend_from_slice(b"bin\x00\xff");
    }
    id.extend_from_slice(format!("doc-{i:06}").as_bytes());
    id
}

fn content_meta(shape: &Shape, i: usize) -> u8 {
    let kind = if i.is_multiple_of(3) { 0 } else { 3 };
    if shape.compress && i.is_multiple_of(2) {
        kind | 0x80
    } else {
        kind
    }
}

/// Body lengths to use per doc index (the golden manifests' lengths); others are drawn.
pub type Lengths = BTreeMap<usize, usize>;

fn body(rng: &mut Rng, i: usize, generation: u64, lengths: &Lengths) -> Vec<u8> {
    let drawn = if i.is_multiple_of(97) {
        5000 + rng.below(9000) as usize
    } else {
        16 + rng.below(165) as usize
    };
    let len = lengths.get(&i).copied().unwrap_or(drawn);
    if i.is_multiple_of(3) {
        let mut s = format!("{{\"id\":{i},\"gen\":{generation},\"pad\":\"");
        while s.len() + 2 < len {
            s.push_str(["a", "b", "c"][s.len() % 3]);
        }
        s.push_str("\"}");
        s.into_bytes()
    } else {
        rng.bytes(len)
    }
}

/// Saves docs `range` as generation `generation` in one batch (every 10th a deletion when
/// `deletes`) and records them in the model.
#[allow(clippy::too_many_arguments)]
fn save_batch(
    db: &mut Db,
    model: &mut Model,
    shape: &Shape,
    rng: &mut Rng,
    range: std::ops::Range<usize>,
    generation: u64,
    deletes: bool,
    lengths: &Lengths,
) {
    let ids: Vec<Vec<u8>> = range.clone().map(doc_id).collect();
    let metas: Vec<Vec<u8>> = range.clone().map(|_| rng.bytes(18)).collect();
    let bodies: Vec<Option<Vec<u8>>> = range
        .clone()
        .map(|i| {
            if deletes && i % 10 == 0 {
                None
            } else {
                Some(body(rng, i, generation, lengths))
            }
        })
        .collect();
    let mut batch: Vec<NewDoc<'_>> = range
        .clone()
        .enumerate()
        .map(|(k, i)| NewDoc {
            id: &ids[k],
            body: bodies[k].as_deref(),
            deleted: bodies[k].is_none(),
            rev_seq: generation * 1000 + (i % 5) as u64 + 1,
            rev_meta: &metas[k],
            content_meta: content_meta(shape, i),
            db_seq: 0,
        })
        .collect();
    let options = couchstore::db::SaveOptions {
        compress_bodies: shape.compress,
        ..Default::default()
    };
    db.save_documents(&mut batch, options).unwrap();
    for (k, d) in batch.iter().enumerate() {
        model.docs.insert(
            ids[k].clone(),
            ModelDoc {
                db_seq: d.db_seq,
                rev_seq: d.rev_seq,
                rev_meta: metas[k].clone(),
                deleted: d.deleted,
                content_meta: d.content_meta,
                body: bodies[k].clone(),
            },
        );
        model.update_seq = model.update_seq.max(d.db_seq);
    }
}

pub fn save_local(db: &mut Db, model: &mut Model, id: &str, json: Option<&str>) {
    let doc = LocalDoc {
        id: id.as_bytes().to_vec(),
        json: json.unwrap_or("").as_bytes().to_vec(),
        deleted: json.is_none(),
    };
    db.save_local_document(&doc).unwrap();
    match json {
        Some(j) => model.locals.insert(doc.id, j.as_bytes().to_vec()),
        None => model.locals.remove(&doc.id),
    };
}

pub const VBSTATE: &str = r#"{"state":"active","checkpoint_id":"0","max_deleted_seqno":"0"}"#;
pub const MANIFEST: &str = r#"{"state":"active","checkpoint_id":"17","max_deleted_seqno":"0"}"#;
pub const ZZZ: &str = r#"{"state":"active","checkpoint_id":"34","max_deleted_seqno":"0"}"#;

/// The three local documents saved one at a time, as the golden files were made.
pub fn save_three_locals(db: &mut Db, model: &mut Model) {
    save_local(db, model, "_local/vbstate", Some(VBSTATE));
    save_local(db, model, "_local/collections/manifest", Some(MANIFEST));
    save_local(db, model, "_local/zzz", Some(ZZZ));
}

/// Writes a database of `shape` at `path` the way the golden files were written.
pub fn write_shape(path: &Path, shape: Shape, seed: u64, lengths: &Lengths) -> Model {
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut db = Db::open(path, shape.options).unwrap();
    let mut start = 0;
    while start < shape.docs {
        let end = (start + shape.batch).min(shape.docs);
        save_batch(
            &mut db,
            &mut model,
            &shape,
            &mut rng,
            start..end,
            1,
            false,
            lengths,
        );
        db.commit().unwrap();
        start = end;
    }
    save_three_locals(&mut db, &mut model);
    db.commit().unwrap();
    let third = shape.docs / 3;
    save_batch(
        &mut db,
        &mut model,
        &shape,
        &mut rng,
        0..third,
        2,
        true,
        lengths,
    );
    db.commit().unwrap();
    save_local(&mut db, &mut model, "_local/zzz", None);
    save_local(
        &mut db,
        &mut model,
        "_local/vbstate",
        Some(r#"{"state":"replica"}"#),
    );
    db.commit().unwrap();
    model
}

/// Checks every read API against the model.
pub fn check_model(db: &Db, model: &Model) {
    let mut seen = Vec::new();
    db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |info| {
        seen.push(info.clone());
        Ok(Step::Continue)
    })
    .unwrap();
    assert_eq!(seen.len(), model.docs.len(), "number of docs");
    for (info, (id, want)) in seen.iter().zip(&model.docs) {
        assert_eq!(&info.id, id);
        let got = (
            info.db_seq,
            info.rev_seq,
            &info.rev_meta,
            info.deleted,
            info.content_meta,
        );
        assert_eq!(
            got,
            (
                want.db_seq,
                want.rev_seq,
                &want.rev_meta,
                want.deleted,
                want.content_meta
            ),
            "{id:?}"
        );
        match &want.body {
            Some(body) => {
                assert_eq!(
                    &db.open_doc_with_docinfo(info, true).unwrap().data,
                    body,
                    "{id:?}"
                );
                assert_eq!(&db.open_document(id, true).unwrap().data, body);
            }
            None => {
                assert_eq!(info.bp, 0);
                assert_eq!(info.physical_size, 0);
                assert_eq!(db.open_document(id, true), Err(Error::DocNotFound));
            }
        }
        assert_eq!(&db.docinfo_by_sequence(info.db_seq).unwrap(), info);
    }
    let mut seqs: Vec<u64> = model.docs.values().map(|d| d.db_seq).collect();
    seqs.sort();
    let mut changes = Vec::new();
    db.changes_since(0, couchstore::db::ScanOptions::default(), &mut |i| {
        changes.push(i.db_seq);
        Ok(Step::Continue)
    })
    .unwrap();
    assert_eq!(changes, seqs);
    assert_eq!(db.changes_count(0, u64::MAX).unwrap(), seqs.len() as u64);
    let info = db.info().unwrap();
    let live = model.docs.values().filter(|d| !d.deleted).count() as u64;
    assert_eq!(
        (info.doc_count, info.deleted_count),
        (live, model.docs.len() as u64 - live)
    );
    assert_eq!(info.last_sequence, model.update_seq);
    let body_bytes: u64 = seen.iter().map(|i| i.physical_size).sum();
    let h = db.header();
    let trees: u64 = [&h.by_id_root, &h.by_seq_root, &h.local_root]
        .iter()
        .filter_map(|r| r.as_ref())
        .map(|r| r.subtree_size)
        .sum();
    assert_eq!(info.space_used, body_bytes + trees);
    for (id, json) in &model.locals {
        assert_eq!(&db.open_local_document(id).unwrap().json, json);
    }
    let mut locals = Vec::new();
    db.walk_local_tree(None, &mut |item| {
        if let couchstore::db::TreeWalkItem::Local { doc, .. } = item {
            locals.push(doc.id.clone());
        }
        Ok(Step::Continue)
    })
    .unwrap();
    assert_eq!(locals, model.locals.keys().cloned().collect::<Vec<_>>());
}
