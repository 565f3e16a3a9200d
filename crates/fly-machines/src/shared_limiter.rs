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
pub use settings::{
    DEFAULT_ARRIVAL_ALLOWANCE, DEFAULT_DECISION_TIMEOUT, DEFAULT_LONGEST_WAIT,
    DEFAULT_RETRY_INTERVAL, SharedLimits,
};

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

/// The running shared backend of one [`Limiter`].
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
            acquire: LuaScript::new(include_str!("shared_limiter/acquire.lua")),
            penalize: LuaScript::new(include_str!("shared_limiter/penalize.lua")),
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
        let (hold, cooldown, spacing) = (micros(hold), micros(self.cooldown), micros(spacing));
        let name = self.redis_key(key);
        self.run_script(&self.penalize, name, [hold, cooldown, spacing], |_: i64| {
            Ok(())
        })
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

/// `d` in microseconds, for the scripts (saturating).
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A Lua script run by its SHA-1, and loaded when Redis does not have it.
///
/// Not `redis::Script`: its loading asserts (in debug builds) that Redis answered with the
/// script's SHA-1, so a Redis answering anything else would panic the caller. Here that answer
/// is an error, and the call paces locally.
struct LuaScript {
    code: &'static str,
    hash: String,
}

impl LuaScript {
    fn new(code: &'static str) -> Self {
        LuaScript {
            code,
            hash: redis::Script::new(code).get_hash().to_string(),
        }
    }

    /// Loads the script, checking that Redis names it by its SHA-1.
    async fn load(&self, conn: &mut ConnectionManager) -> Result<(), SharedError> {
        let hash: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.code)
            .query_async(conn)
            .await
            .map_err(|e| SharedError::Redis(format!("cannot load the limiter's script: {e}")))?;
        if hash != self.hash {
            let shown: String = hash.chars().take(64).collect();
            return Err(SharedError::OutOfBounds(format!(
                "SCRIPT LOAD answered {shown:?}, not the script's SHA-1 {}",
                self.hash
            )));
        }
        Ok(())
    }

    /// Runs the script on `key` with `args`, loading it first if Redis lost it (a restart).
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        args: &[i64],
    ) -> Result<T, SharedError> {
        let mut call = redis::cmd("EVALSHA");
        call.arg(&self.hash).arg(1).arg(key).arg(args);
        match call.query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.load(conn).await?;
                call.query_async(conn)
                    .await
                    .map_err(|e| SharedError::Redis(e.to_string()))
            }
            other => other.map_err(|e| SharedError::Redis(e.to_string())),
        }
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

    /// A Redis impostor on loopback: answers `SCRIPT LOAD` with `sha` (the real SHA-1 when
    /// `None`), `EVALSHA` with `answer` (RESP), and anything else with `+OK`.
    async fn fake_redis(sha: Option<&'static str>, answer: String) -> String {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        // One command: *N, then N bulk strings.
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let n: usize = line.trim()[1..].parse().unwrap_or(0);
                        let mut words = Vec::new();
                        for _ in 0..n {
                            line.clear();
                            stream.read_line(&mut line).await.unwrap();
                            let len: usize = line.trim()[1..].parse().unwrap();
                            let mut word = vec![0; len + 2];
                            stream.read_exact(&mut word).await.unwrap();
                            words.push(String::from_utf8_lossy(&word[..len]).into_owned());
                        }
                        let command = words.first().map(|w| w.to_uppercase());
                        let reply = match command.as_deref() {
                            Some("SCRIPT") => {
                                let real = redis::Script::new(&words[2]).get_hash().to_string();
                                let sha = sha.map_or(real, str::to_string);
                                format!("${}\r\n{sha}\r\n", sha.len())
                            }
                            Some("EVALSHA") => answer.clone(),
                            _ => "+OK\r\n".to_string(),
                        };
                        if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("redis://{addr}/")
    }

    fn limiter_at(url: &str, max_wait: Option<Duration>) -> Limiter {
        let limits = RateLimits::fly_defaults()
            .max_wait(max_wait)
            .shared(SharedLimits::redis(url).decision_timeout(Duration::from_secs(5)));
        Limiter::new(limits).unwrap()
    }

    #[tokio::test]
    async fn answers_out_of_bounds_pace_locally_instead_of_hanging() {
        let key = LimitKey::new(OperationId::MachinesStart, "m1");
        let limit = Limit::per_second(1, 3);
        let hour_us: i64 = 3_600_000_000;
        let now_us: i64 = 1_700_000_000_000_000;
        let cases: [(&str, String, Option<Duration>); 6] = [
            (
                "an hour past max_wait",
                format!("*3\r\n:1\r\n:{hour_us}\r\n:{now_us}\r\n"),
                Some(Duration::from_secs(1)),
            ),
            (
                "an hour, no max_wait",
                format!("*3\r\n:1\r\n:{hour_us}\r\n:{now_us}\r\n"),
                None,
            ),
            (
                "a negative wait",
                format!("*3\r\n:1\r\n:-5\r\n:{now_us}\r\n"),
                None,
            ),
            (
                "a verdict of 7",
                format!("*3\r\n:7\r\n:0\r\n:{now_us}\r\n"),
                None,
            ),
            (
                "a refusal without max_wait",
                format!("*3\r\n:0\r\n:10\r\n:{now_us}\r\n"),
                None,
            ),
            (
                "i64::MAX",
                format!("*3\r\n:1\r\n:{}\r\n:{now_us}\r\n", i64::MAX),
                Some(Duration::from_secs(1)),
            ),
        ];
        for (label, answer, max_wait) in cases {
            let url = fake_redis(None, answer).await;
            let limiter = limiter_at(&url, max_wait);
            let shared = limiter.shared().unwrap();
            let got = shared.reserve(&key, limit).await;
            match &got {
                Err(SharedError::OutOfBounds(why)) => assert!(!why.contains("SCRIPT"), "{why}"),
                other => panic!("{label}: {other:?}"),
            }
            // The whole acquire goes local: the burst is admitted at once, without sleeping.
            let waited = tokio::time::timeout(
                Duration::from_secs(5),
                limiter.acquire(crate::RateLimitClass::ALL[0], &key),
            )
            .await
            .unwrap_or_else(|_| panic!("{label}: the call hung"));
            assert_eq!(waited, Ok(Duration::ZERO), "{label}");
            assert!(shared.stats().fallbacks >= 1, "{label}");
        }
        // Within bounds, the answer stands.
        let url = fake_redis(None, format!("*3\r\n:1\r\n:250000\r\n:{now_us}\r\n")).await;
        let limiter = limiter_at(&url, Some(Duration::from_secs(1)));
        let got = limiter
            .shared()
            .unwrap()
            .reserve(&key, limit)
            .await
            .unwrap();
        assert_eq!((got.admitted, got.wait), (true, Duration::from_millis(250)));
    }

    #[tokio::test]
    async fn a_script_load_answered_with_another_hash_is_an_error_not_a_panic() {
        let key = LimitKey::new(OperationId::MachinesStart, "m1");
        for sha in ["not-a-sha", "", "0000000000000000000000000000000000000000"] {
            let url = fake_redis(Some(sha), "*3\r\n:1\r\n:0\r\n:1\r\n".to_string()).await;
            let limiter = limiter_at(&url, None);
            let got = limiter
                .shared()
                .unwrap()
                .reserve(&key, Limit::per_second(1, 3))
                .await;
            match got {
                Err(SharedError::OutOfBounds(why)) => assert!(why.contains("SCRIPT LOAD"), "{why}"),
                other => panic!("{sha:?}: {other:?}"),
            }
        }
    }
}
