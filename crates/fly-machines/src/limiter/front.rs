//! The limiter's front: what the request policy calls (admit a call, wait for its turn,
//! penalize a key after a 429) and what every backend shares (the keys, the maximum wait, the
//! slow-down after a 429, the wait the call's span reports).

use std::sync::Arc;
use std::time::Duration;

use fly_machines_api::{Operation, RateLimitClass};

use super::backend::{Backend, Slowdown};
use super::key::LimitKey;
use super::settings::RateLimits;
use crate::clock::{Clock, TokioClock};

/// The rate limiter of one client: Fly's limits paced before the server has to refuse a call.
///
/// Fly limits each action per machine (per app where there is no machine yet); the numbers per
/// class live in [`RateLimitClass::fly_limit`]. Calls wait for their turn instead of failing,
/// and after a 429 the key is held until `Retry-After` and then paced without bursts for a
/// while. The budget is this process's own, or shared with replicas through Redis (feature
/// `redis`, `RateLimits::shared`), with this process pacing whatever Redis cannot decide.
pub struct Limiter {
    settings: RateLimits,
    pub(super) backend: Backend,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// Builds the limiter on tokio's clock; `None` when limiting is off.
    pub fn new(settings: RateLimits) -> Option<Limiter> {
        Limiter::with_clock(settings, Arc::new(TokioClock))
    }

    /// Builds the limiter on a given clock; `None` when limiting is off.
    pub fn with_clock(settings: RateLimits, clock: Arc<dyn Clock>) -> Option<Limiter> {
        if !settings.enabled {
            return None;
        }
        Some(Limiter {
            backend: Backend::choose(&settings, clock),
            settings,
        })
    }

    /// The key for `operation` on the request path `url_path`.
    #[inline]
    pub fn key(operation: &'static Operation, url_path: &str) -> LimitKey {
        LimitKey::of_call(operation, url_path)
    }

    /// Admits a call on `key` if it may go right now, without waiting; `false` when it would
    /// have to wait (then [`acquire`](Self::acquire) does the waiting).
    // Inline: every call comes this way first, and the front should add no call of its own.
    #[inline]
    pub fn try_acquire(&self, class: RateLimitClass, key: &LimitKey) -> bool {
        match &self.backend {
            Backend::Local(local) => local.try_acquire(class, key),
            // Only the shared budget can say; that takes a round trip, on the waiting path.
            Backend::Shared { .. } => false,
        }
    }

    /// Waits for the key's turn. Returns how long it waited (what the call's span reports as
    /// `limiter_wait_ms`), or `Err(wait)` when the wait would exceed the configured maximum.
    pub async fn acquire(
        &self,
        class: RateLimitClass,
        key: &LimitKey,
    ) -> Result<Duration, Duration> {
        if let Backend::Shared { budget, .. } = &self.backend
            && let Some(decision) = budget.admit(key, self.settings.get(class)).await
        {
            return decision;
        }
        self.backend
            .local()
            .acquire(class, key, self.settings.max_wait)
            .await
    }

    /// Records a 429 for `key`: hold it for `retry_after` (at least one interval), then pace it at
    /// half its sustained rate, without bursts, for the cooldown.
    ///
    /// The client passes `Retry-After` already cut to the retry policy's `max_retry_after`; the
    /// arithmetic here saturates all the same, so no value can panic.
    pub fn penalize(&self, class: RateLimitClass, key: &LimitKey, retry_after: Option<Duration>) {
        if !self.settings.adaptive {
            return;
        }
        let interval = self.settings.get(class).interval;
        let slowdown = Slowdown {
            hold: retry_after.unwrap_or(interval).max(interval),
            spacing: interval.saturating_mul(2),
            cooldown: self.settings.cooldown,
        };
        if let Backend::Shared { budget, .. } = &self.backend {
            Arc::clone(budget).report_429(key, slowdown);
        }
        self.backend.local().penalize(key, slowdown);
    }

    /// Drops state of keys that have been idle long enough to be back at full burst.
    pub fn prune(&self) {
        self.backend.local().prune();
    }

    /// How many keys currently hold state in this process (for tests and benchmarks).
    pub fn tracked_keys(&self) -> usize {
        self.backend.local().tracked_keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::local::PRUNE_EVERY;
    use fly_machines_api::OperationId;
    use tokio::time::Instant;

    fn key(s: &str) -> LimitKey {
        LimitKey::new(OperationId::MachinesStart, s)
    }

    #[tokio::test(start_paused = true)]
    async fn burst_of_three_then_one_per_second() {
        let limiter = Limiter::new(RateLimits::fly_defaults().margin(0.0)).unwrap();
        let start = Instant::now();
        let mut admitted_at = Vec::new();
        for _ in 0..6 {
            limiter
                .acquire(RateLimitClass::PerMachine, &key("m1"))
                .await
                .unwrap();
            admitted_at.push(start.elapsed().as_millis());
        }
        assert_eq!(admitted_at, vec![0, 0, 0, 1000, 2000, 3000]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_margin_widens_the_spacing() {
        let limiter = Limiter::new(RateLimits::fly_defaults().margin(0.05)).unwrap();
        let start = Instant::now();
        for _ in 0..4 {
            limiter
                .acquire(RateLimitClass::PerMachine, &key("m1"))
                .await
                .unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1050));
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_do_not_wait_for_each_other() {
        let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
        let start = Instant::now();
        for i in 0..100 {
            for _ in 0..3 {
                limiter
                    .acquire(RateLimitClass::PerMachine, &key(&format!("m{i}")))
                    .await
                    .unwrap();
            }
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(limiter.tracked_keys(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn max_wait_gives_up_instead_of_waiting() {
        let limiter = Limiter::new(
            RateLimits::fly_defaults()
                .margin(0.0)
                .max_wait(Some(Duration::from_millis(500))),
        )
        .unwrap();
        for _ in 0..3 {
            limiter
                .acquire(RateLimitClass::PerMachine, &key("m"))
                .await
                .unwrap();
        }
        let err = limiter
            .acquire(RateLimitClass::PerMachine, &key("m"))
            .await
            .unwrap_err();
        assert_eq!(err, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_the_key_then_paces_it_without_bursts() {
        let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
        let k = key("m");
        limiter.penalize(RateLimitClass::PerMachine, &k, Some(Duration::from_secs(3)));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..3 {
            limiter
                .acquire(RateLimitClass::PerMachine, &k)
                .await
                .unwrap();
            at.push(start.elapsed().as_millis());
        }
        // Without the penalty these three would all have gone at 0 ms.
        assert_eq!(at, vec![3000, 5000, 7000]);
        // Another key is not affected.
        let before = Instant::now();
        limiter
            .acquire(RateLimitClass::PerMachine, &key("other"))
            .await
            .unwrap();
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_pruned() {
        let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
        for i in 0..50 {
            limiter
                .acquire(RateLimitClass::PerMachine, &key(&format!("m{i}")))
                .await
                .unwrap();
        }
        assert_eq!(limiter.tracked_keys(), 50);
        tokio::time::advance(Duration::from_secs(10)).await;
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn try_acquire_admits_the_burst_and_leaves_waiting_to_acquire() {
        let limiter = Limiter::new(RateLimits::fly_defaults().margin(0.0)).unwrap();
        let class = RateLimitClass::PerMachine;
        assert!((0..3).all(|_| limiter.try_acquire(class, &key("m1"))));
        assert!(
            !limiter.try_acquire(class, &key("m1")),
            "the burst is spent"
        );
        assert!(
            limiter.try_acquire(class, &key("m2")),
            "other keys are not held"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limiter.try_acquire(class, &key("m1")));
        // Any penalty in force sends calls down the waiting path.
        limiter.penalize(class, &key("m3"), None);
        assert!(!limiter.try_acquire(class, &key("m2")));
    }

    #[tokio::test(start_paused = true)]
    async fn admissions_prune_idle_keys_on_their_own() {
        let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
        let admit_batch = |batch: usize| {
            let limiter = &limiter;
            async move {
                for i in 0..PRUNE_EVERY {
                    let key = key(&format!("b{batch}-m{i}"));
                    limiter
                        .acquire(RateLimitClass::PerMachine, &key)
                        .await
                        .unwrap();
                }
            }
        };
        admit_batch(0).await;
        tokio::time::advance(Duration::from_secs(60)).await;
        // Two more batches pass at least one pruning point, which drops the idle first batch
        // and keeps every key admitted since.
        admit_batch(1).await;
        admit_batch(2).await;
        assert_eq!(limiter.tracked_keys(), 2 * PRUNE_EVERY as usize);
    }
}
