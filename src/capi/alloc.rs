//! The blocks handed to C callers. Each is one allocation holding the struct and the
//! bytes it points to, as the original allocates them, so one free releases it.

use std::ffi::c_int;
use std::mem::size_of;

use super::boundary::{c_alloc, put, sized};
use super::types::*;
use crate::error::Error;

/// A `DocInfo` holding copies of `info`'s id and revision metadata.
pub(crate) fn docinfo_block(info: &crate::DocInfo) -> Result<*mut CDocInfo, Error> {
    let p = c_alloc(size_of::<CDocInfo>() + info.id.len() + info.rev_meta.len())?;
    // SAFETY: `p` has room for the struct followed by both byte strings; malloc aligns
    // for any type, and the struct is written whole before any use.
    unsafe {
        let id = p.add(size_of::<CDocInfo>());
        let meta = put(id, &info.id);
        put(meta, &info.rev_meta);
        p.cast::<CDocInfo>().write(CDocInfo {
            id: sized(id, info.id.len()),
            db_seq: info.db_seq,
            rev_seq: info.rev_seq,
            rev_meta: sized(meta, info.rev_meta.len()),
            deleted: c_int::from(info.deleted),
            content_meta: info.content_meta,
            bp: info.bp,
            physical_size: info.physical_size as usize,
        });
    }
    Ok(p.cast())
}

/// A `Doc` holding a copy of `data`, whose id points at `id` (owned by the caller).
pub(crate) fn doc_block(id: sized_buf, data: &[u8]) -> Result<*mut CDoc, Error> {
    let p = c_alloc(size_of::<CDoc>() + data.len())?;
    // SAFETY: room for the struct followed by the body; written whole before use.
    unsafe {
        let body = p.add(size_of::<CDoc>());
        put(body, data);
        p.cast::<CDoc>().write(CDoc {
            id,
            data: sized(body, data.len()),
        });
    }
    Ok(p.cast())
}

/// A `LocalDoc` holding copies of its id and JSON.
pub(crate) fn local_doc_block(doc: &crate::LocalDoc) -> Result<*mut CLocalDoc, Error> {
    let p = c_alloc(size_of::<CLocalDoc>() + doc.id.len() + doc.json.len())?;
    // SAFETY: room for the struct followed by both byte strings; written before use.
    unsafe {
        let id = p.add(size_of::<CLocalDoc>());
        let json = put(id, &doc.id);
        put(json, &doc.json);
        p.cast::<CLocalDoc>().write(CLocalDoc {
            id: sized(id, doc.id.len()),
            json: sized(json, doc.json.len()),
            deleted: 0,
        });
    }
    Ok(p.cast())
}
