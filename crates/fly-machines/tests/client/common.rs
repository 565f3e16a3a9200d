//! Shared helpers for the httpmock tests.
#![allow(dead_code)]

use std::sync::Arc;

use fly_machines::{Client, ManualClock, RateLimits, RetryPolicy};
use httpmock::MockServer;
use serde_json::{Value, json};

/// A client against `server` with virtual time, no jitter and no client-side limits.
pub fn client(server: &MockServer, clock: Arc<ManualClock>) -> Client {
    builder(server, clock).build().unwrap()
}

/// A client builder against `server` with virtual time, no jitter and no client-side limits.
pub fn builder(server: &MockServer, clock: Arc<ManualClock>) -> fly_machines::ClientBuilder {
    Client::builder()
        .token("test-token")
        .base_url(server.base_url())
        .clock(clock)
        .rate_limits(RateLimits::off())
        .retry(RetryPolicy::default().jitter(false))
}

/// A realistic machine body with the given id and state.
pub fn machine_json(id: &str, state: &str) -> Value {
    json!({
        "id": id,
        "name": "quiet-sun-1234",
        "state": state,
        "region": "iad",
        "instance_id": "01HQ73A7BFFDF1B6WMGHFZZ4E7",
        "private_ip": "fdaa:0:1:a7b:1::2",
        "config": {"image": "nginx:1.27", "env": null, "metadata": null},
        "events": null,
        "checks": null,
        "created_at": "2026-11-29T00:00:00Z",
        "updated_at": "2026-11-29T00:00:01Z"
    })
}
