//! Fly's rate limits: one token bucket per action and key, refilled on the emulator's clock.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderValue, StatusCode, header};
use fly_machines_api::{LimitScope, Operation, OperationId};

use crate::config::RateLimits;
use crate::emulator::lock;
use crate::errors::ApiError;
use crate::request::PathParams;

#[derive(Debug)]
struct Buckets {
    limits: RateLimits,
    by_key: HashMap<(OperationId, String), Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// The limiter every request passes before it reaches a handler.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            buckets: Mutex::new(Buckets {
                limits,
                by_key: HashMap::new(),
            }),
        }
    }

    /// Replaces the limits and forgets the buckets filled so far.
    pub(crate) fn set(&self, limits: RateLimits) {
        let mut b = lock(&self.buckets);
        b.limits = limits;
        b.by_key.clear();
    }

    /// Takes a token for `op`, or answers 429 with `Retry-After`.
    pub(crate) fn admit(
        &self,
        op: &'static Operation,
        params: &PathParams,
        now: u64,
    ) -> Result<(), ApiError> {
        let mut b = lock(&self.buckets);
        if !b.limits.enabled() {
            return Ok(());
        }
        let limit = b.limits.for_class(op.rate_limit);
        let key = match op.rate_limit.scope() {
            LimitScope::Machine => {
                format!("{}/{}", params.get("app_name"), params.get("machine_id"))
            }
            LimitScope::App => params.get("app_name").to_string(),
            LimitScope::Action => String::new(),
        };
        let burst = f64::from(limit.burst.max(1));
        let rate = limit.per_second.max(1e-9);
        let bucket = b.by_key.entry((op.op, key)).or_insert(Bucket {
            tokens: burst,
            last_ms: now,
        });
        let elapsed = now.saturating_sub(bucket.last_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last_ms = bucket.last_ms.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_secs = ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64;
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "resource_exhausted",
            format!(
                "rate limit exceeded for {}: {} requests per second with bursts of {}",
                op.id, limit.per_second, limit.burst
            ),
        );
        err.headers.push((
            header::RETRY_AFTER,
            HeaderValue::from_str(&wait_secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
        ));
        Err(err)
    }
}
