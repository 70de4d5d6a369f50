//! What the fuzz targets do with a file's bytes: open it, read everything, write to it,
//! compact it. A panic, a hang (libFuzzer's -timeout) or unbounded memory
//! (-rss_limit_mb) is a finding; errors are expected.

use std::cell::RefCell;

use couchstore::btree::Step;
use couchstore::compact::{CompactFlags, CompactOptions, compact_into, target_open_options};
use couchstore::db::{LocalDoc, NewDoc, OpenOptions, TreeWalkItem};
use couchstore::file::MemoryBackend;
use couchstore::{Db, Result};

/// Opens `bytes` as a database file.
pub fn open(bytes: &[u8], options: OpenOptions) -> Result<Db> {
    let mem = MemoryBackend::from_bytes(bytes.to_vec());
    Db::open_backend(Box::new(mem), "fuzz".into(), options)
}

/// Every read the API offers, strict and tolerant; errors are fine.
pub fn read_everything(db: &Db) {
    let tolerant = couchstore::db::ScanOptions {
        tolerate_corruption: true,
        ..Default::default()
    };
    for options in [couchstore::db::ScanOptions::default(), tolerant] {
        let mut infos = Vec::new();
        let _ = db.all_docs(None, options, &mut |i| {
            if infos.len() < 300 {
                infos.push(i.clone());
            }
            Ok(Step::Continue)
        });
        for info in &infos {
            let _ = db.open_doc_with_docinfo(info, true);
            let _ = db.docinfo_by_id(&info.id);
            let _ = db.docinfo_by_sequence(info.db_seq);
        }
        let _ = db.changes_since(0, options, &mut |_| Ok(Step::Continue));
        let _ = db.walk_id_tree(None, options, &mut |_: TreeWalkItem<'_>| Ok(Step::Continue));
        let _ = db.walk_seq_tree(0, options, &mut |_: TreeWalkItem<'_>| Ok(Step::Continue));
    }
    let _ = db.walk_local_tree(None, &mut |_| Ok(Step::Continue));
    let _ = db.changes_count(0, u64::MAX);
    let _ = db.changes_count(3, 40);
    let _ = db.open_local_document(b"_local/vbstate");
    let _ = db.info();
}

/// Saves, deletes and commits on the file, then reads it all again.
pub fn write_and_read(db: &mut Db, seed: &[u8]) {
    let ids: Vec<Vec<u8>> = seed
        .chunks(3)
        .take(16)
        .map(|c| format!("doc-{:03}", c[0]).into_bytes())
        .collect();
    let body = seed.get(..seed.len().min(200)).unwrap_or_default().to_vec();
    let mut batch: Vec<NewDoc<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| NewDoc {
            id,
            body: (i % 4 != 3).then_some(&body[..]),
            deleted: i % 4 == 3,
            ..Default::default()
        })
        .collect();
    let _ = db.save_documents(&mut batch, couchstore::db::SaveOptions::default());
    let _ = db.save_local_document(&LocalDoc {
        id: b"_local/vbstate".to_vec(),
        json: Vec::new(),
        deleted: true,
    });
    let _ = db.save_local_document(&LocalDoc {
        id: b"_local/fuzz".to_vec(),
        json: b"{}".to_vec(),
        deleted: false,
    });
    let _ = db.commit();
    read_everything(db);
}

/// Compacts the file into an in-memory target and reads the result.
pub fn compact_and_read(db: &Db) {
    let flags = target_open_options(db, CompactFlags::default());
    let Ok(target) = Db::open_backend(Box::new(MemoryBackend::new()), "target".into(), flags)
    else {
        return;
    };
    let target = RefCell::new(target);
    if compact_into(db, &target, CompactOptions::default()).is_ok() {
        read_everything(&target.borrow());
    }
}
