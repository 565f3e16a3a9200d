//! Rust SDK for the Fly.io Machines API.
//!
//! See the README for a tour. The generated raw types are re-exported as [`types`].

mod client;
pub mod clock;
mod context;
mod error;
pub mod guest;
pub mod lease;
mod limiter;
mod machine_config;
mod pipeline;
pub mod resources;
mod retry;
mod token;
mod validate;
pub mod wait;

pub use client::{
    BASE_URL_ENVS, Client, ClientBuilder, INTERNAL_BASE_URL, PUBLIC_BASE_URL, TOKEN_ENV,
};
pub use clock::{Clock, ManualClock, TokioClock};
pub use error::{ApiError, Error, ErrorBody, ErrorCode, Result};
pub use fly_machines_api::types;
pub use fly_machines_api::{Operation, RateLimitClass};
pub use fly_machines_derive::MachineConfig;
pub use lease::LeaseGuard;
pub use limiter::{Limit, LimitKey, Limiter, RateLimits};
pub use machine_config::MachineConfig;
pub use reqwest;
pub use resources::apps::{App, Apps};
pub use resources::machines::{ListMachines, Machine, Machines, Metadata};
pub use resources::org::{Org, OrgListing};
pub use resources::volumes::{Volume, Volumes};
pub use retry::{Failure, RetryPolicy};
pub use token::{Scheme, Token};
pub use wait::{WaitError, WaitOutcome, WaitState};
