//! A loopback server shared by the benches: Get Machine, and Cordon behind Fly's limits.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use governor::{Quota, RateLimiter};

type ServerLimiter = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
>;

pub struct ServerState {
    limiter: Option<ServerLimiter>,
    pub throttled: AtomicU64,
}

async fn show(
    State(_): State<Arc<ServerState>>,
    Path((_app, id)): Path<(String, String)>,
) -> impl IntoResponse {
    (
        [("content-type", "application/json")],
        format!(r#"{{"id":"{id}","state":"started"}}"#),
    )
}

async fn cordon(
    State(state): State<Arc<ServerState>>,
    Path((_app, id)): Path<(String, String)>,
) -> axum::response::Response {
    if let Some(limiter) = &state.limiter
        && limiter.check_key(&format!("cordon/{id}")).is_err()
    {
        state.throttled.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            r#"{"error":"rate limited"}"#,
        )
            .into_response();
    }
    StatusCode::OK.into_response()
}

pub async fn serve(limit: bool) -> (SocketAddr, Arc<ServerState>) {
    let quota =
        Quota::per_second(NonZeroU32::new(1).unwrap()).allow_burst(NonZeroU32::new(3).unwrap());
    let state = Arc::new(ServerState {
        limiter: limit.then(|| RateLimiter::keyed(quota)),
        throttled: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/v1/apps/{app}/machines/{id}", get(show))
        .route("/v1/apps/{app}/machines/{id}/cordon", post(cordon))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

/// The generated client with the pass-through policy: what progenitor's code alone costs.
pub fn generated_client(addr: SocketAddr, http: reqwest::Client) -> fly_machines_api::Client {
    fly_machines_api::Client::new_with_client(
        &format!("http://{addr}/v1"),
        http,
        fly_machines_api::Inner::default(),
    )
}

/// The URL bare reqwest fetches: the same machine the clients ask for.
pub fn bare_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1/apps/bench/machines/m1")
}

/// One Get Machine with bare reqwest, decoded as loosely as possible.
pub async fn bare_get(http: &reqwest::Client, url: &str, timeout: Option<std::time::Duration>) {
    let mut request = http.get(url).header("authorization", "Bearer bench-token");
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    let response = request.send().await.unwrap();
    let _: serde_json::Value = response.json().await.unwrap();
}
