//! The local backend: Fly's limits paced inside this process.
//!
//! One keyed GCRA limiter (`governor`) per class, keyed by [`LimitKey`]. Calls wait for their
//! turn instead of failing. After a 429 the key is held until `Retry-After` and then paced
//! without bursts for a while. It paces every call when nothing is shared, and the calls a
//! shared budget could not decide when something is.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fly_machines_api::RateLimitClass;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::backend::Slowdown;
use super::key::LimitKey;
use super::settings::{Limit, RateLimits};
use crate::clock::{Clock, later};

/// Adapts our [`Clock`] to governor's clock trait.
#[derive(Debug, Clone)]
struct GovernorClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// The quota of `limit`, with the interval between calls stretched by `margin` (e.g. 0.05 for 5%).
fn quota(limit: Limit, margin: f64) -> Quota {
    let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let interval = limit.interval.mul_f64(1.0 + margin.max(0.0));
    Quota::with_period(interval.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

type Keyed = RateLimiter<
    LimitKey,
    DefaultKeyedStateStore<LimitKey>,
    GovernorClock,
    governor::middleware::NoOpMiddleware<Instant>,
>;

/// A key's state after a 429: held until `next_slot`, then paced without bursts.
#[derive(Debug, Clone, Copy)]
struct Penalty {
    next_slot: Instant,
    paced_until: Instant,
    spacing: Duration,
}

/// The keyed limiters of one process.
pub(crate) struct LocalLimiter {
    clock: Arc<dyn Clock>,
    limiters: [Keyed; RateLimitClass::ALL.len()],
    penalties: Mutex<HashMap<LimitKey, Penalty>>,
    /// How many keys `penalties` holds, read without the lock.
    penalized: AtomicUsize,
}

/// Prune idle keys every this many admissions, so memory stays bounded as keys come and go.
pub(crate) const PRUNE_EVERY: u64 = 4096;

/// Counts admissions on this thread and says when [`PRUNE_EVERY`] have passed. Per thread, so
/// concurrent calls do not all write one shared counter; any limiter admitting on the thread
/// then prunes itself.
fn due_for_pruning() -> bool {
    thread_local! {
        static ADMITTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    ADMITTED.with(|admitted| {
        let n = admitted.get().wrapping_add(1);
        admitted.set(n);
        n % PRUNE_EVERY == 0
    })
}

impl LocalLimiter {
    /// The limiters of `settings` (limits and margin) on `clock`.
    pub(crate) fn new(settings: &RateLimits, clock: Arc<dyn Clock>) -> Self {
        let make = |class| {
            RateLimiter::new(
                quota(settings.get(class), settings.margin),
                DefaultKeyedStateStore::default(),
                GovernorClock(clock.clone()),
            )
        };
        LocalLimiter {
            limiters: RateLimitClass::ALL.map(make),
            clock,
            penalties: Mutex::new(HashMap::new()),
            penalized: AtomicUsize::new(0),
        }
    }

    /// Admits a call on `key` if it may go right now; `false` when it would have to wait.
    pub(crate) fn try_acquire(&self, class: RateLimitClass, key: &LimitKey) -> bool {
        if self.penalized.load(Ordering::Acquire) != 0 {
            // A penalty may hold this key; the waiting path sorts that out.
            return false;
        }
        if self.limiters[class.index()].check_key(key).is_err() {
            return false;
        }
        if due_for_pruning() {
            self.prune();
        }
        true
    }

    /// Waits for the key's turn. Returns how long it waited, or `Err(wait)` when the whole wait
    /// would pass `max_wait`.
    pub(crate) async fn acquire(
        &self,
        class: RateLimitClass,
        key: &LimitKey,
        max_wait: Option<Duration>,
    ) -> Result<Duration, Duration> {
        // Set at the first wait: an admission that never waits reads the clock only in governor.
        let mut started: Option<Instant> = None;
        if let Some(slot) = self.penalty_slot(key) {
            let now = self.clock.now();
            let begun = *started.get_or_insert(now);
            let wait = slot.saturating_duration_since(now);
            self.check_max_wait(max_wait, begun, wait)?;
            self.clock.sleep(wait).await;
        }
        let limiter = &self.limiters[class.index()];
        loop {
            match limiter.check_key(key) {
                Ok(()) => break,
                Err(not_until) => {
                    let now = self.clock.now();
                    let begun = *started.get_or_insert(now);
                    let wait = not_until.wait_time_from(now);
                    self.check_max_wait(max_wait, begun, wait)?;
                    self.clock.sleep(wait).await;
                }
            }
        }
        if due_for_pruning() {
            self.prune();
        }
        Ok(started.map_or(Duration::ZERO, |begun| {
            self.clock.now().saturating_duration_since(begun)
        }))
    }

    fn check_max_wait(
        &self,
        max_wait: Option<Duration>,
        started: Instant,
        next_wait: Duration,
    ) -> Result<(), Duration> {
        match max_wait {
            Some(max) => {
                let total = self
                    .clock
                    .now()
                    .saturating_duration_since(started)
                    .saturating_add(next_wait);
                if total > max { Err(total) } else { Ok(()) }
            }
            None => Ok(()),
        }
    }

    /// The slot a penalized key must wait for, taking it; `None` when the key is not penalized.
    /// Without any penalty in force this is one atomic load, so calls do not meet on the lock.
    fn penalty_slot(&self, key: &LimitKey) -> Option<Instant> {
        if self.penalized.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut penalties = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let slot = match penalties.get_mut(key) {
            Some(p) if now < p.paced_until || now < p.next_slot => {
                let slot = p.next_slot.max(now);
                p.next_slot = later(slot, p.spacing);
                Some(slot)
            }
            Some(_) => {
                penalties.remove(key);
                None
            }
            None => None,
        };
        self.penalized.store(penalties.len(), Ordering::Release);
        slot
    }

    /// Holds `key` and then paces it as `slowdown` says, from now.
    pub(crate) fn penalize(&self, key: &LimitKey, slowdown: Slowdown) {
        let now = self.clock.now();
        let penalty = Penalty {
            next_slot: later(now, slowdown.hold),
            paced_until: later(now, slowdown.hold.saturating_add(slowdown.cooldown)),
            spacing: slowdown.spacing,
        };
        let mut penalties = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        penalties.insert(key.clone(), penalty);
        self.penalized.store(penalties.len(), Ordering::Release);
    }

    /// Drops state of keys that have been idle long enough to be back at full burst.
    pub(crate) fn prune(&self) {
        for limiter in &self.limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = self.clock.now();
        let mut penalties = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        penalties.retain(|_, p| now < p.paced_until || now < p.next_slot);
        self.penalized.store(penalties.len(), Ordering::Release);
    }

    /// How many keys currently hold state.
    pub(crate) fn tracked_keys(&self) -> usize {
        self.limiters.iter().map(|l| l.len()).sum()
    }
}
