//! Whether Redis is answering: the shared limiter's fallback switch and its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{SharedError, SharedStats};

/// Whether Redis is answering, and when to try it again if not.
pub(super) struct Health {
    origin: Instant,
    down: AtomicBool,
    /// Milliseconds since `origin` before which calls do not try Redis.
    retry_at_ms: AtomicU64,
    shared_decisions: AtomicU64,
    fallbacks: AtomicU64,
    outages: AtomicU64,
}

impl Health {
    pub(super) fn new() -> Self {
        Health {
            origin: Instant::now(),
            down: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            shared_decisions: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn should_try(&self) -> bool {
        !self.down.load(Ordering::Acquire)
            || self.now_ms() >= self.retry_at_ms.load(Ordering::Acquire)
    }

    pub(super) fn answered(&self) {
        self.shared_decisions.fetch_add(1, Ordering::Relaxed);
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the shared rate limiter answers again; pacing through it");
        }
    }

    pub(super) fn failed(&self, error: &SharedError, retry_interval: Duration) {
        let retry_ms = u64::try_from(retry_interval.as_millis()).unwrap_or(u64::MAX);
        self.retry_at_ms
            .store(self.now_ms().saturating_add(retry_ms), Ordering::Release);
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                error = %error,
                "the shared rate limiter is unreachable; pacing locally until it answers"
            );
        }
    }

    /// Counts a decision or penalty Redis did not take.
    pub(super) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> SharedStats {
        SharedStats {
            shared_decisions: self.shared_decisions.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
        }
    }
}
