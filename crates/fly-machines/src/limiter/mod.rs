//! Client-side rate limiting: Fly's limits paced before the server has to refuse a call.
//!
//! [`Limiter`] is the one front the request policy calls. Behind it a backend decides: the
//! local one (this process's own budget) or, with the `redis` feature, a budget shared with
//! replicas in Redis or Valkey, which falls back to the local one when Redis is slow or down.

mod backend;
mod front;
mod key;
mod local;
mod settings;
#[cfg(feature = "redis")]
mod shared;

pub use front::Limiter;
pub use key::LimitKey;
pub use settings::{Limit, RateLimits};
#[cfg(feature = "redis")]
pub use shared::{
    DEFAULT_ARRIVAL_ALLOWANCE, DEFAULT_DECISION_TIMEOUT, DEFAULT_LONGEST_WAIT,
    DEFAULT_RETRY_INTERVAL, Reservation, SharedError, SharedLimiter, SharedLimits, SharedStats,
};
