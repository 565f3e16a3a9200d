//! Benchmarks of the request policy, each compared with a baseline measured in the same run.
//!
//! Prints `name: value` lines at the end:
//! * `overhead_ratio`: full stack (hooks, limiter admitting, retry wrapper, tracing span with no
//!   subscriber) over bare reqwest, 64 concurrent GETs against one loopback server (target >= 0.95),
//!   the median of 15 paired rounds; then the same split in two: the generated client alone over
//!   bare reqwest, and the full stack over the generated client alone;
//! * `limiter_ns_per_acquire`: one limiter admission, over 10,000 distinct keys (target < 1 µs);
//! * `fleet_makespan_ratio`, `fleet_429s`: one action on 300 machines plus 10 calls of one action
//!   on a single machine, all at once, through a server enforcing Fly's limits; wall time over the
//!   minimum the limits allow (target <= 1.10, 0 responses 429), and the 429s without the limiter.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fly_machines::{Client, Limiter, RateLimitClass, RateLimits, RetryPolicy};
use support::serve;

const CONCURRENCY: usize = 64;
const PER_TASK: usize = 150;

/// Requests per second of [`CONCURRENCY`] tasks, each running the loop `task()` returns
/// ([`PER_TASK`] calls).
async fn throughput<F, Fut>(task: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let tasks = (0..CONCURRENCY).map(|_| tokio::spawn(task()));
    for result in futures::future::join_all(tasks).await {
        result.unwrap();
    }
    (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64()
}

/// A client of the loopback server with `limits`; with `http`, it shares that reqwest client
/// (and then sets the request timeout on each request) instead of building its own.
fn client(addr: std::net::SocketAddr, limits: RateLimits, http: Option<reqwest::Client>) -> Client {
    let builder = Client::builder()
        .token("bench-token")
        .base_url(format!("http://{addr}"))
        .rate_limits(limits);
    match http {
        Some(http) => builder.http_client(http),
        None => builder,
    }
    .build()
    .unwrap()
}

/// Get Machine in a loop through one of our clients.
fn full_stack(client: &Client) -> impl Fn() -> BoxedLoop + '_ {
    move || {
        let machine = client.app("bench").machine("m1");
        Box::pin(async move {
            for _ in 0..PER_TASK {
                machine.get().await.unwrap();
            }
        })
    }
}

type BoxedLoop = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Throughput ratios, each the median of per-round ratios.
struct Overhead {
    /// Full stack over bare reqwest: the figure the target is set on.
    full_over_bare: f64,
    /// The generated client with a pass-through policy over bare reqwest: what the generated
    /// code and the hooks cost before our policy does anything.
    generated_over_bare: f64,
    /// Full stack over the generated client alone: what the policy itself costs.
    full_over_generated: f64,
}

async fn overhead_ratio() -> Overhead {
    let (addr, _) = serve(false).await;
    let http = reqwest::Client::new();
    // Limits generous enough that the limiter admits every call (it still runs its check).
    let admitting = || {
        RateLimits::fly_defaults().limit(
            RateLimitClass::GetMachine,
            fly_machines::Limit::per_second(1_000_000, 1_000_000),
        )
    };
    let full = client(addr, admitting(), None);
    let no_limiter = client(addr, RateLimits::off(), None);
    let shared = client(addr, admitting(), Some(http.clone()));
    let raw = support::generated_client(addr, http.clone());
    let url = support::bare_url(addr);
    let bare = || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            for _ in 0..PER_TASK {
                support::bare_get(&http, &url, None).await;
            }
        }
    };
    let bare_timeout = || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            for _ in 0..PER_TASK {
                support::bare_get(&http, &url, Some(Duration::from_secs(30))).await;
            }
        }
    };
    let generated = || {
        let raw = raw.clone();
        async move {
            for _ in 0..PER_TASK {
                raw.machines_show("bench", "m1", None, None).await.unwrap();
            }
        }
    };
    // Profiling aid: `FLY_BENCH_ONLY=full|generated` runs one path for a while and stops.
    if let Ok(only) = std::env::var("FLY_BENCH_ONLY") {
        for _ in 0..10 {
            let rate = if only == "full" {
                throughput(full_stack(&full)).await
            } else {
                throughput(generated).await
            };
            println!("  {only}: {rate:.0} req/s");
        }
        std::process::exit(0);
    }
    // Warm up, then run the paths back to back in many short rounds. The machine's speed drifts
    // (other tenants, CPU frequency); a ratio taken within one round cancels most of that, and
    // the median of the rounds ignores the rounds a burst of noise landed in.
    throughput(bare).await;
    throughput(full_stack(&full)).await;
    const ROUNDS: usize = 15;
    let mut rounds: Vec<[f64; 6]> = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push([
            throughput(bare).await,
            throughput(bare_timeout).await,
            throughput(generated).await,
            throughput(full_stack(&full)).await,
            throughput(full_stack(&no_limiter)).await,
            throughput(full_stack(&shared)).await,
        ]);
    }
    let median_of = |path: usize| median(rounds.iter().map(|r| r[path]).collect());
    let ratio_of = |path: usize| median(rounds.iter().map(|r| r[path] / r[0]).collect());
    println!(
        "  req/s (median of {ROUNDS} rounds): bare reqwest {:.0}, with a per-request timeout {:.0}, \
         generated client alone {:.0}, full stack {:.0}, without the limiter {:.0}, \
         sharing a reqwest client {:.0}",
        median_of(0),
        median_of(1),
        median_of(2),
        median_of(3),
        median_of(4),
        median_of(5),
    );
    println!(
        "  over bare reqwest, median of per-round ratios: generated client alone {:.3}, \
         without the limiter {:.3}, sharing a reqwest client (timeout set per request) {:.3}",
        ratio_of(2),
        ratio_of(4),
        ratio_of(5),
    );
    Overhead {
        full_over_bare: ratio_of(3),
        generated_over_bare: ratio_of(2),
        full_over_generated: median(rounds.iter().map(|r| r[3] / r[2]).collect()),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn limiter_ns_per_acquire() -> f64 {
    const KEYS: usize = 10_000;
    let limiter = Limiter::new(RateLimits::fly_defaults()).unwrap();
    let keys: Vec<fly_machines::LimitKey> = (0..KEYS)
        .map(|i| {
            fly_machines::LimitKey::new(fly_machines::OperationId::MachinesStart, &format!("m{i}"))
        })
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
    println!("overhead_ratio: {:.3}", overhead.full_over_bare);
    println!(
        "overhead_generated_over_bare: {:.3}",
        overhead.generated_over_bare
    );
    println!(
        "overhead_full_over_generated: {:.3}",
        overhead.full_over_generated
    );
    println!("limiter_ns_per_acquire: {limiter:.0}");
    println!("fleet_makespan_ratio: {makespan:.3}");
    println!("fleet_429s: {throttled_on}");
    println!("fleet_makespan_ratio_limiter_off: {makespan_off:.3}");
    println!("fleet_429s_limiter_off: {throttled_off}");
}
