//! The seam between the front and what decides admissions: this process alone (the local
//! backend), or a budget shared with other processes, with the local backend pacing whatever
//! the shared budget cannot decide.
//!
//! Local admission, the hot path, is a direct call on [`LocalLimiter`]. The shared budget sits
//! behind [`SharedBudget`], so the front and the local backend compile the same with or without
//! the `redis` feature; its calls make a network round trip anyway.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::key::LimitKey;
use super::local::LocalLimiter;
use super::settings::{Limit, RateLimits};
use crate::clock::Clock;

/// How a key slows down after a 429: held for `hold`, then one call per `spacing` until
/// `cooldown` after the hold. The front works it out once; each backend keeps it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slowdown {
    pub(crate) hold: Duration,
    pub(crate) spacing: Duration,
    pub(crate) cooldown: Duration,
}

/// A shared budget's decision, once it has waited for the slot: `Ok(waited)`, `Err(wait)` when
/// the wait would pass the maximum, `None` when the budget could not decide.
pub(crate) type Decision<'a> =
    Pin<Box<dyn Future<Output = Option<Result<Duration, Duration>>> + Send + 'a>>;

/// A budget kept outside this process and drawn on by every replica that shares it.
pub(crate) trait SharedBudget: Any + Send + Sync {
    /// Decides a call on `key` under `limit` and waits for the slot it reserved. Must never
    /// hang: a store that is slow or down answers `None` within its own timeout.
    fn admit<'a>(&'a self, key: &'a LimitKey, limit: Limit) -> Decision<'a>;

    /// Records a 429 on `key` for every replica, without making the caller wait.
    fn report_429(self: Arc<Self>, key: &LimitKey, slowdown: Slowdown);
}

/// Who decides admissions.
pub(crate) enum Backend {
    /// This process alone.
    Local(LocalLimiter),
    /// A shared budget first; `fallback` paces the calls it cannot decide, and keeps 429
    /// penalties too, so that falling back does not forget them.
    Shared {
        budget: Arc<dyn SharedBudget>,
        fallback: LocalLimiter,
    },
}

impl Backend {
    /// The backend `settings` ask for: shared when they configure a shared budget (only with
    /// the `redis` feature), local otherwise.
    pub(crate) fn choose(settings: &RateLimits, clock: Arc<dyn Clock>) -> Self {
        let local = LocalLimiter::new(settings, Arc::clone(&clock));
        let budget: Option<Arc<dyn SharedBudget>> = None;
        #[cfg(feature = "redis")]
        let budget = budget.or_else(|| {
            super::shared::SharedLimiter::from_limits(settings, clock)
                .map(|shared| shared as Arc<dyn SharedBudget>)
        });
        match budget {
            Some(budget) => Backend::Shared {
                budget,
                fallback: local,
            },
            None => Backend::Local(local),
        }
    }

    /// The local limiter: the whole backend, or the shared one's fallback.
    #[inline]
    pub(crate) fn local(&self) -> &LocalLimiter {
        match self {
            Backend::Local(local)
            | Backend::Shared {
                fallback: local, ..
            } => local,
        }
    }
}
