//! What the user sets: the limit of each class, the margin, the longest wait, the slow-down
//! after a 429, and (with the `redis` feature) where a shared budget lives.

use std::time::Duration;

use fly_machines_api::RateLimitClass;

/// One class's limit: a steady rate and a burst (Fly's are [`RateLimitClass::fly_limit`]).
pub use fly_machines_api::RateLimit as Limit;

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
    /// The shared budget's settings; `None` paces in this process alone.
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<super::shared::SharedLimits>,
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
        self.limits[class.index()] = limit;
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

    /// The limit of `class`.
    pub(crate) fn get(&self, class: RateLimitClass) -> Limit {
        self.limits[class.index()]
    }
}
