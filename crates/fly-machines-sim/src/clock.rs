//! The emulator's notion of time.
//!
//! Every timed behaviour of the emulator (state transitions, lease expiry, `/wait` timeouts,
//! rate-limit refills, fault windows) reads a [`Clock`]. The real clock follows wall time; the
//! manual clock stands still until a test calls [`Clock::advance`], so tests never sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

/// Where the manual clock starts: 2025-01-01T00:00:00Z.
pub const MANUAL_EPOCH_MS: u64 = 1_735_689_600_000;

#[derive(Debug)]
enum Kind {
    Real { origin: Instant, origin_ms: u64 },
    Manual { now_ms: AtomicU64 },
}

#[derive(Debug)]
struct Inner {
    kind: Kind,
    /// Time added by [`Clock::advance`] on the real clock.
    offset_ms: AtomicU64,
    ticked: Notify,
}

/// A shareable clock: cloning gives another handle to the same time.
///
/// ```
/// use std::time::Duration;
/// use fly_machines_sim::Clock;
///
/// let clock = Clock::manual();
/// let before = clock.now_ms();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now_ms(), before + 5_000);
/// ```
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

impl Clock {
    /// A clock that follows wall time.
    pub fn real() -> Clock {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(MANUAL_EPOCH_MS);
        Clock::new(Kind::Real {
            origin: Instant::now(),
            origin_ms,
        })
    }

    /// A clock that only moves when [`advance`](Clock::advance) is called, starting at
    /// 2025-01-01T00:00:00Z ([`MANUAL_EPOCH_MS`]).
    pub fn manual() -> Clock {
        Clock::manual_at(UNIX_EPOCH + Duration::from_millis(MANUAL_EPOCH_MS))
    }

    /// A manual clock starting at `start` (times before 1970 are clamped to the epoch).
    pub fn manual_at(start: SystemTime) -> Clock {
        let ms = start
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock::new(Kind::Manual {
            now_ms: AtomicU64::new(ms),
        })
    }

    fn new(kind: Kind) -> Clock {
        Clock {
            inner: Arc::new(Inner {
                kind,
                offset_ms: AtomicU64::new(0),
                ticked: Notify::new(),
            }),
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.inner.kind, Kind::Manual { .. })
    }

    /// The current time in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        let base = match &self.inner.kind {
            Kind::Real { origin, origin_ms } => origin_ms
                .saturating_add(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)),
            Kind::Manual { now_ms } => now_ms.load(Ordering::SeqCst),
        };
        base.saturating_add(self.inner.offset_ms.load(Ordering::SeqCst))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }

    /// Moves time forward by `by` (millisecond resolution, saturating at the largest time
    /// representable) and wakes everything waiting on the clock. On the real clock this adds a permanent offset to wall time.
    pub fn advance(&self, by: Duration) {
        let ms = crate::time::millis(by);
        let counter = match &self.inner.kind {
            Kind::Manual { now_ms } => now_ms,
            Kind::Real { .. } => &self.inner.offset_ms,
        };
        // Saturates: a clock advanced past the end of time stays at the end.
        let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
            Some(t.saturating_add(ms))
        });
        self.inner.ticked.notify_waiters();
    }

    /// Resolves on the next call to [`advance`](Clock::advance) (registered on creation).
    pub(crate) fn ticked(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.ticked.notified()
    }
}

impl Default for Clock {
    /// The real clock.
    fn default() -> Clock {
        Clock::real()
    }
}
