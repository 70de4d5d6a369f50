//! [`RateLimit`]: holds compaction I/O to a rate in bytes per second, so compactions
//! running beside an engine's flushers leave them their share of the disk and the CPU.
//! One limit may be shared by several compactions (the process-wide one is, by every
//! online compaction that does not choose otherwise): together they move at most its
//! rate.
//!
//! Only work done without the engine's lock is charged: the snapshot's copy and the
//! catch-up rounds (paused between rounds). Holds of the lock are never slowed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How far ahead of its rate a limited compaction may run after it idled: a short
/// burst, not the credit of a long pause.
const BURST: Duration = Duration::from_millis(50);

/// The process-wide limit's rate unless [`RATE_ENV`] or
/// [`RateLimit::set_bytes_per_sec`] says otherwise: 16 MiB/s for all online compactions
/// together, the figure at which two of them beside two flushers on a 2-core machine left
/// the flushers more than 0.8 of their throughput (see the README's bench table).
pub const DEFAULT_BYTES_PER_SEC: u64 = 16 << 20;

/// Environment variable that sets the process-wide limit at first use: bytes per second,
/// optionally followed by `K`, `M` or `G` (binary multiples); 0 for no limit.
pub const RATE_ENV: &str = "COUCHSTORE_COMPACTION_BYTES_PER_SEC";

#[derive(Debug)]
struct Shared {
    /// 0: no limit.
    bytes_per_sec: AtomicU64,
    /// When the bytes charged so far are paid for at the rate.
    paid_until: Mutex<Instant>,
    /// Nanoseconds compactions spent paused by this limit.
    paused_nanos: AtomicU64,
}

/// A rate limit in bytes per second, shared by the compactions given clones of it.
#[derive(Debug, Clone)]
pub struct RateLimit(Arc<Shared>);

impl RateLimit {
    /// A limit of `bytes_per_sec` (0: no limit).
    pub fn new(bytes_per_sec: u64) -> Self {
        RateLimit(Arc::new(Shared {
            bytes_per_sec: AtomicU64::new(bytes_per_sec),
            paid_until: Mutex::new(Instant::now()),
            paused_nanos: AtomicU64::new(0),
        }))
    }

    /// The process-wide limit online compactions share by default. Its rate is
    /// [`DEFAULT_BYTES_PER_SEC`] unless the environment variable
    /// `COUCHSTORE_COMPACTION_BYTES_PER_SEC` says otherwise when it is first used.
    pub fn process_wide() -> &'static RateLimit {
        static GLOBAL: OnceLock<RateLimit> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let rate = std::env::var(RATE_ENV)
                .ok()
                .and_then(|v| crate::file::node_cache::parse_size(&v))
                .map_or(DEFAULT_BYTES_PER_SEC, |n| n as u64);
            RateLimit::new(rate)
        })
    }

    /// The rate in bytes per second (0: no limit).
    pub fn bytes_per_sec(&self) -> u64 {
        self.0.bytes_per_sec.load(Ordering::Relaxed)
    }

    /// Changes the rate (0: no limit); compactions running with this limit follow it.
    pub fn set_bytes_per_sec(&self, bytes_per_sec: u64) {
        self.0.bytes_per_sec.store(bytes_per_sec, Ordering::Relaxed);
    }

    /// Time compactions spent paused by this limit so far.
    pub fn paused(&self) -> Duration {
        Duration::from_nanos(self.0.paused_nanos.load(Ordering::Relaxed))
    }

    /// How long to pause for `bytes` moved at `now`, advancing what is paid for. Pure
    /// but for the shared state, so the rule is tested without sleeping.
    fn charge_at(&self, bytes: u64, now: Instant) -> Duration {
        let rate = self.bytes_per_sec();
        if rate == 0 {
            return Duration::ZERO;
        }
        let mut paid_until = self.0.paid_until.lock();
        let start = (*paid_until).max(now.checked_sub(BURST).unwrap_or(now));
        *paid_until = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
        paid_until.saturating_duration_since(now + BURST)
    }

    /// Accounts for `bytes` read or written, pausing while the compactions sharing this
    /// limit run ahead of its rate.
    pub fn charge(&self, bytes: u64) {
        let wait = self.charge_at(bytes, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
            self.0
                .paused_nanos
                .fetch_add(wait.as_nanos() as u64, Ordering::Relaxed);
        }
    }
}

/// Charges `limit`, if there is one.
pub fn charge(limit: Option<&RateLimit>, bytes: u64) {
    if let Some(l) = limit {
        l.charge(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_no_pause() {
        let l = RateLimit::new(0);
        assert_eq!(l.charge_at(u64::MAX / 2, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn pauses_once_the_burst_is_spent_and_at_the_rate() {
        let l = RateLimit::new(1_000_000);
        let now = Instant::now();
        *l.0.paid_until.lock() = now;
        // 50 ms of burst: 50 kB pass freely.
        assert_eq!(l.charge_at(50_000, now), Duration::ZERO);
        // Then every byte costs its time at 1 MB/s.
        let w = l.charge_at(100_000, now);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        // Long after, the debt is paid, and no credit beyond the burst has built up.
        let later = now + Duration::from_secs(10);
        assert_eq!(l.charge_at(50_000, later), Duration::ZERO);
        let w = l.charge_at(1_000_000, later);
        assert!((w.as_secs_f64() - 0.95).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn clones_share_one_rate() {
        let a = RateLimit::new(1_000_000);
        let b = a.clone();
        let now = Instant::now();
        *a.0.paid_until.lock() = now;
        assert_eq!(a.charge_at(50_000, now), Duration::ZERO);
        // What `a` charged counts against `b`.
        let w = b.charge_at(100_000, now);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        b.set_bytes_per_sec(0);
        assert_eq!(a.bytes_per_sec(), 0);
    }

    #[test]
    fn charging_really_pauses() {
        let l = RateLimit::new(10_000_000);
        let started = Instant::now();
        for _ in 0..30 {
            l.charge(100_000);
        }
        // 3 MB at 10 MB/s: 0.3 s less the burst.
        assert!(started.elapsed() >= Duration::from_millis(240));
        assert!(l.paused() >= Duration::from_millis(200));
    }
}
