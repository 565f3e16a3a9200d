//! Raw client for the Fly.io Machines API.
//!
//! Everything in [`generated`](crate::Client) is produced by progenitor from
//! `openapi/fly-machines.json` (`cargo xtask regen`); do not edit it by hand. This file adds the
//! small amount of glue the generated code needs:
//!
//! * [`Inner`], stored in every [`Client`], which carries a [`RequestPolicy`];
//! * the [`ClientHooks`](progenitor_client::ClientHooks) impl that hands every request to that
//!   policy (retries, rate limits, auth headers and tracing live in the `fly-machines` crate);
//! * [`OPERATIONS`], the operation table generated from the document's vendor extensions.
//!
//! Most users want the `fly-machines` crate instead, which wraps this one.
//!
//! Cargo features: `rustls` (default) or `native-tls` for the generated `Client::new`, and
//! `schemars`, which derives `schemars::JsonSchema` on every type of the API for tools that
//! need a JSON Schema of them (off by default, so a plain build does not compile schemars).

#![allow(missing_docs)] // generated items carry the document's descriptions where it has them

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unused_imports, unused_mut)]
mod generated;
pub mod accessors;
mod hooks;
pub mod operation;
pub mod path;
pub mod time;
#[rustfmt::skip]
mod operations;

pub use accessors::{
    BackupKind, CheckState, ClusterStatus, EventKind, HostStatus, MachineState, PostgresPlan,
    PostgresRole, VolumeState,
};
pub use generated::*;
pub use hooks::{DirectPolicy, Inner, PolicyFuture, RequestPolicy, operation_for, refuse_unsent};
pub use operation::{LimitScope, Operation, OperationId, RateLimit, RateLimitClass};
pub use operations::OPERATIONS;
pub use progenitor_client;
pub use reqwest;

/// The public endpoint of the Machines API.
pub const PUBLIC_BASE_URL: &str = "https://api.machines.dev/v1";

/// The endpoint reachable from inside Fly's private network (6PN).
pub const INTERNAL_BASE_URL: &str = "http://_api.internal:4280/v1";

#[cfg(test)]
mod tests {
    use super::types;

    /// Properties marked `x-secret` in the document never show in `Debug`, however deep.
    #[test]
    fn secrets_stay_out_of_debug() {
        let lease = types::Lease {
            nonce: Some("nonce-secret-1".into()),
            owner: Some("ops@example.com".into()),
            ..Default::default()
        };
        let machine = types::Machine {
            id: Some("m1".into()),
            nonce: Some("nonce-secret-2".into()),
            ..Default::default()
        };
        let secret = types::SetAppSecretRequest {
            value: Some("hunter2-secret".into()),
        };
        let printed = format!("{lease:?} {machine:?} {secret:?} {:#?}", Some(&lease));
        for needle in ["nonce-secret-1", "nonce-secret-2", "hunter2-secret"] {
            assert!(!printed.contains(needle), "{needle} leaked: {printed}");
        }
        assert!(printed.contains("ops@example.com") && printed.contains("m1"));
        assert!(printed.contains("<redacted>"));
        // Nothing is redacted that is not there.
        assert!(format!("{:?}", types::Lease::default()).contains("nonce: None"));
    }
}
