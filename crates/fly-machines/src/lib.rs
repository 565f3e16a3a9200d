//! Rust SDK for the [Fly.io Machines API](https://fly.io/docs/machines/api/).
//!
//! Every one of the 100 operations of Fly's 2026-10 API (Managed Postgres included) is reachable
//! through resource handles named for the domain (`client.app("my-app").machine(id).start()`),
//! with typed errors, waits of any length, leases that refresh themselves, retries that never
//! repeat an unsafe call, and Fly's rate limits paced on the client before the server has to
//! refuse anything. The [`guide`] has a section per resource.
//!
//! # Connect
//!
//! ```no_run
//! # async fn demo() -> fly_machines::Result<()> {
//! // FLY_API_TOKEN, and FLY_API_HOSTNAME when set (e.g. http://_api.internal:4280).
//! let client = fly_machines::Client::from_env()?;
//! // Or explicitly:
//! let client = fly_machines::Client::builder()
//!     .token("fm2_...")
//!     .base_url(fly_machines::PUBLIC_BASE_URL)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Macaroon tokens (`fm1r_`, `fm1a_`, `fm2_`) are sent with the `FlyV1` scheme, others as
//! `Bearer`; the token never appears in `Debug` output or traces.
//!
//! # Create, wait, stop, destroy
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::{MachineState, Signal, types::MachineConfig};
//!
//! let app = client.app("my-app");
//! let config = MachineConfig { image: Some("nginx:1.27".into()), ..Default::default() };
//! let created = app
//!     .machines()
//!     .create(config)
//!     .region("iad")
//!     .idempotency_key("job-42") // retries can never make two machines
//!     .await?;
//! // Accessors, not Options: `created.id()`, `created.state()`, `created.metadata("tenant")`.
//! assert_eq!(created.state(), MachineState::Created);
//! created.wait_started(Duration::from_secs(120)).await?; // this version, not an older one
//! let machine = created.handle();
//! machine.stop().signal(Signal::Int).timeout(Duration::from_secs(30)).await?;
//! machine.wait_stopped(Duration::from_secs(60)).await?;
//! machine.destroy_and_wait(Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```
//!
//! Every request is a builder: required inputs in the call, options as named setters, times as
//! [`std::time::Duration`]. Await it directly, or finish it with `.send()` (the same call).
//!
//! Waits loop Fly's 60-second long-poll until your deadline, ask for `failed` too so a crash ends
//! the wait at once, treat a 404 just after a create as "not visible yet", and treat 404 as
//! reached when waiting for `destroyed`.
//!
//! # Leases
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! // Read, edit and write the config under a lease taken, refreshed and released for you:
//! let updated = machine.update_image("registry.fly.io/app:v2").await?;
//! updated.wait_started(Duration::from_secs(120)).await?; // waits for the new version
//! // Or hold a lease yourself:
//! let lease = machine.lease(Duration::from_secs(30)).description("deploy v2").await?;
//! lease.machine().modify_config(|c| c.auto_destroy = Some(true)).await?; // carries the nonce
//! lease.release().await?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every call returns [`Error`]: status, Fly's error code ([`ErrorCode`]: every code of Fly's
//! `StatusCode` set plus `not_found`, `failed_precondition` and `invalid_argument`, and any other
//! kept as sent),
//! message, `fly-request-id`, operation and attempts, with predicates such as
//! [`Error::is_not_found`], [`Error::is_lease_conflict`], [`Error::is_capacity`] and
//! [`Error::is_retryable`]. Bodies that are not JSON are kept as text.
//!
//! # Retries and rate limits
//!
//! [`RetryPolicy`] retries a failure only where repeating is safe: a request that never left,
//! a 429 (Fly's limiter refused it before acting), or an idempotent operation after a timeout,
//! 408 or 5xx. Backoff is exponential with full jitter; `Retry-After` is honoured (capped); a
//! client-wide retry budget stops outages turning into retry storms. [`RateLimits`] paces calls
//! per action and machine (or app) at Fly's documented limits and slows a key down after a 429.
//! Operations are named by [`OperationId`], one per operation of the API; its row
//! ([`OperationId::operation`]) says whether the call is idempotent, which limit applies, whether
//! it carries the lease nonce and whether it is a server long-poll.
//!
//! # Answers you can trust
//!
//! The client treats a broken or hostile server as bad input: it follows no redirects (and, with
//! your own `reqwest::Client`, refuses an answer from another origin), reads at most
//! [`ClientBuilder::max_response_bytes`] of a body, caps `Retry-After` wherever it is used, and
//! saturates time arithmetic, so `Duration::MAX` means "as long as representable". Path
//! parameters are encoded so that each stays exactly one path segment. Lease nonces, tokens and
//! secret values print as `<redacted>` in `Debug`.
//!
//! # Replicas: one budget in Redis or Valkey
//!
//! Fly counts its limits per action and machine (or app) for everyone using the token, not per
//! process. A service running 3 to 20 replicas with one token and app, each pacing itself,
//! sends N times Fly's limit and gets 429s. With the `redis` cargo feature, the replicas pace
//! through one budget in a Redis or Valkey server they already run:
//!
//! ```toml
//! fly-machines = { version = "0.1", features = ["redis"] }
//! ```
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # fn demo() -> fly_machines::Result<()> {
//! use fly_machines::{RateLimits, SharedLimits};
//! let client = fly_machines::Client::builder()
//!     .token("fm2_...")
//!     .rate_limits(RateLimits::fly_defaults().shared(
//!         SharedLimits::redis("redis://redis.internal:6379/0")
//!             // Optional: who shares a budget (default: a fingerprint of the token).
//!             .namespace("my-app"),
//!     ))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Use it when more than one process calls Fly with the same token; one process is better
//! served by the local limiter (no round trip). Each admission is one script call in Redis:
//! the same GCRA, limits, margin and maximum wait as the local limiter, keyed as Fly keys, on
//! the Redis server's clock (replicas' clocks do not matter). A 429 seen by any replica holds
//! and slows that key for all of them. Keys expire once their state no longer matters, so
//! Redis memory follows the machines in use. Keys are
//! `fly-machines:<namespace>:<operation>:<machine or app>`.
//!
//! When Redis is down or slow, calls never hang on it: a decision that takes longer than
//! `SharedLimits::decision_timeout` (200 ms) or fails is made by this process's local
//! limiter instead, and `SharedStats` counts these fallbacks
//! (`client.limiter().and_then(|l| l.shared()).map(|s| s.stats())`). An error, or a timeout
//! while nothing else is answered either, starts an outage: one warning is logged, and until
//! Redis answers again calls pace locally without asking it, except one probe per
//! `SharedLimits::retry_interval` (250 ms); the first answer switches back to the shared
//! budget. While replicas pace locally they can again exceed Fly's limits together; the retry
//! policy absorbs the 429s that follow. A call dropped while it waits for its reserved slot
//! leaves the slot unused (the budget errs on the safe side).
//!
//! # Builders
//!
//! [`builders::machine_config`] takes the image (so a config without one does not compile) and
//! checks guest sizes, ports, durations and env names at `build()`, with the same rule table as
//! the derive. Closed sets of words are typed values ([`Signal`], [`builders::Protocol`],
//! [`builders::Handler`], [`builders::Autostop`], [`builders::ConcurrencyKind`]), each read
//! from text through `FromStr` with the rule's error. Every request takes its options as chained setters and is awaited
//! directly or finished by `.send()`. A builder owns a clone of its handle and its arguments,
//! so it is `Send + 'static`: a closure may return one (`|| app.secrets().set("K", v)`) to any
//! helper that takes `FnMut() -> impl IntoFuture`, and `tokio::spawn(builder.into_future())`
//! runs one in a task (see the guide's "Calls are values").
//!
//! # Machine configs from your own types
//!
//! `#[derive(MachineConfig)]` turns a struct into a [`types::MachineConfig`], rejecting configs
//! Fly would refuse at compile time; see [`MachineConfig`].
//!
//! # Testing
//!
//! * Against the emulator: the `fly-machines-sim` crate runs a stateful local Machines API
//!   (`Sim::builder().start().await`), with Fly's rate limits and injectable faults.
//! * Against httpmock: the `fly-machines-httpmock` crate adds one typed mock method per
//!   operation to `httpmock::MockServer`, named after the call it stands for
//!   (`server.volumes_delete(..)` for `app.volume(id).delete()`), matching whatever base path
//!   the client uses, with typed matchers on common body fields (`when.region("ord")`), answers
//!   in the client's types (`then.ok(&lease)`) and Fly's error answers (404, 409 lease held,
//!   412, 422 `name_taken`, 503 capacity, 429 with `Retry-After`, 5xx);
//!   `Client::builder().test_server(server.base_url())` points a client at it in one line.
//! * Without sleeping: pass a [`ManualClock`] to [`ClientBuilder::clock`], and retries, pacing
//!   and waits run on virtual time.
//!
//! The raw generated client is [`Client::raw`]; its types are re-exported as [`types`].

#![deny(missing_docs)]

mod body_limit;
pub mod builders;
mod client;
pub mod clock;
mod context;
mod decode_budget;
mod ensured;
mod error;
pub mod guest;
pub mod guide;
pub mod health;
pub mod lease;
mod limiter;
mod machine_config;
pub mod paging;
mod pipeline;
pub mod poll;
pub mod resources;
mod retry;
mod signal;
pub mod testing;
mod tls;
mod token;
mod units;
mod validate;
#[cfg(feature = "sim")]
pub mod vtime;
pub mod wait;

pub use client::{
    BASE_URL_ENVS, Client, ClientBuilder, DEFAULT_POOL_IDLE_TIMEOUT, INTERNAL_BASE_URL,
    PUBLIC_BASE_URL, TOKEN_ENV,
};
pub use clock::{Clock, InFlight, ManualClock, TokioClock};
pub use ensured::Ensured;
pub use error::{
    ApiError, CreatedUnreadable, DecodeError, Error, ErrorBody, ErrorCode, InvalidInput,
    ResponseRefused, ResponseTooLarge, Result, TransportError,
};
pub use fly_machines_api::types;
pub use fly_machines_api::{
    CheckState, EventKind, HostStatus, MachineState, Operation, OperationId, RateLimitClass,
    VolumeState,
};
#[cfg(feature = "derive")]
pub use fly_machines_derive::MachineConfig;
pub use lease::LeaseGuard;
#[cfg(feature = "redis")]
pub use limiter::{
    DEFAULT_ARRIVAL_ALLOWANCE, DEFAULT_DECISION_TIMEOUT, DEFAULT_LONGEST_WAIT,
    DEFAULT_RETRY_INTERVAL, Reservation, SharedError, SharedLimiter, SharedLimits, SharedStats,
};
pub use limiter::{Limit, LimitKey, Limiter, RateLimits};
pub use machine_config::MachineConfig;
pub use paging::{Paged, PagingError};
pub use reqwest;
pub use resources::apps::{App, Apps, EnsuredApp};
pub use resources::ips::{IpAssignments, IpKind};
pub use resources::machine_snapshot::MachineSnapshot;
pub use resources::machines::{
    Command, Machine, Machines, Metadata, MetadataEntries, ProcessSort, SortOrder,
};
pub use resources::org::Org;
pub use resources::volumes::{Volume, Volumes};
pub use retry::{Failure, RetryPolicy};
pub use signal::Signal;
pub use token::{Scheme, Token};
pub use wait::{WaitAll, WaitError, WaitOutcome, WaitState, WaitTarget, WaitTargets};
