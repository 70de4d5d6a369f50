//! Mutation fuzzing on stable Rust: mutated copies of golden files are opened and read
//! completely through the Rust API and through the C API; every decoder also gets
//! arbitrary bytes. Nothing may panic (a panic hook counts them, since the C boundary
//! would turn one into an error code), loop or allocate without bound.
//!
//! COUCHSTORE_FUZZ_CASES sets the number of cases (default 256; the long run uses
//! 100000: `COUCHSTORE_FUZZ_CASES=100000 cargo test --release --test fuzz`).

mod common;

use std::ffi::{CString, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use common::golden_dir;
use couchstore::Db;
use couchstore::btree::Step;
use couchstore::capi::db::*;
use couchstore::capi::docs::*;
use couchstore::capi::iterate::*;
use couchstore::capi::types::*;
use couchstore::db::OpenOptions;
use couchstore::file::MemoryBackend;
use couchstore::format::{self, NodePointer};
use proptest::prelude::*;

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();
/// The C API tests write to one scratch directory; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn count_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

fn cases() -> u32 {
    std::env::var("COUCHSTORE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

const FILES: [&str; 5] = [
    "small_v13",
    "basic_v12",
    "legacy_crc_v11",
    "localonly_v13",
    "nodesize4k_v13",
];

fn mutate(file: usize, edits: &[(u32, u8)], cut: Option<u32>) -> Vec<u8> {
    let mut bytes = std::fs::read(golden_dir().join(format!("{}.couch", FILES[file]))).unwrap();
    for &(at, v) in edits {
        let i = at as usize % bytes.len();
        bytes[i] ^= v | 1;
    }
    if let Some(c) = cut {
        bytes.truncate(c as usize % (bytes.len() + 1));
    }
    bytes
}

/// Reads everything through the Rust API, then every older header.
fn read_rust(bytes: Vec<u8>) {
    let Ok(mut db) = Db::open_backend(
        Box::new(MemoryBackend::from_bytes(bytes)),
        "f".into(),
        OpenOptions::read_only(),
    ) else {
        return;
    };
    loop {
        let _ = db.all_docs(None, couchstore::db::ScanOptions::default(), &mut |i| {
            let _ = db.open_doc_with_docinfo(i, true);
            Ok(Step::Continue)
        });
        let _ = db.changes_since(0, couchstore::db::ScanOptions::default(), &mut |_| {
            Ok(Step::Continue)
        });
        let _ = db.walk_id_tree(
            None,
            couchstore::db::ScanOptions {
                tolerate_corruption: true,
                ..Default::default()
            },
            &mut |_| Ok(Step::Continue),
        );
        let _ = db.walk_seq_tree(0, couchstore::db::ScanOptions::default(), &mut |_| {
            Ok(Step::Continue)
        });
        let _ = db.walk_local_tree(None, &mut |_| Ok(Step::Continue));
        let _ = db.changes_count(0, u64::MAX);
        let _ = db.info();
        if db.rewind().is_err() {
            break;
        }
    }
}

unsafe extern "C" fn open_each(db: *mut Db_, info: *mut CDocInfo, _: *mut c_void) -> c_int {
    let mut doc = std::ptr::null_mut();
    // SAFETY: the library's handle and doc info, during the callback.
    unsafe {
        if couchstore_open_doc_with_docinfo(db, info, &mut doc, DECOMPRESS_DOC_BODIES)
            == COUCHSTORE_SUCCESS
        {
            couchstore_free_document(doc);
        }
    }
    0
}

unsafe extern "C" fn walk_each(
    _: *mut Db_,
    _: c_int,
    _: *const CDocInfo,
    _: u64,
    _: *const sized_buf,
    _: *mut c_void,
) -> c_int {
    0
}

type Db_ = couchstore::capi::types::CDb;

/// Reads everything through the C API, rewinding until the handle is freed.
fn read_c(bytes: &[u8], dir: &std::path::Path) {
    let path = dir.join("fuzz.couch");
    std::fs::write(&path, bytes).unwrap();
    let name = CString::new(path.to_str().unwrap()).unwrap();
    let mut db = std::ptr::null_mut();
    // SAFETY: valid arguments; the handle is used until the library frees it (failed
    // rewind) or we do.
    unsafe {
        if couchstore_open_db(name.as_ptr(), COUCHSTORE_OPEN_FLAG_RDONLY, &mut db)
            != COUCHSTORE_SUCCESS
        {
            return;
        }
        loop {
            couchstore_all_docs(
                db,
                std::ptr::null(),
                0,
                Some(open_each),
                std::ptr::null_mut(),
            );
            couchstore_changes_since(
                db,
                0,
                COUCHSTORE_TOLERATE_CORRUPTION,
                Some(open_each),
                std::ptr::null_mut(),
            );
            couchstore_walk_id_tree(
                db,
                std::ptr::null(),
                0,
                Some(walk_each),
                std::ptr::null_mut(),
            );
            couchstore_walk_local_tree(db, std::ptr::null(), Some(walk_each), std::ptr::null_mut());
            let mut count = 0;
            couchstore_changes_count(db, 0, u64::MAX, &mut count);
            let mut info = std::mem::zeroed();
            couchstore_db_info(db, &mut info);
            if couchstore_rewind_db_header(db) != COUCHSTORE_SUCCESS {
                break; // the handle is closed and freed
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn mutated_golden_files_through_both_apis(file in 0usize..FILES.len(),
                                              edits in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..16),
                                              cut in proptest::option::weighted(0.2, any::<u32>())) {
        count_panics();
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = PANICS.load(Ordering::SeqCst);
        let bytes = mutate(file, &edits, cut);
        read_rust(bytes.clone());
        let dir = tempfile::tempdir().unwrap();
        read_c(&bytes, dir.path());
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), before, "a read panicked");
    }

    #[test]
    fn decoders_take_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
        count_panics();
        let _ = format::Header::decode(&raw);
        let _ = NodePointer::decode_root(&raw);
        let _ = NodePointer::decode_interior(&raw);
        let _ = format::ByIdValue::decode(&raw);
        let _ = format::BySeqValue::decode(&raw);
        let _ = format::ByIdReduce::decode(&raw);
        let _ = format::BySeqReduce::decode(&raw);
        if let Ok(r) = format::NodeReader::new(&raw) {
            for item in r {
                if item.is_err() { break; }
            }
        }
        let mut out = Vec::new();
        let _ = format::compression::decompress_into(&raw, &mut out);
        if raw.len() >= 8 {
            let p: [u8; 8] = raw[..8].try_into().unwrap();
            let _ = format::chunk::decode_data_prefix(&p);
            let _ = format::chunk::decode_header_prefix(&p);
        }
        let f = couchstore::file::CouchFile::new(Box::new(MemoryBackend::from_bytes(raw.clone()))).unwrap();
        let _ = f.find_header_at_or_before(u64::MAX);
        let _ = f.read_chunk(1, &mut out);
    }
}
