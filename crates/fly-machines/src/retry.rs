//! When a failed request may be sent again, and how long to wait first.
//!
//! Classification (what went wrong) is kept apart from the decision (may we retry now?), as in
//! smithy-rs: a failure is retried only when it is safe for the operation (the request never left,
//! Fly's limiter refused it, or the operation is idempotent), attempts and the overall deadline
//! allow it, and the client-wide retry budget has tokens left.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made: the request never reached the server.
    NotSent,
    /// The request timed out; the server may have acted on it.
    TimedOut,
    /// The connection broke after the request may have been sent.
    Interrupted,
    /// Fly's rate limiter refused the call (429); the action did not run.
    Throttled,
    /// 408 Request Timeout.
    RequestTimeout,
    /// 500, 502, 503 or 504.
    ServerError(u16),
}

impl Failure {
    /// Classifies one attempt's outcome; `None` for success and for final errors (4xx...).
    pub fn classify(result: &reqwest::Result<reqwest::Response>) -> Option<Failure> {
        match result {
            Ok(response) => Failure::of_status(response.status().as_u16()),
            Err(e) => Failure::of_transport(e),
        }
    }

    /// The failure an answer's status means, if any (429, 408, 500, 502, 503, 504).
    pub fn of_status(status: u16) -> Option<Failure> {
        match StatusCode::from_u16(status).ok()? {
            StatusCode::TOO_MANY_REQUESTS => Some(Failure::Throttled),
            StatusCode::REQUEST_TIMEOUT => Some(Failure::RequestTimeout),
            s @ (StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT) => Some(Failure::ServerError(s.as_u16())),
            _ => None,
        }
    }

    /// The failure a transport error means, if any.
    pub fn of_transport(e: &reqwest::Error) -> Option<Failure> {
        if e.is_connect() {
            Some(Failure::NotSent)
        } else if e.is_timeout() {
            Some(Failure::TimedOut)
        } else if e.is_request() || e.is_body() || e.is_decode() {
            Some(Failure::Interrupted)
        } else {
            None
        }
    }

    /// Whether repeating the call is safe after this failure.
    pub fn safe_to_retry(self, idempotent: bool) -> bool {
        match self {
            Failure::NotSent | Failure::Throttled => true,
            Failure::TimedOut
            | Failure::Interrupted
            | Failure::RequestTimeout
            | Failure::ServerError(_) => idempotent,
        }
    }

    /// Short label for traces and logs.
    pub fn label(self) -> &'static str {
        match self {
            Failure::NotSent => "connect_error",
            Failure::TimedOut => "timeout",
            Failure::Interrupted => "interrupted",
            Failure::Throttled => "http_429",
            Failure::RequestTimeout => "http_408",
            Failure::ServerError(500) => "http_500",
            Failure::ServerError(502) => "http_502",
            Failure::ServerError(503) => "http_503",
            Failure::ServerError(_) => "http_504",
        }
    }

    fn budget_cost(self, policy: &RetryPolicy) -> u32 {
        match self {
            Failure::TimedOut | Failure::RequestTimeout => policy.timeout_retry_cost,
            _ => policy.retry_cost,
        }
    }
}

/// How requests are retried. Shared by every call of a client.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) jitter: bool,
    pub(crate) budget_capacity: u32,
    pub(crate) retry_cost: u32,
    pub(crate) timeout_retry_cost: u32,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff from 200 ms doubling to 5 s with full jitter, `Retry-After` honoured up
    /// to 30 s, 60 s overall, a budget of 500 tokens (a retry costs 5, after a timeout 10).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            max_elapsed: Some(Duration::from_secs(60)),
            jitter: true,
            budget_capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
        }
    }
}

impl RetryPolicy {
    /// Never retry: one attempt per call.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Total attempts per call, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// First backoff and its cap; each retry doubles the previous one.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Longest `Retry-After` honoured; longer ones are cut to this.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Overall time budget for a call and its retries; `None` for no limit.
    pub fn max_elapsed(mut self, max: Option<Duration>) -> Self {
        self.max_elapsed = max;
        self
    }

    /// Full jitter on backoff (on by default). Off gives exact, predictable delays.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The client-wide retry budget: capacity, cost of a retry and of a retry after a timeout.
    /// A first-try success gives one token back. With an empty budget nothing is retried, so an
    /// outage does not turn into a retry storm.
    pub fn budget(mut self, capacity: u32, retry_cost: u32, timeout_retry_cost: u32) -> Self {
        self.budget_capacity = capacity;
        self.retry_cost = retry_cost;
        self.timeout_retry_cost = timeout_retry_cost;
        self
    }

    /// The delay before retry number `retry` (1 for the first retry), without `Retry-After`.
    pub fn backoff_for(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_backoff);
        if self.jitter {
            // Not `mul_f64`: near `Duration::MAX` float rounding can overshoot and panic.
            Duration::try_from_secs_f64(exp.as_secs_f64() * fastrand::f64())
                .map_or(exp, |jittered| jittered.min(exp))
        } else {
            exp
        }
    }

    /// The server's `Retry-After`, cut to [`max_retry_after`](Self::max_retry_after). The one
    /// place the header is read: the retry delay and the limiter's penalty both take this value,
    /// so no answer can hold a call or a rate-limit key longer than the cap.
    pub fn retry_after(&self, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        parse_retry_after(headers).map(|after| after.min(self.max_retry_after))
    }

    /// The delay before the next attempt: `Retry-After` (capped) when the server sent one,
    /// backoff otherwise.
    pub fn delay_for(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(after) => after.min(self.max_retry_after),
            None => self.backoff_for(retry),
        }
    }
}

/// A token bucket of retries shared by all calls of one client.
///
/// Every successful call deposits, so this is lock-free: a mutex here would make concurrent
/// calls queue behind each other, and a full bucket is not written at all.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    tokens: AtomicU32,
    capacity: u32,
}

impl RetryBudget {
    pub fn new(capacity: u32) -> Self {
        RetryBudget {
            tokens: AtomicU32::new(capacity),
            capacity,
        }
    }

    /// Takes the cost of one retry; `false` when the budget cannot pay for it.
    pub fn try_withdraw(&self, failure: Failure, policy: &RetryPolicy) -> bool {
        let cost = failure.budget_cost(policy);
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                tokens.checked_sub(cost)
            })
            .is_ok()
    }

    /// Gives tokens back after a success (the cost of the retry that led to it, or 1).
    pub fn deposit(&self, amount: u32) {
        if self.tokens.load(Ordering::Relaxed) >= self.capacity {
            return;
        }
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                (tokens < self.capacity).then(|| tokens.saturating_add(amount).min(self.capacity))
            });
    }

    #[cfg(test)]
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

/// Reads `Retry-After` (whole seconds, decimal seconds or an HTTP date) without a cap.
///
/// Any value maps to a duration and never panics: a number too large for a [`Duration`]
/// saturates to [`Duration::MAX`] and a date in the past is zero. Callers cap it with
/// [`RetryPolicy::retry_after`]; nothing uses the raw value.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_failures_are_retried_for_non_idempotent_calls() {
        assert!(Failure::NotSent.safe_to_retry(false));
        assert!(Failure::Throttled.safe_to_retry(false));
        for f in [
            Failure::TimedOut,
            Failure::Interrupted,
            Failure::RequestTimeout,
            Failure::ServerError(503),
        ] {
            assert!(!f.safe_to_retry(false), "{f:?}");
            assert!(f.safe_to_retry(true), "{f:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default()
            .jitter(false)
            .backoff(Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(p.backoff_for(1), Duration::from_millis(100));
        assert_eq!(p.backoff_for(2), Duration::from_millis(200));
        assert_eq!(p.backoff_for(3), Duration::from_millis(350));
        assert_eq!(p.backoff_for(40), Duration::from_millis(350));
        let jittered =
            RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        for retry in 1..6 {
            assert!(
                jittered.backoff_for(retry)
                    <= Duration::from_millis(100 * 2u64.pow(retry - 1)).min(Duration::from_secs(1))
            );
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_date_and_capped() {
        let retry_after = parse_retry_after;
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let future = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(future).parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        let p = RetryPolicy::default().max_retry_after(Duration::from_secs(30));
        assert_eq!(
            p.delay_for(1, Some(Duration::from_secs(100))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn huge_retry_after_values_saturate_then_the_cap_applies() {
        let p = RetryPolicy::default().max_retry_after(Duration::from_secs(30));
        for value in [
            "999999",
            "18446744073709551615",
            "99999999999999999999999",
            "1e308",
            "1.5e19",
            "inf",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("retry-after", value.parse().unwrap());
            assert_eq!(p.retry_after(&h), Some(Duration::from_secs(30)), "{value}");
        }
        for value in ["-1", "NaN", "-inf", "soon", ""] {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("retry-after", value.parse().unwrap());
            assert_eq!(p.retry_after(&h), None, "{value}");
        }
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Thu, 01 Jan 1970 00:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(p.retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn budget_runs_dry_and_refills() {
        let p = RetryPolicy::default();
        let b = RetryBudget::new(12);
        assert!(b.try_withdraw(Failure::ServerError(502), &p));
        assert!(!b.try_withdraw(Failure::TimedOut, &p));
        assert!(b.try_withdraw(Failure::ServerError(502), &p));
        assert!(!b.try_withdraw(Failure::ServerError(502), &p));
        b.deposit(100);
        assert_eq!(b.available(), 12);
    }
}
