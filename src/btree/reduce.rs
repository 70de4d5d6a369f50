//! Reduce functions: how each tree summarises a node's entries (leaf) or its children's
//! summaries (interior) into the reduce value stored in the pointer to that node.

use crate::error::{Error, Result};
use crate::format::by_id::ByIdValue;
use crate::format::{ByIdReduce, BySeqReduce};

/// A tree's reduce function.
pub trait Reducer {
    /// Summarises leaf values.
    fn reduce(&self, values: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>>;
    /// Summarises child reduce values.
    fn rereduce(&self, reduces: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>>;
    /// The reduce of a leaf of `items` entries, for a function that depends on their
    /// number alone (None: it needs the values, see [`Reducer::reduce`]).
    fn reduce_count(&self, _items: u64) -> Option<Result<Vec<u8>>> {
        None
    }
}

/// By-id: live count, deleted count, total body size.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByIdReducer;

impl Reducer for ByIdReducer {
    fn reduce(&self, values: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        let mut r = ByIdReduce::default();
        for v in values {
            let (deleted, size) = ByIdValue::summary(v)?;
            if deleted {
                r.deleted += 1;
            } else {
                r.not_deleted += 1;
            }
            r.size += size;
        }
        Ok(r.encode()?.to_vec())
    }

    fn rereduce(&self, reduces: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        let mut r = ByIdReduce::default();
        for raw in reduces {
            r.add(&ByIdReduce::decode(raw).map_err(|_| Error::ReducerFailure)?);
        }
        Ok(r.encode()?.to_vec())
    }
}

/// By-seq: number of entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct BySeqReducer;

impl Reducer for BySeqReducer {
    fn reduce(&self, values: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        let count = values.count() as u64;
        Ok(BySeqReduce { count }.encode()?.to_vec())
    }

    fn reduce_count(&self, items: u64) -> Option<Result<Vec<u8>>> {
        Some(BySeqReduce { count: items }.encode().map(|r| r.to_vec()))
    }

    fn rereduce(&self, reduces: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        let mut count = 0u64;
        for raw in reduces {
            count += BySeqReduce::decode(raw)
                .map_err(|_| Error::ReducerFailure)?
                .count;
        }
        Ok(BySeqReduce { count }.encode()?.to_vec())
    }
}

/// Local documents: no reduce value.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalReducer;

impl Reducer for LocalReducer {
    fn reduce(&self, _: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn rereduce(&self, _: &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn reduce_count(&self, _items: u64) -> Option<Result<Vec<u8>>> {
        Some(Ok(Vec::new()))
    }
}
