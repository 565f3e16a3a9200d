//! Whether Redis is answering: the shared limiter's fallback switch and its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{SharedError, SharedStats};

/// Whether Redis is answering, and when to try it again if not.
///
/// Redis is taken for down (one warning, one outage counted) when it refuses or fails a call,
/// or when a call times out and nothing else has been answered for a whole decision timeout
/// either. A timeout while other calls are being answered is a busy moment, not an outage: that
/// call alone paces locally. While down, calls pace locally without asking Redis, except one
/// probe per retry interval; the first answer ends the outage.
pub(super) struct Health {
    origin: Instant,
    decision_timeout_ms: u64,
    retry_interval_ms: u64,
    down: AtomicBool,
    /// Milliseconds since `origin`: the next probe while down.
    retry_at_ms: AtomicU64,
    /// Milliseconds since `origin` of the last answer (0 before the first).
    last_answer_ms: AtomicU64,
    shared_decisions: AtomicU64,
    fallbacks: AtomicU64,
    outages: AtomicU64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Health {
    pub(super) fn new(decision_timeout: Duration, retry_interval: Duration) -> Self {
        Health {
            origin: Instant::now(),
            decision_timeout_ms: millis(decision_timeout),
            retry_interval_ms: millis(retry_interval),
            down: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            last_answer_ms: AtomicU64::new(0),
            shared_decisions: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        millis(self.origin.elapsed())
    }

    /// Whether this call should ask Redis: always while it is up; during an outage only the one
    /// call that takes the next probe.
    pub(super) fn should_try(&self) -> bool {
        if !self.down.load(Ordering::Acquire) || self.retry_interval_ms == 0 {
            return true;
        }
        let now = self.now_ms();
        let due = self.retry_at_ms.load(Ordering::Acquire);
        now >= due
            && self
                .retry_at_ms
                .compare_exchange(
                    due,
                    now.saturating_add(self.retry_interval_ms),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub(super) fn answered(&self) {
        self.shared_decisions.fetch_add(1, Ordering::Relaxed);
        self.last_answer_ms
            .fetch_max(self.now_ms(), Ordering::AcqRel);
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the shared rate limiter answers again; pacing through it");
        }
    }

    /// Books a call Redis did not decide, and whether that starts an outage.
    pub(super) fn failed(&self, error: &SharedError) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let quiet_for = now.saturating_sub(self.last_answer_ms.load(Ordering::Acquire));
        let busy = matches!(error, SharedError::Timeout(_)) && quiet_for < self.decision_timeout_ms;
        if busy || matches!(error, SharedError::Waiting) {
            tracing::debug!(error = %error, "one call paced locally");
            return;
        }
        self.retry_at_ms.store(
            now.saturating_add(self.retry_interval_ms),
            Ordering::Release,
        );
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                error = %error,
                "the shared rate limiter is unreachable; pacing locally until it answers"
            );
        }
    }

    pub(super) fn stats(&self) -> SharedStats {
        SharedStats {
            shared_decisions: self.shared_decisions.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_timeout_while_others_are_answered_is_not_an_outage() {
        let health = Health::new(HOUR, HOUR);
        health.answered();
        health.failed(&SharedError::Timeout(HOUR));
        assert_eq!(health.stats().fallbacks, 1);
        assert_eq!(health.stats().outages, 0);
        assert!(health.should_try(), "still up: every call asks Redis");
    }

    #[test]
    fn a_timeout_after_a_quiet_timeout_or_any_error_starts_one_outage() {
        // With a zero timeout, any timeout comes after a whole quiet timeout.
        let health = Health::new(Duration::ZERO, HOUR);
        health.answered();
        health.failed(&SharedError::Timeout(Duration::ZERO));
        assert_eq!(health.stats().outages, 1);
        let refused = Health::new(HOUR, HOUR);
        refused.answered();
        refused.failed(&SharedError::Redis("connection refused".into()));
        refused.failed(&SharedError::Redis("connection refused".into()));
        assert_eq!((refused.stats().outages, refused.stats().fallbacks), (1, 2));
        // Down: no call asks Redis before the next probe, an hour away.
        assert!(!refused.should_try());
        // An answer (from a probe) ends the outage.
        refused.answered();
        assert!(refused.should_try());
    }

    #[test]
    fn during_an_outage_one_call_takes_each_probe() {
        let health = Health::new(HOUR, HOUR);
        health.failed(&SharedError::Redis("connection refused".into()));
        // Make the next probe due now.
        health.retry_at_ms.store(0, Ordering::Release);
        let asking = (0..10).filter(|_| health.should_try()).count();
        assert_eq!(asking, 1);
    }
}
