//! The shared limiter backend: Fly's limits paced across replicas through Redis or Valkey.
//!
//! Every replica of a service that uses one token and app draws on one budget per Fly key. Each
//! decision is one script call (reservation-style GCRA on the Redis server's clock, after any
//! 429 penalty in force), so replicas never race and their clocks do not matter. When Redis
//! fails or is slow, the call falls back to the local limiter of its own [`Limiter`]; the
//! outage is logged once and every fallback is counted.

mod health;
mod settings;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::Clock;
use crate::limiter::{Limit, LimitKey, Limiter, RateLimits};
use health::Health;
use settings::redacted_url;
pub use settings::{DEFAULT_DECISION_TIMEOUT, DEFAULT_RETRY_INTERVAL, SharedLimits};

impl Limiter {
    /// The shared backend, when [`RateLimits::shared`] configured one.
    pub fn shared(&self) -> Option<&SharedLimiter> {
        self.shared.as_deref()
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

/// The running shared backend of one [`Limiter`].
pub struct SharedLimiter {
    settings: SharedLimits,
    margin: f64,
    max_wait: Option<Duration>,
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    client: Result<redis::Client, String>,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    acquire: redis::Script,
    penalize: redis::Script,
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
            acquire: redis::Script::new(include_str!("shared_limiter/acquire.lua")),
            penalize: redis::Script::new(include_str!("shared_limiter/penalize.lua")),
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
        let max_wait_us = self
            .max_wait
            .map_or(-1, |max| i64::try_from(max.as_micros()).unwrap_or(i64::MAX));
        let name = self.redis_key(key);
        let burst = i64::from(limit.burst.max(1));
        let answer: ScriptAnswer = self
            .run_script(&self.acquire, |mut conn, script| async move {
                script
                    .key(name)
                    .arg(interval_us)
                    .arg(burst)
                    .arg(max_wait_us)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let (admitted, wait_us, now_us) = answer;
        Ok(Reservation {
            admitted: admitted == 1,
            wait: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)),
            server_time_us: u64::try_from(now_us).unwrap_or(0),
        })
    }

    /// Records a 429 on `key` for every replica: held for `hold`, then one call per `spacing`
    /// until the cooldown after the hold has passed.
    pub async fn penalize(
        &self,
        key: &LimitKey,
        hold: Duration,
        spacing: Duration,
    ) -> Result<(), SharedError> {
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let (hold, cooldown, spacing) = (micros(hold), micros(self.cooldown), micros(spacing));
        let name = self.redis_key(key);
        let _: i64 = self
            .run_script(&self.penalize, |mut conn, script| async move {
                script
                    .key(name)
                    .arg(hold)
                    .arg(cooldown)
                    .arg(spacing)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(())
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
    pub(crate) async fn acquire(
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

    /// Sends a penalty without making the caller wait for Redis; [`flush`](Self::flush) waits
    /// for it. Outside a tokio runtime the penalty stays local.
    pub(crate) fn penalize_in_background(
        self: &Arc<Self>,
        key: &LimitKey,
        hold: Duration,
        spacing: Duration,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Arc::clone(self);
        let key = key.clone();
        let task = runtime.spawn(async move {
            if let Err(e) = this.penalize(&key, hold, spacing).await {
                tracing::debug!(error = %e, "a 429 penalty stayed local");
            }
        });
        let mut background = self.background.lock().unwrap_or_else(|e| e.into_inner());
        background.retain(|t| !t.is_finished());
        background.push(task);
    }

    fn interval_us(&self, limit: Limit) -> i64 {
        let interval = limit.interval.as_secs_f64() * 1e6 * (1.0 + self.margin);
        (interval.ceil() as i64).max(1)
    }

    /// Runs one script call within the decision timeout, tracking Redis's health; a failure
    /// counts one fallback.
    async fn run_script<'s, T, F, Fut>(
        &'s self,
        script: &'s redis::Script,
        call: F,
    ) -> Result<T, SharedError>
    where
        F: FnOnce(ConnectionManager, &'s redis::Script) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let result = if self.health.should_try() {
            let attempt = async {
                let conn = self.connection().await?;
                call(conn, script).await.map_err(|e| e.to_string())
            };
            match tokio::time::timeout(self.settings.decision_timeout, attempt).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => Err(SharedError::Redis(e)),
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
    async fn connection(&self) -> Result<ConnectionManager, String> {
        let conn = self
            .connection
            .get_or_try_init(|| async {
                let client = self.client.clone()?;
                let timeout = self.settings.decision_timeout;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                let mut conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| format!("cannot connect to Redis: {e}"))?;
                for script in [&self.acquire, &self.penalize] {
                    script
                        .prepare_invoke()
                        .load_async(&mut conn)
                        .await
                        .map_err(|e| format!("cannot load the limiter's script: {e}"))?;
                }
                Ok::<_, String>(conn)
            })
            .await?;
        Ok(conn.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fly_machines_api::OperationId;

    #[test]
    fn a_client_with_a_bad_redis_url_is_refused_at_build() {
        let err = crate::Client::builder()
            .token("fm2_secret")
            .rate_limits(
                RateLimits::fly_defaults().shared(SharedLimits::redis("cache.internal:6379")),
            )
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache.internal:6379"), "{err}");
        assert!(err.contains("redis://host:port"), "{err}");
        assert!(!err.contains("fm2_secret"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_falls_back_at_once_and_logs_one_outage() {
        // Port 1 on loopback refuses connections.
        let limits = RateLimits::fly_defaults()
            .shared(SharedLimits::redis("redis://127.0.0.1:1/").retry_interval(Duration::ZERO));
        let limiter = Limiter::new(limits).unwrap();
        let shared = limiter.shared().unwrap();
        let key = LimitKey::new(OperationId::MachinesStart, "m1");
        let limit = Limit::per_second(1, 3);
        for _ in 0..3 {
            assert!(shared.reserve(&key, limit).await.is_err());
        }
        let stats = shared.stats();
        assert_eq!(
            (stats.fallbacks, stats.outages, stats.shared_decisions),
            (3, 1, 0)
        );
    }
}
