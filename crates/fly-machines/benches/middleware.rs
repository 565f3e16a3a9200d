//! Benchmarks of the request policy, each compared with a baseline measured in the same run.
//!
//! Prints `name: value` lines at the end:
//! * `overhead_ratio`: full stack (hooks, limiter admitting, retry wrapper, tracing span with no
//!   subscriber) over bare reqwest, 64 concurrent GETs against one loopback server (target >= 0.95);
//! * `limiter_ns_per_acquire`: one limiter admission, over 10,000 distinct keys (target < 1 µs);
//! * `fleet_makespan_ratio`, `fleet_429s`: one action on 300 machines plus 10 calls of one action
//!   on a single machine, all at once, through a server enforcing Fly's limits; wall time over the
//!   minimum the limits allow (target <= 1.10, 0 responses 429), and the 429s without the limiter.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fly_machines::{Client, Limiter, RateLimitClass, RateLimits, RetryPolicy};
use governor::{Quota, RateLimiter};

type ServerLimiter = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
>;

struct ServerState {
    limiter: Option<ServerLimiter>,
    throttled: AtomicU64,
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

async fn serve(limit: bool) -> (SocketAddr, Arc<ServerState>) {
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

async fn overhead_ratio() -> f64 {
    const CONCURRENCY: usize = 64;
    const PER_TASK: usize = 150;
    let (addr, _) = serve(false).await;
    let http = reqwest::Client::new();
    // Limits generous enough that the limiter admits every call (it still runs its check).
    let client = Client::builder()
        .token("bench-token")
        .base_url(format!("http://{addr}"))
        .http_client(http.clone())
        .rate_limits(RateLimits::fly_defaults().limit(
            RateLimitClass::GetMachine,
            fly_machines::Limit {
                per_second: 1_000_000,
                burst: 1_000_000,
            },
        ))
        .build()
        .unwrap();
    let no_limiter = Client::builder()
        .token("bench-token")
        .base_url(format!("http://{addr}"))
        .http_client(http.clone())
        .rate_limits(RateLimits::off())
        .build()
        .unwrap();
    let run_no_limiter = || async {
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let client = no_limiter.clone();
            tokio::spawn(async move {
                let m = client.app("bench").machine("m1");
                for _ in 0..PER_TASK {
                    m.get().await.unwrap();
                }
            })
        });
        futures::future::join_all(tasks).await;
        (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
    };
    let bare_url = format!("http://{addr}/v1/apps/bench/machines/m1");
    let run_bare_timeout = || async {
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let http = http.clone();
            let url = bare_url.clone();
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    let r = http
                        .get(&url)
                        .header("authorization", "Bearer bench-token")
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .unwrap();
                    let _: serde_json::Value = r.json().await.unwrap();
                }
            })
        });
        futures::future::join_all(tasks).await;
        (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
    };
    let run_bare = || async {
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let http = http.clone();
            let url = bare_url.clone();
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    let r = http
                        .get(&url)
                        .header("authorization", "Bearer bench-token")
                        .send()
                        .await
                        .unwrap();
                    let _: serde_json::Value = r.json().await.unwrap();
                }
            })
        });
        futures::future::join_all(tasks).await;
        (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
    };
    let raw = fly_machines_api_client(addr, http.clone());
    let run_raw = || async {
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let raw = raw.clone();
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    raw.machines_show("bench", "m1").await.unwrap();
                }
            })
        });
        futures::future::join_all(tasks).await;
        (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
    };
    let run_full = || async {
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let m = client.app("bench").machine("m1");
                for _ in 0..PER_TASK {
                    m.get().await.unwrap();
                }
            })
        });
        futures::future::join_all(tasks).await;
        (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
    };
    // Profiling aid: `FLY_BENCH_ONLY=full|generated` runs one path for a while and stops.
    if let Ok(only) = std::env::var("FLY_BENCH_ONLY") {
        for _ in 0..10 {
            let rate = if only == "full" {
                run_full().await
            } else {
                run_raw().await
            };
            println!("  {only}: {rate:.0} req/s");
        }
        std::process::exit(0);
    }
    // Warm up both paths, then alternate to spread machine noise evenly.
    run_bare().await;
    run_full().await;
    let (mut bare, mut full, mut generated, mut unlimited, mut bare_timeout) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    for _ in 0..3 {
        bare += run_bare().await;
        bare_timeout += run_bare_timeout().await;
        generated += run_raw().await;
        full += run_full().await;
        unlimited += run_no_limiter().await;
    }
    println!(
        "  full stack without the limiter: {:.0} req/s; bare reqwest with a per-request timeout: {:.0} req/s",
        unlimited / 3.0,
        bare_timeout / 3.0
    );
    println!(
        "  bare reqwest: {:.0} req/s, generated client alone: {:.0} req/s, full stack: {:.0} req/s",
        bare / 3.0,
        generated / 3.0,
        full / 3.0
    );
    full / bare
}

/// The generated client with the pass-through policy: what progenitor's code alone costs.
fn fly_machines_api_client(addr: SocketAddr, http: reqwest::Client) -> fly_machines_api::Client {
    fly_machines_api::Client::new_with_client(
        &format!("http://{addr}/v1"),
        http,
        fly_machines_api::Inner::default(),
    )
}

async fn limiter_ns_per_acquire() -> f64 {
    const KEYS: usize = 10_000;
    let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
    let keys: Vec<fly_machines::LimitKey> = (0..KEYS)
        .map(|i| ("Machines_start", format!("m{i}").into()))
        .collect();
    let started = Instant::now();
    for round in 0..3 {
        for key in &keys {
            limiter
                .acquire(RateLimitClass::PerMachine, key)
                .await
                .expect("burst of 3 admits 3 rounds");
        }
        let _ = round;
    }
    started.elapsed().as_nanos() as f64 / (KEYS * 3) as f64
}

async fn fleet(limiter_on: bool) -> (f64, u64) {
    let (addr, state) = serve(true).await;
    let limits = if limiter_on {
        RateLimits::fly_defaults()
    } else {
        RateLimits::off()
    };
    let client = Client::builder()
        .token("bench-token")
        .base_url(format!("http://{addr}"))
        .rate_limits(limits)
        .retry(
            RetryPolicy::default()
                .max_attempts(20)
                .max_elapsed(None)
                .budget(100_000, 1, 1),
        )
        .build()
        .unwrap();
    let app = client.app("fleet");
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..300 {
        let m = app.machine(format!("m{i}"));
        calls.push(tokio::spawn(async move { m.cordon().await }));
    }
    for _ in 0..10 {
        let m = app.machine("hot");
        calls.push(tokio::spawn(async move { m.cordon().await }));
    }
    for result in futures::future::join_all(calls).await {
        result.unwrap().unwrap();
    }
    // 10 calls on one key: 3 at once, then one per second: the 10th can go at 7 s.
    let minimum = Duration::from_secs(7);
    (
        started.elapsed().as_secs_f64() / minimum.as_secs_f64(),
        state.throttled.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs bench binaries with `--bench`-less args; keep that quick.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("benchmarking the fly-machines request policy...");
    let overhead = overhead_ratio().await;
    let limiter = limiter_ns_per_acquire().await;
    let (makespan, throttled_on) = fleet(true).await;
    let (makespan_off, throttled_off) = fleet(false).await;
    println!("overhead_ratio: {overhead:.3}");
    println!("limiter_ns_per_acquire: {limiter:.0}");
    println!("fleet_makespan_ratio: {makespan:.3}");
    println!("fleet_429s: {throttled_on}");
    println!("fleet_makespan_ratio_limiter_off: {makespan_off:.3}");
    println!("fleet_429s_limiter_off: {throttled_off}");
}
