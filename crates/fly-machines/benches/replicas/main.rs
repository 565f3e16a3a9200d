//! Replicas sharing one token and app: Fly's limits paced together through Redis, or each on
//! its own. Prints `name: value` lines.
//!
//! * The workload: 4 client processes (this binary, run again as children) with one token and
//!   app share the emulator, which enforces Fly's limits across all its clients. Each cordons
//!   its own 75 machines [`CALLS_PER_MACHINE`] times, and creates [`CREATES_PER_REPLICA`]
//!   machines in the one app they share, all at once.
//! * The minimum the limits allow: a key admits a burst of 3, then 1 call per second, so `n`
//!   calls on one key need `n - 3` seconds. The creates put 4 × 5 = 20 calls on the app's key
//!   (17 s); each machine's key gets 6 calls (3 s). The minimum is the larger: 17 s.
//! * `replicas_fleet_makespan_ratio`, `replicas_429s`: with the shared limiter, wall time (from
//!   a start instant all replicas wait for to the last one's end) over that minimum (target
//!   <= 1.10), and the 429s the emulator answered (target 0); `replicas_shared_fallbacks`:
//!   admissions Redis did not decide in time, paced locally instead. `_local_only`: the same
//!   with each replica's local limiter alone.
//! * `shared_acquire_us_p50`, `shared_acquire_us_p99`: one admission through the shared
//!   limiter against a local `redis-server` (target p50 < 200 µs), beside the local limiter's.
//!
//! `cargo bench -p fly-machines --features redis --bench replicas`

mod redis_server;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fly_machines::{
    Client, LimitKey, Limiter, OperationId, RateLimitClass, RateLimits, RetryPolicy, SharedLimits,
    types::MachineConfig,
};
use fly_machines_sim::{Sim, SimHandle};
use redis_server::RedisServer;

const REPLICAS: usize = 4;
const MACHINES_PER_REPLICA: usize = 75;
const CALLS_PER_MACHINE: usize = 6;
const CREATES_PER_REPLICA: usize = 5;
const APP: &str = "replicas";
/// Set in a child: it is replica number N.
const REPLICA_ENV: &str = "FLY_BENCH_REPLICA";

/// The limit-bound minimum; see the module docs.
fn minimum() -> Duration {
    let burst = 3;
    let on_app_key = REPLICAS * CREATES_PER_REPLICA;
    let per_machine = CALLS_PER_MACHINE;
    Duration::from_secs(on_app_key.max(per_machine).saturating_sub(burst) as u64)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a replica"))
}

/// One replica: waits for the common start, runs its share, prints when it finished.
async fn replica() {
    let redis = std::env::var("FLY_BENCH_REDIS").ok();
    let mut limits = RateLimits::fly_defaults();
    if let Some(url) = redis {
        limits = limits.shared(SharedLimits::redis(url).namespace(env("FLY_BENCH_NAMESPACE")));
    }
    let client = Client::builder()
        .token(env("FLY_BENCH_TOKEN"))
        .base_url(env("FLY_BENCH_URL"))
        .rate_limits(limits)
        .retry(
            RetryPolicy::default()
                .max_attempts(30)
                .max_elapsed(None)
                .budget(100_000, 1, 1),
        )
        .build()
        .expect("the replica's client");
    let machines: Vec<String> = env("FLY_BENCH_MACHINES")
        .split(',')
        .map(String::from)
        .collect();
    let start_at: u64 = env("FLY_BENCH_START_MS").parse().expect("a time");
    tokio::time::sleep(Duration::from_millis(start_at.saturating_sub(unix_ms()))).await;
    let app = client.app(APP);
    let mut calls = Vec::new();
    for id in &machines {
        for _ in 0..CALLS_PER_MACHINE {
            let machine = app.machine(id.clone());
            calls.push(tokio::spawn(async move { machine.cordon().await }));
        }
    }
    for _ in 0..CREATES_PER_REPLICA {
        let app = app.clone();
        calls.push(tokio::spawn(async move {
            let config = MachineConfig {
                image: Some("nginx:1.27".into()),
                ..Default::default()
            };
            app.machines().create(config).send().await.map(drop)
        }));
    }
    for call in futures::future::join_all(calls).await {
        call.expect("the task runs").expect("the call succeeds");
    }
    println!("finished_ms {}", unix_ms());
    if let Some(shared) = client.limiter().and_then(|l| l.shared()) {
        println!("fallbacks {}", shared.stats().fallbacks);
    }
}

/// The emulator with the app and every replica's machines, made with limits off.
async fn emulator() -> (SimHandle, Vec<String>) {
    let sim = Sim::builder()
        .no_rate_limits()
        .request_log_capacity(200_000)
        .start()
        .await
        .expect("the emulator starts");
    let client = Client::builder()
        .token(sim.token())
        .base_url(sim.base_url())
        .rate_limits(RateLimits::off())
        .build()
        .unwrap();
    client.apps().create(APP, "personal").send().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..REPLICAS * MACHINES_PER_REPLICA {
        let config = MachineConfig {
            image: Some("nginx:1.27".into()),
            ..Default::default()
        };
        let machine = client
            .app(APP)
            .machines()
            .create(config)
            .send()
            .await
            .unwrap();
        ids.push(machine.id().to_string());
    }
    (sim, ids)
}

/// What one run of the fleet gave.
struct Run {
    /// Makespan over the limit-bound minimum.
    ratio: f64,
    /// Responses 429 the emulator gave.
    throttled: usize,
    /// Admissions the replicas' shared limiters had to leave to their local limiters.
    fallbacks: u64,
}

/// Runs the 4 replicas against the emulator, each sharing `redis` when given.
async fn fleet(sim: &SimHandle, ids: &[String], redis: Option<(&str, &str)>) -> Run {
    sim.set_rate_limits(fly_machines_sim::RateLimits::fly());
    sim.clear_requests();
    let start_ms = unix_ms() + 500;
    let exe = std::env::current_exe().expect("the bench binary");
    let children: Vec<_> = ids
        .chunks(MACHINES_PER_REPLICA)
        .enumerate()
        .map(|(n, machines)| {
            let mut command = std::process::Command::new(&exe);
            command
                .env(REPLICA_ENV, n.to_string())
                .env("FLY_BENCH_TOKEN", sim.token())
                .env("FLY_BENCH_URL", sim.base_url())
                .env("FLY_BENCH_MACHINES", machines.join(","))
                .env("FLY_BENCH_START_MS", start_ms.to_string())
                .stdout(std::process::Stdio::piped());
            if let Some((url, namespace)) = redis {
                command
                    .env("FLY_BENCH_REDIS", url)
                    .env("FLY_BENCH_NAMESPACE", namespace);
            }
            command.spawn().expect("a replica starts")
        })
        .collect();
    let mut finished = start_ms;
    let mut fallbacks = 0;
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("the waiting thread")
            .expect("the replica runs");
        assert!(output.status.success(), "a replica failed");
        let text = String::from_utf8_lossy(&output.stdout);
        let at: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("finished_ms "))
            .and_then(|v| v.parse().ok())
            .expect("the replica says when it finished");
        finished = finished.max(at);
        fallbacks += text
            .lines()
            .find_map(|l| l.strip_prefix("fallbacks "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    let makespan = Duration::from_millis(finished - start_ms);
    let throttled = sim.requests().iter().filter(|r| r.status == 429).count();
    Run {
        ratio: makespan.as_secs_f64() / minimum().as_secs_f64(),
        throttled,
        fallbacks,
    }
}

/// Microseconds per admission (p50, p99) of `limiter` over fresh keys, so none waits.
async fn acquire_us(limiter: &Limiter, rounds: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let key = LimitKey::new(OperationId::MachinesStart, &format!("bench-{i}"));
        let started = Instant::now();
        limiter
            .acquire(RateLimitClass::PerMachine, &key)
            .await
            .expect("a fresh key admits at once");
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

#[tokio::main]
async fn main() {
    if std::env::var(REPLICA_ENV).is_ok() {
        return replica().await;
    }
    // `cargo test --benches` lists bench binaries; keep that quick.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("benchmarking replicas sharing Fly's limits through Redis...");
    let redis = RedisServer::start();
    let url = redis.url();
    let (sim, ids) = emulator().await;
    let namespace = format!("bench-{}", unix_ms());
    let shared_run = fleet(&sim, &ids, Some((&url, &namespace))).await;
    let local_run = fleet(&sim, &ids, None).await;

    let shared = Limiter::new(
        RateLimits::fly_defaults().shared(SharedLimits::redis(&url).namespace("bench-latency")),
    )
    .unwrap();
    // Connect and load the script first, then measure.
    acquire_us(&shared, 100).await;
    let (shared_p50, shared_p99) = acquire_us(&shared, 5000).await;
    let fallbacks = shared.shared().map_or(0, |s| s.stats().fallbacks);
    let local = Limiter::new(RateLimits::fly_defaults()).unwrap();
    let (local_p50, local_p99) = acquire_us(&local, 5000).await;

    println!("replicas_minimum_s: {:.0}", minimum().as_secs_f64());
    println!("replicas_fleet_makespan_ratio: {:.3}", shared_run.ratio);
    println!("replicas_429s: {}", shared_run.throttled);
    println!("replicas_shared_fallbacks: {}", shared_run.fallbacks);
    println!(
        "replicas_fleet_makespan_ratio_local_only: {:.3}",
        local_run.ratio
    );
    println!("replicas_429s_local_only: {}", local_run.throttled);
    println!("shared_acquire_us_p50: {shared_p50:.1}");
    println!("shared_acquire_us_p99: {shared_p99:.1}");
    println!("shared_acquire_fallbacks: {fallbacks}");
    println!("local_acquire_us_p50: {local_p50:.2}");
    println!("local_acquire_us_p99: {local_p99:.2}");
}
