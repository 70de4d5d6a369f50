//! Random sequences of batches, local-doc changes, commits and reopens, checked against
//! an in-memory model after every step, after reopening, and at every older header
//! reached by rewinding.

mod common;

use common::workload::{Model, ModelDoc, check_model};
use couchstore::btree::NodeSizes;
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::{Db, LocalDoc};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// (key index, body length or None for a deletion without body, deleted flag)
    Save(Vec<(u16, Option<u16>, bool)>),
    Local(u8, Option<u8>),
    Commit,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec((0u16..300, proptest::option::weighted(0.85, 0u16..400), any::<bool>()), 1..60)
            .prop_map(Op::Save),
        2 => (0u8..6, proptest::option::of(0u8..50)).prop_map(|(i, j)| Op::Local(i, j)),
        3 => Just(Op::Commit),
        1 => Just(Op::Reopen),
    ]
}

fn key(i: u16) -> Vec<u8> {
    // Mixed lengths and a shared prefix, so keys spread over several leaves.
    format!("key-{}-{}", i % 7, i).into_bytes()
}

fn body(i: u16, len: u16, step: usize) -> Vec<u8> {
    (0..len as usize)
        .map(|j| (i as usize * 31 + j * 7 + step) as u8)
        .collect()
}

fn run(ops: Vec<Op>, options: OpenOptions) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.couch");
    let open_options = OpenOptions {
        create: true,
        ..options
    };
    let mut db = Db::open(&path, open_options).unwrap();
    let mut model = Model::default();
    let mut committed = model.clone();
    // The model at every committed header, oldest first (the create commit included).
    let mut history = vec![model.clone()];
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Save(items) => {
                let bodies: Vec<Option<Vec<u8>>> = items
                    .iter()
                    .map(|&(i, len, _)| len.map(|l| body(i, l, step)))
                    .collect();
                let keys: Vec<Vec<u8>> = items.iter().map(|&(i, _, _)| key(i)).collect();
                let meta = (step as u32).to_be_bytes();
                let mut batch: Vec<NewDoc<'_>> = items
                    .iter()
                    .enumerate()
                    .map(|(n, &(_, _, deleted))| NewDoc {
                        id: &keys[n],
                        body: bodies[n].as_deref(),
                        deleted: deleted || bodies[n].is_none(),
                        rev_seq: step as u64,
                        rev_meta: &meta,
                        content_meta: (n % 4) as u8,
                        db_seq: 0,
                    })
                    .collect();
                db.save_documents(&mut batch, couchstore::db::SaveOptions::default())
                    .unwrap();
                for (n, d) in batch.iter().enumerate() {
                    model.docs.insert(
                        keys[n].clone(),
                        ModelDoc {
                            db_seq: d.db_seq,
                            rev_seq: d.rev_seq,
                            rev_meta: meta.to_vec(),
                            deleted: d.deleted,
                            content_meta: d.content_meta,
                            body: bodies[n].clone(),
                        },
                    );
                    model.update_seq = model.update_seq.max(d.db_seq);
                }
            }
            Op::Local(i, json) => {
                let id = format!("_local/{i}").into_bytes();
                let json_bytes = json.map(|j| format!("{{\"v\":{j},\"s\":{step}}}").into_bytes());
                db.save_local_document(&LocalDoc {
                    id: id.clone(),
                    json: json_bytes.clone().unwrap_or_default(),
                    deleted: json.is_none(),
                })
                .unwrap();
                match json_bytes {
                    Some(j) => model.locals.insert(id, j),
                    None => model.locals.remove(&id),
                };
            }
            Op::Commit => {
                db.commit().unwrap();
                committed = model.clone();
                history.push(model.clone());
            }
            Op::Reopen => {
                drop(db);
                db = Db::open(&path, options).unwrap();
                model = committed.clone();
            }
        }
        check_model(&db, &model);
    }
    // Every older header shows exactly what was committed then.
    drop(db);
    let mut db = Db::open(&path, OpenOptions::read_only()).unwrap();
    for expected in history.iter().rev() {
        check_model(&db, expected);
        if db.rewind().is_err() {
            break;
        }
    }
    assert!(
        !db.is_open(),
        "rewound past as many headers as were committed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_histories_match_the_model(ops in proptest::collection::vec(op(), 1..25)) {
        run(ops, OpenOptions::default());
    }

    /// Small (1 KiB) nodes and the legacy format: deeper trees, CRC32 chunks.
    #[test]
    fn random_histories_small_nodes_legacy(ops in proptest::collection::vec(op(), 1..25)) {
        let options = OpenOptions {
            node_sizes: NodeSizes::from_kib(1, 1),
            legacy_crc: true,
            ..OpenOptions::default()
        };
        run(ops, options);
    }

    /// Every append written through at once, with an fsync every KiB.
    #[test]
    fn random_histories_unbuffered_periodic_sync(ops in proptest::collection::vec(op(), 1..15)) {
        let options = OpenOptions {
            unbuffered: true,
            periodic_sync: Some(1024),
            ..OpenOptions::default()
        };
        run(ops, options);
    }
}
