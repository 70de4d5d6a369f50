//! The latency collector behind couch_latency.h: while it is started, every exported
//! call is timed, per function, into a histogram of power-of-two microsecond buckets.
//! Stopped (the default), a call pays one relaxed atomic load.
#![allow(non_camel_case_types)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Buckets: [0, 1) us, then [2^(i-1), 2^i) us up to 2^40 us (about 12 days).
const BUCKETS: usize = 42;

static ENABLED: AtomicBool = AtomicBool::new(false);
static STATS: Mutex<Vec<(&'static str, Histogram)>> = Mutex::new(Vec::new());

struct Histogram {
    buckets: [u64; BUCKETS],
    total_us: u64,
}

impl Histogram {
    fn record(&mut self, us: u64) {
        let bucket = (64 - us.leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[bucket] += 1;
        self.total_us = self.total_us.saturating_add(us);
    }

    /// The buckets up to the last non-empty one.
    fn used(&self) -> &[u64] {
        let n = self
            .buckets
            .iter()
            .rposition(|&c| c > 0)
            .map_or(0, |i| i + 1);
        &self.buckets[..n]
    }
}

/// Starts timing a call, when the collector runs.
pub(crate) fn start() -> Option<Instant> {
    ENABLED.load(Ordering::Relaxed).then(Instant::now)
}

/// Records a call of `name` started at `started` (nothing if the collector was not
/// running then).
pub(crate) fn record(name: &'static str, started: Option<Instant>) {
    let Some(started) = started else { return };
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut stats = STATS.lock();
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    match stats.iter_mut().find(|(n, _)| *n == name) {
        Some((_, h)) => h.record(us),
        None => {
            let mut h = Histogram {
                buckets: [0; BUCKETS],
                total_us: 0,
            };
            h.record(us);
            stats.push((name, h));
        }
    }
}

/// Starts (`on` nonzero, from zero) or stops (dropping what was collected) the
/// collector: couchstore_latency_collector_start / _stop.
#[unsafe(no_mangle)]
pub extern "C" fn cs_rs_latency_enable(on: c_int) {
    let mut stats = STATS.lock();
    if on == 0 || !ENABLED.load(Ordering::Relaxed) {
        stats.clear();
    }
    ENABLED.store(on != 0, Ordering::Relaxed);
}

/// Called for each function timed: its name, its buckets and the total time of its
/// calls in microseconds; returning nonzero stops the report.
pub type cs_latency_visitor = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        name: *const c_char,
        buckets: *const u64,
        nbuckets: usize,
        total_us: u64,
    ) -> c_int,
>;

/// Reports what the collector holds (couchstore_get_latency_info), in the order the
/// functions were first called.
///
/// # Safety
/// `visitor` must be a valid function or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_rs_latency_visit(visitor: cs_latency_visitor, ctx: *mut c_void) {
    let Some(visit) = visitor else { return };
    // A copy, so the visitor may call the API (and be timed) meanwhile.
    let snapshot: Vec<(CString, Vec<u64>, u64)> = STATS
        .lock()
        .iter()
        .map(|(name, h)| {
            (
                CString::new(*name).unwrap_or_default(),
                h.used().to_vec(),
                h.total_us,
            )
        })
        .collect();
    for (name, buckets, total) in &snapshot {
        // SAFETY: a valid visitor; the name and buckets live for the call.
        if unsafe { visit(ctx, name.as_ptr(), buckets.as_ptr(), buckets.len(), *total) } != 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_microseconds() {
        let mut h = Histogram {
            buckets: [0; BUCKETS],
            total_us: 0,
        };
        for us in [0, 1, 2, 3, 4, 1000, u64::MAX] {
            h.record(us);
        }
        assert_eq!(h.buckets[0], 1); // 0
        assert_eq!(h.buckets[1], 1); // 1
        assert_eq!(h.buckets[2], 2); // 2, 3
        assert_eq!(h.buckets[3], 1); // 4
        assert_eq!(h.buckets[10], 1); // 512..1024
        assert_eq!(h.buckets[BUCKETS - 1], 1);
        assert_eq!(h.used().len(), BUCKETS);
    }
}
