//! The shared backend's settings: where Redis is, who shares a budget, how long to wait for it.

use std::time::Duration;

use crate::limiter::RateLimits;

/// Where the shared limiter keeps its state, and how it behaves when that store fails.
///
/// Set it with [`RateLimits::shared`]. The URL may carry a password: it never appears in
/// `Debug` output or logs.
#[derive(Clone)]
pub struct SharedLimits {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) namespace: Option<String>,
    pub(super) decision_timeout: Duration,
    pub(super) retry_interval: Duration,
    pub(super) longest_wait: Duration,
    pub(super) arrival_allowance: Duration,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("url", &redacted_url(&self.url))
            .field("prefix", &self.prefix)
            .field("namespace", &self.namespace)
            .field("decision_timeout", &self.decision_timeout)
            .field("retry_interval", &self.retry_interval)
            .field("longest_wait", &self.longest_wait)
            .field("arrival_allowance", &self.arrival_allowance)
            .finish()
    }
}

/// The URL with any user and password taken out.
pub(super) fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Default longest wait for one decision from Redis before pacing locally instead.
pub const DEFAULT_DECISION_TIMEOUT: Duration = Duration::from_millis(200);

/// Default arrival allowance of the shared limiter.
pub const DEFAULT_ARRIVAL_ALLOWANCE: Duration = Duration::from_millis(250);

/// Default longest wait the shared limiter accepts from Redis.
pub const DEFAULT_LONGEST_WAIT: Duration = Duration::from_secs(120);

/// Default time between attempts to reach Redis again during an outage.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(250);

impl SharedLimits {
    /// The shared budget in the Redis or Valkey server at `url` (`redis://host:6379/0`,
    /// `redis://:password@host:6379`, `rediss://...` is not supported).
    pub fn redis(url: impl Into<String>) -> Self {
        SharedLimits {
            url: url.into(),
            prefix: "fly-machines".to_string(),
            namespace: None,
            decision_timeout: DEFAULT_DECISION_TIMEOUT,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            longest_wait: DEFAULT_LONGEST_WAIT,
            arrival_allowance: DEFAULT_ARRIVAL_ALLOWANCE,
        }
    }

    /// How much sooner than admitted a call may reach Fly after the one before it (default
    /// 250 ms). Replicas send what Redis admits from different processes, each delayed by its
    /// own scheduler and connection: a burst that leaves late and a call that leaves on time
    /// arrive closer together than they were admitted, and Fly, which counts arrivals, answers
    /// 429. The allowance is taken from the burst's tolerance (the last call of a burst waits
    /// this long), so every later call has that much of a token in hand; the rate stays the
    /// limit's, with its margin. A burst of one has no tolerance to take it from.
    pub fn arrival_allowance(mut self, allowance: Duration) -> Self {
        self.arrival_allowance = allowance;
        self
    }

    /// The longest wait a shared decision may impose (default 120 s, and never more than
    /// [`RateLimits::max_wait`] when that is set). It covers the longest honoured `Retry-After`
    /// and its cooldown with a queue of calls behind them. A key whose state lies further
    /// ahead than this (Redis's clock stepped back: the state keeps absolute server time) is
    /// reset by the script; any answer past it (a broken or hostile server) is refused and the
    /// call is paced locally.
    pub fn longest_wait(mut self, longest: Duration) -> Self {
        self.longest_wait = longest;
        self
    }

    /// The first part of every key (default `fly-machines`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Who shares a budget: clients with the same namespace draw on the same limits. By default
    /// the client uses a fingerprint of its token (so each token is its own tenant); set the
    /// app name, or any name, to choose otherwise.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Longest wait for one decision from Redis (default 200 ms); past it the call is paced by
    /// the local limiter instead. Redis answers in well under a millisecond on a healthy
    /// network; the default leaves room for bursts of hundreds of concurrent calls on a busy
    /// host, and during an outage only one call per retry interval waits this long.
    pub fn decision_timeout(mut self, timeout: Duration) -> Self {
        self.decision_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// During an outage, how long calls go straight to the local limiter before one of them
    /// tries Redis again (default 250 ms; zero tries Redis on every call).
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Checks the URL, naming it (without its password) in the error.
    pub(crate) fn validate(&self) -> Result<(), String> {
        redis::Client::open(self.url.as_str())
            .map(drop)
            .map_err(|e| {
                format!(
                    "Redis URL {:?} cannot be used ({e}); expected redis://host:port[/db]",
                    redacted_url(&self.url)
                )
            })
    }

    /// The namespace in use: the one set, or a fingerprint of `token`.
    pub(crate) fn with_token_namespace(mut self, token: &str) -> Self {
        if self.namespace.is_none() {
            let digest = sha1_smol::Sha1::from(token.as_bytes()).digest().to_string();
            self.namespace = Some(format!("token-{}", &digest[..16]));
        }
        self
    }
}

impl RateLimits {
    /// Paces calls through a shared budget in Redis or Valkey instead of this process alone,
    /// so that replicas using one token and app stay within Fly's limits together. The limits,
    /// margin, maximum wait and 429 slow-down are the same as the local limiter's; the local
    /// limiter takes over whenever Redis does not answer in time.
    pub fn shared(mut self, shared: SharedLimits) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Gives a shared backend without a namespace the token's fingerprint.
    pub(crate) fn with_token_namespace(mut self, token: &str) -> Self {
        self.shared = self.shared.map(|s| s.with_token_namespace(token));
        self
    }

    /// Checks the shared backend's settings, if any.
    pub(crate) fn validate_shared(&self) -> Result<(), String> {
        self.shared.as_ref().map_or(Ok(()), SharedLimits::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let limits = SharedLimits::redis("redis://user:s3cret@cache:6379/0");
        let shown = format!("{limits:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("cache:6379/0"), "{shown}");
        assert_eq!(redacted_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[test]
    fn the_token_namespace_is_a_fingerprint_and_an_explicit_one_wins() {
        let by_token = SharedLimits::redis("redis://127.0.0.1/").with_token_namespace("fm2_abc");
        let namespace = by_token.namespace.clone().unwrap();
        assert!(namespace.starts_with("token-") && namespace.len() == 22);
        assert!(!namespace.contains("fm2_abc"));
        let other = SharedLimits::redis("redis://127.0.0.1/").with_token_namespace("fm2_abd");
        assert_ne!(other.namespace, by_token.namespace);
        let chosen = SharedLimits::redis("redis://127.0.0.1/")
            .namespace("my-app")
            .with_token_namespace("fm2_abc");
        assert_eq!(chosen.namespace.as_deref(), Some("my-app"));
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let err = SharedLimits::redis("http://u:pw@cache:1")
            .validate()
            .unwrap_err();
        assert!(err.contains("cache:1") && !err.contains("pw"), "{err}");
    }
}
