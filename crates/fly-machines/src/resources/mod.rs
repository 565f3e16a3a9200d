//! Resource handles: the domain-named face of all 100 operations.
//!
//! Handles are cheap values holding a [`Client`](crate::Client) clone and the names they
//! address; nothing is fetched when a handle is made. Names and ids are checked when a call is
//! made, before any request leaves.

pub mod apps;
pub mod certificates;
pub mod ips;
pub mod machine_snapshot;
pub mod machines;
pub mod org;
pub mod platform;
pub mod postgres;
mod rolling;
pub mod secrets;
pub mod tokens;
pub mod volumes;
