//! Property test: random commits interleaved with the online compaction driver's phases
//! (injected from its progress hook while it runs without the lock); at the switch the
//! compacted file must equal the source's newest header exactly.

mod common;

use std::cell::RefCell;
use std::path::Path;

use common::workload::{Model, ModelDoc, check_model};
use couchstore::compact::online::{OnlineOptions, Phase, compact_online};
use couchstore::db::{NewDoc, OpenOptions};
use couchstore::{Db, LocalDoc};
use proptest::prelude::*;

struct Writer {
    db: Db,
    model: Model,
    round: u64,
}

impl Writer {
    fn batch(&mut self, spec: u16) {
        self.round += 1;
        let round = self.round;
        let n = (spec % 40 + 1) as u64;
        let docs: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..n)
            .map(|j| {
                let k = (u64::from(spec) * 31 + j * 17 + round) % 300;
                let body = (!(k + round).is_multiple_of(5)).then(|| {
                    format!("{round}:{k}")
                        .repeat((k % 9 + 1) as usize)
                        .into_bytes()
                });
                (format!("doc-{k:04}").into_bytes(), body)
            })
            .collect();
        let meta = round.to_be_bytes();
        let mut batch: Vec<NewDoc<'_>> = docs
            .iter()
            .map(|(id, body)| NewDoc {
                id,
                body: body.as_deref(),
                deleted: body.is_none(),
                rev_seq: round,
                rev_meta: &meta,
                content_meta: 0,
                db_seq: 0,
            })
            .collect();
        self.db
            .save_documents(&mut batch, couchstore::db::SaveOptions::default())
            .unwrap();
        let seqs: Vec<u64> = batch.iter().map(|d| d.db_seq).collect();
        if spec.is_multiple_of(4) {
            let id = format!("_local/{}", spec % 3).into_bytes();
            let deleted = spec.is_multiple_of(8);
            let json = format!("{{\"r\":{round}}}").into_bytes();
            self.db
                .save_local_document(&LocalDoc {
                    id: id.clone(),
                    json: json.clone(),
                    deleted,
                })
                .unwrap();
            if deleted {
                self.model.locals.remove(&id);
            } else {
                self.model.locals.insert(id, json);
            }
        }
        self.db.commit().unwrap();
        for ((id, body), seq) in docs.into_iter().zip(seqs) {
            self.model.docs.insert(
                id,
                ModelDoc {
                    db_seq: seq,
                    rev_seq: round,
                    rev_meta: meta.to_vec(),
                    deleted: body.is_none(),
                    content_meta: 0,
                    body,
                },
            );
            self.model.update_seq = self.model.update_seq.max(seq);
        }
    }
}

fn run(initial: Vec<u16>, during: Vec<u16>, max_bytes: u64, max_rounds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("s.couch");
    let target = dir.path().join("t.couch");
    let writer = RefCell::new(Writer {
        db: Db::open(&source, OpenOptions::create()).unwrap(),
        model: Model::default(),
        round: 0,
    });
    for spec in initial {
        writer.borrow_mut().batch(spec);
    }
    let mut pending = during.into_iter();
    let locked = RefCell::new(false);
    let mut options = OnlineOptions::new(
        Box::new(|| *locked.borrow_mut() = true),
        Box::new(|| *locked.borrow_mut() = false),
        Box::new(|compacted: &Path| {
            assert!(*locked.borrow());
            let w = writer.borrow();
            check_model(&Db::open(compacted, OpenOptions::read_only())?, &w.model);
            Ok(())
        }),
    );
    options.max_locked_bytes = max_bytes;
    options.max_locked_docs = max_bytes / 64;
    options.max_rounds = max_rounds;
    options.flush_threshold = 512;
    // Commits land while the driver works without the lock.
    options.progress = Some(Box::new(|p| {
        if matches!(p.phase, Phase::Compacting | Phase::CatchingUp)
            && !*locked.borrow()
            && let Some(spec) = pending.next()
        {
            writer.borrow_mut().batch(spec);
        }
        Ok(())
    }));
    compact_online(&source, &target, options).unwrap();
    assert!(!*locked.borrow());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn interleaved_commits_are_all_in_the_compacted_file(
        initial in proptest::collection::vec(any::<u16>(), 0..20),
        during in proptest::collection::vec(any::<u16>(), 0..30),
        max_bytes in prop_oneof![Just(0u64), Just(4096), Just(1 << 30)],
        max_rounds in 0u32..4,
    ) {
        run(initial, during, max_bytes, max_rounds);
    }
}
