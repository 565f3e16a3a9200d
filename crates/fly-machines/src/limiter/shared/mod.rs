//! The shared limiter backend: Fly's limits paced across replicas through Redis or Valkey.
//!
//! Every replica of a service that uses one token and app draws on one budget per Fly key. Each
//! decision is one script call (reservation-style GCRA on the Redis server's clock, after any
//! 429 penalty in force), so replicas never race and their clocks do not matter. When Redis
//! fails or is slow, it answers that it could not decide, and the front has the local backend
//! pace the call; the outage is logged once and every fallback is counted.

mod health;
mod scripts;
mod settings;

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::backend::{Backend, Decision, SharedBudget, Slowdown};
use super::front::Limiter;
use super::key::LimitKey;
use super::settings::{Limit, RateLimits};
use crate::clock::Clock;
use health::Health;
use scripts::LuaScript;
use settings::redacted_url;
pub use settings::{
    DEFAULT_ARRIVAL_ALLOWANCE, DEFAULT_DECISION_TIMEOUT, DEFAULT_LONGEST_WAIT,
    DEFAULT_RETRY_INTERVAL, SharedLimits,
};

impl Limiter {
    /// The shared backend, when [`RateLimits::shared`] configured one.
    pub fn shared(&self) -> Option<&SharedLimiter> {
        match &self.backend {
            Backend::Shared { budget, .. } => (budget.as_ref() as &dyn Any).downcast_ref(),
            Backend::Local(_) => None,
        }
    }
}

/// Why the shared limiter could not decide.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// Redis did not answer within the decision timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or could not be reached.
    #[error("Redis: {0}")]
    Redis(String),
    /// An outage is in progress and the next attempt to reach Redis is not due yet.
    #[error("Redis is unreachable; next attempt not due yet")]
    Waiting,
    /// Redis answered something the limiter's script never returns: a wait past the maximum
    /// wait or the longest plausible one, a negative wait, an unknown verdict, or a script
    /// loaded under another SHA-1. The call is paced locally instead.
    #[error("Redis answered out of bounds: {0}")]
    OutOfBounds(String),
}

/// One decision of the shared limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Whether a slot was reserved (`false` when the wait would pass the maximum wait).
    pub admitted: bool,
    /// How long the call must wait before it goes (or would have had to, when not admitted).
    pub wait: Duration,
    /// The Redis server's clock when it decided, in microseconds since the Unix epoch.
    pub server_time_us: u64,
}

impl Reservation {
    /// When the call may go, on the Redis server's clock (microseconds since the Unix epoch).
    pub fn admitted_at_us(&self) -> u64 {
        self.server_time_us
            .saturating_add(u64::try_from(self.wait.as_micros()).unwrap_or(u64::MAX))
    }
}

/// Counters of the shared limiter's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedStats {
    /// Decisions Redis made.
    pub shared_decisions: u64,
    /// Decisions and 429 penalties Redis did not take because it failed, was slow or was known
    /// down: the local limiter had them instead.
    pub fallbacks: u64,
    /// Outages seen: each started with a failure after Redis had answered (or before it ever
    /// did), and each logged one warning.
    pub outages: u64,
}

/// The running shared backend of one [`Limiter`]: its budget in Redis, Redis's health, and the
/// 429 penalties still being written.
pub struct SharedLimiter {
    settings: SharedLimits,
    margin: f64,
    max_wait: Option<Duration>,
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    client: Result<redis::Client, String>,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    acquire: LuaScript,
    penalize: LuaScript,
    health: Health,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The script's answer: admitted (0 or 1), wait and server time in microseconds.
type ScriptAnswer = (i64, i64, i64);

impl SharedLimiter {
    /// The backend for `limits`, or `None` when no shared store is configured. Connects lazily,
    /// on the first call.
    pub(crate) fn from_limits(limits: &RateLimits, clock: Arc<dyn Clock>) -> Option<Arc<Self>> {
        let settings = limits.shared.clone()?;
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| {
            format!(
                "Redis URL {:?} cannot be used: {e}",
                redacted_url(&settings.url)
            )
        });
        Some(Arc::new(SharedLimiter {
            margin: limits.margin,
            max_wait: limits.max_wait,
            cooldown: limits.cooldown,
            clock,
            client,
            connection: tokio::sync::OnceCell::new(),
            acquire: scripts::acquire(),
            penalize: scripts::penalize(),
            health: Health::new(settings.decision_timeout, settings.retry_interval),
            background: Mutex::new(Vec::new()),
            settings,
        }))
    }

    /// The Redis key holding the state of `key`.
    pub fn redis_key(&self, key: &LimitKey) -> String {
        format!(
            "{}:{}:{}:{}",
            self.settings.prefix,
            self.settings.namespace.as_deref().unwrap_or("default"),
            key.operation(),
            key.scope()
        )
    }

    /// The namespace keys are written under.
    pub fn namespace(&self) -> &str {
        self.settings.namespace.as_deref().unwrap_or("default")
    }

    /// The health counters so far.
    pub fn stats(&self) -> SharedStats {
        self.health.stats()
    }

    /// Reserves the next slot of `key` under `limit` (with the margin and maximum wait of the
    /// limiter's settings) without waiting for it: the caller must wait
    /// [`Reservation::wait`] before sending. One script round trip, bounded by the decision
    /// timeout.
    pub async fn reserve(&self, key: &LimitKey, limit: Limit) -> Result<Reservation, SharedError> {
        let interval_us = self.interval_us(limit);
        let max_wait_us = self.max_wait.map_or(-1, micros);
        let name = self.redis_key(key);
        let burst = i64::from(limit.burst.max(1));
        let horizon_us = micros(self.settings.longest_wait);
        let allowance_us = micros(self.settings.arrival_allowance);
        let args = [interval_us, burst, max_wait_us, horizon_us, allowance_us];
        self.run_script(&self.acquire, name, args, |answer: ScriptAnswer| {
            self.check_answer(answer)
        })
        .await
    }

    /// The script's answer as a reservation, if it is one the script can give: a verdict of 0
    /// or 1, a wait that is not negative, within the maximum wait (when set) and within the
    /// longest plausible wait, and a refusal only when a maximum wait is set.
    fn check_answer(
        &self,
        (admitted, wait_us, now_us): ScriptAnswer,
    ) -> Result<Reservation, SharedError> {
        let out = |what: String| Err(SharedError::OutOfBounds(what));
        let Ok(wait) = u64::try_from(wait_us).map(Duration::from_micros) else {
            return out(format!("a negative wait of {wait_us} us"));
        };
        let bound = self.max_wait.map_or(self.settings.longest_wait, |max| {
            max.min(self.settings.longest_wait)
        });
        match admitted {
            1 if wait > bound => out(format!(
                "a wait of {wait:?}, past the longest accepted ({bound:?})"
            )),
            1 => Ok(Reservation {
                admitted: true,
                wait,
                server_time_us: u64::try_from(now_us).unwrap_or(0),
            }),
            0 if self.max_wait.is_some() => Ok(Reservation {
                admitted: false,
                wait,
                server_time_us: u64::try_from(now_us).unwrap_or(0),
            }),
            0 => out("a refusal, with no maximum wait set".to_string()),
            other => out(format!("a verdict of {other}")),
        }
    }

    /// Records a 429 on `key` for every replica: held for `hold`, then one call per `spacing`
    /// until the cooldown after the hold has passed.
    pub async fn penalize(
        &self,
        key: &LimitKey,
        hold: Duration,
        spacing: Duration,
    ) -> Result<(), SharedError> {
        let cooldown = self.cooldown;
        self.write_penalty(
            key,
            Slowdown {
                hold,
                spacing,
                cooldown,
            },
        )
        .await
    }

    /// Writes `slowdown` on `key` in Redis.
    async fn write_penalty(&self, key: &LimitKey, slowdown: Slowdown) -> Result<(), SharedError> {
        let args = [slowdown.hold, slowdown.cooldown, slowdown.spacing].map(micros);
        let name = self.redis_key(key);
        self.run_script(&self.penalize, name, args, |_: i64| Ok(()))
            .await
    }

    /// Waits until every penalty sent in the background so far has been written (or failed).
    pub async fn flush(&self) {
        let pending: Vec<_> =
            std::mem::take(&mut *self.background.lock().unwrap_or_else(|e| e.into_inner()));
        for task in pending {
            let _ = task.await;
        }
    }

    /// Decides through Redis and waits for the slot. `None` when Redis could not decide: the
    /// caller paces locally instead.
    async fn reserve_and_wait(
        &self,
        key: &LimitKey,
        limit: Limit,
    ) -> Option<Result<Duration, Duration>> {
        let reservation = self.reserve(key, limit).await.ok()?;
        if !reservation.admitted {
            return Some(Err(reservation.wait));
        }
        if !reservation.wait.is_zero() {
            self.clock.sleep(reservation.wait).await;
        }
        Some(Ok(reservation.wait))
    }

    fn interval_us(&self, limit: Limit) -> i64 {
        let interval = limit.interval.as_secs_f64() * 1e6 * (1.0 + self.margin);
        (interval.ceil() as i64).max(1)
    }

    /// Runs one script call within the decision timeout and checks its answer with `check`,
    /// tracking Redis's health; a failure (an answer out of bounds included) counts one
    /// fallback.
    async fn run_script<T: redis::FromRedisValue, U, const N: usize>(
        &self,
        script: &LuaScript,
        key: String,
        args: [i64; N],
        check: impl FnOnce(T) -> Result<U, SharedError>,
    ) -> Result<U, SharedError> {
        let result = if self.health.should_try() {
            let attempt = async {
                let mut conn = self.connection().await?;
                script.invoke(&mut conn, &key, &args).await
            };
            match tokio::time::timeout(self.settings.decision_timeout, attempt).await {
                Ok(Ok(answer)) => check(answer),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(SharedError::Timeout(self.settings.decision_timeout)),
            }
        } else {
            Err(SharedError::Waiting)
        };
        match &result {
            Ok(_) => self.health.answered(),
            Err(e) => self.health.failed(e),
        }
        result
    }

    /// The connection, made on first use with both scripts loaded, so that the first burst of
    /// calls does not meet `NOSCRIPT` all at once. Concurrent first calls share one attempt; a
    /// failed attempt is made again by the next call. Once made, it reconnects on its own after
    /// Redis comes back (and a script missing after a restart is loaded again on first use).
    async fn connection(&self) -> Result<ConnectionManager, SharedError> {
        let conn = self
            .connection
            .get_or_try_init(|| async {
                let client = self.client.clone().map_err(SharedError::Redis)?;
                let timeout = self.settings.decision_timeout;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                let mut conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| SharedError::Redis(format!("cannot connect to Redis: {e}")))?;
                for script in [&self.acquire, &self.penalize] {
                    script.load(&mut conn).await?;
                }
                Ok::<_, SharedError>(conn)
            })
            .await?;
        Ok(conn.clone())
    }
}

impl SharedBudget for SharedLimiter {
    fn admit<'a>(&'a self, key: &'a LimitKey, limit: Limit) -> Decision<'a> {
        Box::pin(self.reserve_and_wait(key, limit))
    }

    /// Sends the penalty without making the caller wait for Redis; [`SharedLimiter::flush`]
    /// waits for it. Outside a tokio runtime the penalty stays with the local backend.
    fn report_429(self: Arc<Self>, key: &LimitKey, slowdown: Slowdown) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let background = Arc::clone(&self);
        let key = key.clone();
        let task = runtime.spawn(async move {
            if let Err(e) = background.write_penalty(&key, slowdown).await {
                tracing::debug!(error = %e, "a 429 penalty stayed local");
            }
        });
        let mut pending = self.background.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|t| !t.is_finished());
        pending.push(task);
    }
}

/// `d` in microseconds, for the scripts (saturating).
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
