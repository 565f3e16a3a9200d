//! Resource handles: the domain-named face of all 100 operations.
//!
//! Handles are cheap values holding a [`Client`](crate::Client) clone and the names they
//! address; nothing is fetched when a handle is made. Names and ids are checked when a call is
//! made, before any request leaves.
//!
//! A handle clones in a few reference-count increments (the client is shared, names and ids are
//! `Arc<str>`), and every call it makes owns a clone of it: a builder, or the future of a
//! plain async call, borrows neither the handle nor its arguments, so it is `Send + 'static`.
//! It can be made from a temporary handle inside a retry closure, returned, stored or spawned.
//!
//! In the source each builder call is a pair: the public `&self` method, which clones the
//! handle into the builder, and the private `run_*` function whose arguments bon turns into
//! that builder's setters.

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
