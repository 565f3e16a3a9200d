//! Fly's rate limits, paced on the client before the server has to refuse a call.
//!
//! Fly limits each action per machine (per app where there is no machine yet); the numbers per
//! class live in [`RateLimitClass::fly_limit`]. We keep one keyed GCRA limiter (`governor`)
//! per class, keyed by (operation, machine or app). Calls wait for their turn instead of failing.
//! After a 429 the key is held until `Retry-After` and then paced without bursts for a while.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fly_machines_api::{LimitScope, Operation, OperationId, RateLimitClass};
use governor::clock::Clock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::sync::Arc;
use std::time::Instant;

use crate::clock::{TokioClock, later};

/// Adapts our [`crate::clock::Clock`] to governor's clock trait.
#[derive(Debug, Clone)]
pub(crate) struct GovernorClock(Arc<dyn crate::clock::Clock>);

impl Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// One class's limit: a steady rate and a burst (Fly's are [`RateLimitClass::fly_limit`]).
pub use fly_machines_api::RateLimit as Limit;

/// The quota of `limit`, with the interval between calls stretched by `margin` (e.g. 0.05 for 5%).
fn quota(limit: Limit, margin: f64) -> Quota {
    let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let interval = limit.interval.mul_f64(1.0 + margin.max(0.0));
    Quota::with_period(interval.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// Client-side rate limiting settings.
///
/// The budget lives in this process by default. With the `redis` feature, `RateLimits::shared`
/// moves it into Redis or Valkey so that replicas sharing a token and app pace together, with
/// this process's local limiter taking over while Redis does not answer (see the crate docs,
/// "Replicas").
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub(crate) enabled: bool,
    /// Indexed by [`RateLimitClass::index`].
    pub(crate) limits: [Limit; RateLimitClass::ALL.len()],
    pub(crate) max_wait: Option<Duration>,
    pub(crate) adaptive: bool,
    pub(crate) cooldown: Duration,
    pub(crate) margin: f64,
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<crate::shared_limiter::SharedLimits>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::fly_defaults()
    }
}

impl RateLimits {
    /// Fly's documented limits ([`RateLimitClass::fly_limit`]); adaptive slow-down after a 429;
    /// no maximum wait.
    pub fn fly_defaults() -> Self {
        RateLimits {
            enabled: true,
            limits: RateLimitClass::ALL.map(RateLimitClass::fly_limit),
            max_wait: None,
            adaptive: true,
            cooldown: Duration::from_secs(10),
            margin: 0.05,
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// No client-side limiting at all.
    pub fn off() -> Self {
        RateLimits {
            enabled: false,
            ..RateLimits::fly_defaults()
        }
    }

    /// Spaces paced calls a little wider than the limit (default 0.05, i.e. 5%), because Fly
    /// counts a call when it arrives, and network delay varies: without a margin, a call sent
    /// exactly on time can arrive early relative to the one before it.
    pub fn margin(mut self, fraction: f64) -> Self {
        self.margin = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Sets the limit of one class.
    pub fn limit(mut self, class: RateLimitClass, limit: Limit) -> Self {
        *self.slot(class) = limit;
        self
    }

    /// Longest a call may wait for its turn; past that it fails with a 429-style error
    /// (code `client_rate_limited`) instead of waiting.
    pub fn max_wait(mut self, max: Option<Duration>) -> Self {
        self.max_wait = max;
        self
    }

    /// Whether a 429 slows the key down (on by default), and for how long after the 429.
    pub fn adaptive(mut self, on: bool, cooldown: Duration) -> Self {
        self.adaptive = on;
        self.cooldown = cooldown;
        self
    }

    fn slot(&mut self, class: RateLimitClass) -> &mut Limit {
        &mut self.limits[class.index()]
    }

    fn get(&self, class: RateLimitClass) -> Limit {
        self.limits[class.index()]
    }
}

/// The key a call is limited under: the operation and the machine id or app name it targets.
///
/// Built on every request, so short scopes (every machine id, most app names) are kept inline
/// and making a key does not allocate.
#[derive(Clone, PartialEq, Eq)]
pub struct LimitKey {
    operation: OperationId,
    scope: Scope,
}

impl LimitKey {
    /// The key of `operation` on `scope` (a machine id, an app name, or "").
    pub fn new(operation: OperationId, scope: &str) -> Self {
        LimitKey {
            operation,
            scope: Scope::new(scope),
        }
    }

    /// The operation.
    pub fn operation(&self) -> OperationId {
        self.operation
    }

    /// The machine id or app name, "" for global calls.
    pub fn scope(&self) -> &str {
        self.scope.as_str()
    }
}

impl std::fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.operation, self.scope())
    }
}

impl std::hash::Hash for LimitKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The scope's text only: the inline form's padding would triple the bytes hashed.
        self.operation.hash(state);
        self.scope().hash(state);
    }
}

/// Longest scope kept inline; machine ids are 14 characters, app names at most 63.
const INLINE_SCOPE: usize = 46;

/// A short string without a heap allocation, or a boxed one past [`INLINE_SCOPE`] bytes. A given
/// string always takes the same form (and inline padding is zero), so the derived equality is
/// exact.
#[derive(Clone, PartialEq, Eq)]
enum Scope {
    Inline(u8, [u8; INLINE_SCOPE]),
    Heap(Box<str>),
}

impl Scope {
    fn new(scope: &str) -> Self {
        match u8::try_from(scope.len()) {
            Ok(len) if scope.len() <= INLINE_SCOPE => {
                let mut bytes = [0; INLINE_SCOPE];
                bytes[..scope.len()].copy_from_slice(scope.as_bytes());
                Scope::Inline(len, bytes)
            }
            _ => Scope::Heap(scope.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always a whole `&str` copied in `new`, so this never fails.
            Scope::Inline(len, bytes) => std::str::from_utf8(&bytes[..*len as usize]).unwrap_or(""),
            Scope::Heap(s) => s,
        }
    }
}

type Keyed = RateLimiter<
    LimitKey,
    DefaultKeyedStateStore<LimitKey>,
    GovernorClock,
    governor::middleware::NoOpMiddleware<Instant>,
>;

/// A key's state after a 429: held until `blocked_until`, then paced without bursts.
#[derive(Debug, Clone, Copy)]
struct Penalty {
    next_slot: Instant,
    paced_until: Instant,
    spacing: Duration,
}

/// The keyed limiters of one client.
pub struct Limiter {
    clock: Arc<dyn crate::clock::Clock>,
    settings: RateLimits,
    limiters: [Keyed; RateLimitClass::ALL.len()],
    penalties: Mutex<HashMap<LimitKey, Penalty>>,
    /// How many keys `penalties` holds, read without the lock.
    penalized: AtomicUsize,
    /// The shared backend (Redis), when configured; this limiter's own state paces the calls
    /// it cannot decide.
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<Arc<crate::shared_limiter::SharedLimiter>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Prune idle keys every this many admissions, so memory stays bounded as keys come and go.
const PRUNE_EVERY: u64 = 4096;

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

impl Limiter {
    /// Builds the limiters on tokio's clock; `None` when limiting is off.
    pub fn new(settings: RateLimits) -> Option<Limiter> {
        Limiter::with_clock(settings, Arc::new(TokioClock))
    }

    /// Builds the limiters on a given clock; `None` when limiting is off.
    pub fn with_clock(
        settings: RateLimits,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Option<Limiter> {
        if !settings.enabled {
            return None;
        }
        let make = |class| {
            RateLimiter::new(
                quota(settings.get(class), settings.margin),
                DefaultKeyedStateStore::default(),
                GovernorClock(clock.clone()),
            )
        };
        Some(Limiter {
            limiters: RateLimitClass::ALL.map(make),
            #[cfg(feature = "redis")]
            shared: crate::shared_limiter::SharedLimiter::from_limits(&settings, clock.clone()),
            clock,
            settings,
            penalties: Mutex::new(HashMap::new()),
            penalized: AtomicUsize::new(0),
        })
    }

    /// The key for `operation` on the request path `url_path`.
    pub fn key(operation: &'static Operation, url_path: &str) -> LimitKey {
        let scope = match operation.rate_limit.scope() {
            LimitScope::Machine => operation.path_param(url_path, "machine_id"),
            LimitScope::App => operation.path_param(url_path, "app_name"),
            LimitScope::Action => None,
        };
        LimitKey::new(operation.op, scope.unwrap_or(""))
    }

    /// Admits a call on `key` if it may go right now, without waiting; `false` when it would
    /// have to wait (then [`acquire`](Self::acquire) does the waiting).
    pub fn try_acquire(&self, class: RateLimitClass, key: &LimitKey) -> bool {
        #[cfg(feature = "redis")]
        if self.shared.is_some() {
            // Only the shared budget can say; that takes a round trip, on the waiting path.
            return false;
        }
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

    /// Waits for the key's turn. Returns how long it waited, or `Err(wait)` when the wait would
    /// exceed the configured maximum.
    pub async fn acquire(
        &self,
        class: RateLimitClass,
        key: &LimitKey,
    ) -> Result<Duration, Duration> {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Some(decision) = shared.acquire(key, self.settings.get(class)).await
        {
            return decision;
        }
        // Set at the first wait: an admission that never waits reads the clock only in governor.
        let mut started: Option<Instant> = None;
        if let Some(slot) = self.penalty_slot(key) {
            let now = self.clock.now();
            let begun = *started.get_or_insert(now);
            let wait = slot.saturating_duration_since(now);
            self.check_max_wait(begun, wait)?;
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
                    self.check_max_wait(begun, wait)?;
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

    fn check_max_wait(&self, started: Instant, next_wait: Duration) -> Result<(), Duration> {
        match self.settings.max_wait {
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
        let now = self.clock.now();
        let hold = retry_after.unwrap_or(interval).max(interval);
        let penalty = Penalty {
            next_slot: later(now, hold),
            paced_until: later(now, hold.saturating_add(self.settings.cooldown)),
            spacing: interval.saturating_mul(2),
        };
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            shared.penalize_in_background(key, hold, penalty.spacing);
        }
        let mut penalties = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        penalties.insert(key.clone(), penalty);
        self.penalized.store(penalties.len(), Ordering::Release);
    }

    /// Drops state of keys that have been idle long enough to be back at full burst.
    pub fn prune(&self) {
        for limiter in &self.limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = self.clock.now();
        let mut penalties = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        penalties.retain(|_, p| now < p.paced_until || now < p.next_slot);
        self.penalized.store(penalties.len(), Ordering::Release);
    }

    /// How many keys currently hold state (for tests and benchmarks).
    pub fn tracked_keys(&self) -> usize {
        self.limiters.iter().map(|l| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn key(s: &str) -> LimitKey {
        LimitKey::new(OperationId::MachinesStart, s)
    }

    #[test]
    fn keys_compare_by_text_short_or_long() {
        let long = "a".repeat(INLINE_SCOPE + 1);
        for scope in ["", "m1", "e784079b449483", long.as_str()] {
            let key = LimitKey::new(OperationId::MachinesStart, scope);
            assert_eq!(key.scope(), scope);
            assert_eq!(key, LimitKey::new(OperationId::MachinesStart, scope));
            assert_ne!(key, LimitKey::new(OperationId::MachinesStop, scope));
            assert_ne!(
                key,
                LimitKey::new(OperationId::MachinesStart, &format!("{scope}x"))
            );
        }
        let mut set = std::collections::HashSet::new();
        set.insert(LimitKey::new(OperationId::MachinesStart, &long));
        assert!(set.contains(&LimitKey::new(OperationId::MachinesStart, &long)));
        assert_eq!(format!("{:?}", key("m1")), "Machines_start/m1");
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

    #[test]
    fn keys_follow_fly_scopes() {
        let start = Operation::by_id("Machines_start").unwrap();
        assert_eq!(
            Limiter::key(start, "/v1/apps/a/machines/m1/start"),
            LimitKey::new(OperationId::MachinesStart, "m1")
        );
        let create = Operation::by_id("Machines_create").unwrap();
        assert_eq!(
            Limiter::key(create, "/v1/apps/a/machines"),
            LimitKey::new(OperationId::MachinesCreate, "a")
        );
        let regions = Operation::by_id("Platform_regions_get").unwrap();
        assert_eq!(
            Limiter::key(regions, "/v1/platform/regions"),
            LimitKey::new(OperationId::PlatformRegionsGet, "")
        );
    }
}
