//! Rollout and planning benchmarks, each compared with a baseline measured in the same run.
//!
//! Prints `name: value` lines:
//! * `plan_1000_machines_ms`: one `plan()` of 1,000 machines that all need an update (the
//!   median of 21 runs; target under 10 ms);
//! * `apply_100_makespan_ratio`: a fleet of 100 machines applied to an empty app through the
//!   `Applier`, with `apply_100_429s`;
//! * `rolling_makespan_ratio`: an image change across 100 machines, `max_unavailable` 10, with
//!   `rolling_429s`;
//! * `bluegreen_makespan_ratio`: the same fleet replaced blue-green, with `bluegreen_429s`;
//! * `rollout_makespan_ratio`: the larger of rolling's and blue-green's (target <= 1.10, with
//!   `rollout_429s` = 0);
//! * `flyctl_like_makespan_ratio`, `flyctl_like_429s`, `flyctl_like_failed_creates`,
//!   `flyctl_like_created`: the blue-green creates done the way a fixed pool of 8 without pacing
//!   does them, against the same limits (a create that still fails after the SDK's retries is
//!   counted, not retried; a ratio under 1 then means creates were given up, not made faster).
//!
//! Everything runs on the emulator with Fly's rate limits and a fixed transition time, on
//! virtual time. Each ratio is the makespan over the least time the work could take, which is
//! the larger of two bounds, both printed (`*_boot_bound_s`, `*_rate_bound_s`):
//! * the boot bound: boots and destroys that cannot overlap, timed in the same run on a
//!   machine with nothing else going on (`boot_create_s`, `boot_update_s`, `destroy_s`).
//!   Rolling moves 10 machines at a time, so 100 machines take 10 boots one after another;
//!   creating a fleet takes one boot, blue-green one boot then one destroy;
//! * the rate bound: Fly's limits as the operation table has them from the spec's
//!   `x-rate-limit` (create: per app, 1 a second after a burst of 3). `n` calls on one key
//!   cannot all be made before `(n - burst) × interval`, and the machine the last create makes
//!   must still boot (and, blue-green, the blues then go). A rolling update sends per-machine
//!   calls only (a lease, a read, an update, a release: one of each per machine, within each
//!   machine's burst) and one listing of the app, so its rate bound is zero.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fly_machines::vtime::VirtualTime;
use fly_machines::{Client, MachineState, OperationId, RateLimits, RetryPolicy, WaitState};
use fly_machines_deploy::{Applier, DesiredFleet, ObservedMachine, marks, observed, plan};
use fly_machines_sim::{Sim, SimHandle};

const N: u32 = 100;
const WAVE: u32 = 10;
/// Each state transition's time on the emulator (a boot is one after an update, two after a
/// create). `ROLLOUT_BENCH_TRANSITION_MS` sets another, e.g. one that is not a multiple of the
/// gates' 250 ms poll.
fn transition() -> Duration {
    std::env::var("ROLLOUT_BENCH_TRANSITION_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis)
}
const APP: &str = "bench";

fn fleet(image: &str, kind: &str) -> DesiredFleet {
    DesiredFleet::from_toml(&format!(
        "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"{image}\"\nregions = {{ iad = {N} }}\n\
         [group.strategy]\nkind = \"{kind}\"\nmax_unavailable = {WAVE}\n\
         min_healthy_time = \"0s\"\n"
    ))
    .expect("the fleet")
}

struct World {
    vt: VirtualTime,
    sim: Arc<SimHandle>,
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl World {
    async fn start(paced: bool) -> World {
        let vt = VirtualTime::new(Duration::from_millis(100));
        let sim = Arc::new(
            Sim::builder()
                .clock(vt.sim_clock())
                .transition_time(transition())
                .request_log_capacity(1_000_000)
                .start()
                .await
                .expect("the emulator"),
        );
        let limits = if paced {
            RateLimits::fly_defaults()
        } else {
            RateLimits::off()
        };
        let client = vt
            .client_builder(&sim)
            .rate_limits(limits)
            .retry(RetryPolicy::default())
            .build()
            .expect("the client");
        let driver = vt.drive(sim.clone());
        World {
            vt,
            sim,
            client,
            driver,
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        self.vt.spawn("bench", f).await.expect("the bench worker")
    }

    fn throttled(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count()
    }

    async fn apply(&self, desired: DesiredFleet) -> Duration {
        let client = self.client.clone();
        let vt = self.vt.clone();
        self.run(async move {
            let from = vt.elapsed();
            let seen = observed::observe(&client, desired.app())
                .await
                .expect("observe");
            let plan = plan(&desired, &seen);
            Applier::new(client)
                .poll_interval(Duration::from_millis(250))
                .apply(&desired, &plan)
                .await
                .unwrap_or_else(|e| panic!("the rollout: {e}"));
            vt.elapsed() - from
        })
        .await
    }

    async fn shutdown(self) {
        self.driver.abort();
        let _ = self.driver.await;
        if let Ok(sim) = Arc::try_unwrap(self.sim) {
            sim.shutdown().await;
        }
    }
}

/// Virtual time from an update (or a create) to `started`, and from a destroy to gone, of one
/// machine with nothing else going on: what a rollout cannot go below.
async fn boot_times(world: &World) -> (Duration, Duration, Duration) {
    let (client, vt) = (world.client.clone(), world.vt.clone());
    world
        .run(async move {
            client
                .apps()
                .create("probe", "personal")
                .send()
                .await
                .expect("app");
            let app = client.app("probe");
            let config = |image: &str| fly_machines::types::MachineConfig {
                image: Some(image.into()),
                ..Default::default()
            };
            let t0 = vt.elapsed();
            let made = app
                .machines()
                .create(config("nginx:1"))
                .send()
                .await
                .expect("create");
            let wait = |m: fly_machines::Machine, state: WaitState, v: Option<String>| {
                let vt = vt.clone();
                async move {
                    vt.waiting(
                        m.wait_for(vec![state])
                            .maybe_version(v)
                            .timeout(Duration::from_secs(120))
                            .send(),
                    )
                    .await
                    .expect("the wait")
                }
            };
            let machine = made.handle().clone();
            wait(
                machine.clone(),
                WaitState::Started,
                made.version().map(str::to_owned),
            )
            .await;
            let create = vt.elapsed() - t0;
            let t1 = vt.elapsed();
            let updated = machine
                .update_config(config("nginx:2"))
                .send()
                .await
                .expect("update");
            wait(
                machine.clone(),
                WaitState::Started,
                updated.version().map(str::to_owned),
            )
            .await;
            let update = vt.elapsed() - t1;
            let t2 = vt.elapsed();
            machine.delete().force().send().await.expect("destroy");
            wait(machine, WaitState::Destroyed, None).await;
            (create, update, vt.elapsed() - t2)
        })
        .await
}

fn plan_1000() -> f64 {
    let old = DesiredFleet::from_toml(&format!(
        "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"nginx:1\"\nregions = {{ iad = 400, ord = 300, ams = 300 }}\n\
         env = {{ A = \"1\", B = \"2\" }}\n"
    ))
    .expect("fleet");
    let new = DesiredFleet::from_toml(&format!(
        "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"nginx:2\"\nregions = {{ iad = 400, ord = 300, ams = 300 }}\n\
         env = {{ A = \"1\", B = \"3\" }}\n"
    ))
    .expect("fleet");
    let group = &old.groups()[0];
    let observed: Vec<ObservedMachine> = (0..1000)
        .map(|i| {
            let region = match i {
                0..400 => "iad",
                400..700 => "ord",
                _ => "ams",
            };
            let mut m = ObservedMachine::new(
                format!("m{i:05}"),
                region,
                MachineState::Started,
                group.machine_config(old.name(), None),
            );
            m.version = Some(format!("v{i}"));
            m
        })
        .collect();
    assert!(observed[0].mark(marks::REVISION).is_some());
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let p = plan(&new, &observed);
            let took = t.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(p.summary().update, 1000);
            took
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The least time `calls` calls on one key of `operation` take under Fly's limit: the burst goes
/// at once, then one call per interval.
fn rate_floor(operation: OperationId, calls: u32) -> Duration {
    let limit = operation.operation().rate_limit.fly_limit();
    limit.interval * calls.saturating_sub(limit.burst)
}

/// Blue-green creates as a fixed pool of 8 without pacing makes them: the time for `N` creates
/// (each 429 retried by the SDK's policy, up to its attempts) and how many still failed.
async fn flyctl_like_creates(world: &World) -> (Duration, u32) {
    let (client, vt) = (world.client.clone(), world.vt.clone());
    world
        .run(async move {
            client
                .apps()
                .create("pool", "personal")
                .send()
                .await
                .expect("app");
            let from = vt.elapsed();
            let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let failed = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let workers: Vec<_> = (0..8)
                .map(|w| {
                    let (client, next, failed) = (client.clone(), next.clone(), failed.clone());
                    vt.spawn(format!("pool-{w}"), async move {
                        while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < N {
                            let config = fly_machines::types::MachineConfig {
                                image: Some("nginx:2".into()),
                                ..Default::default()
                            };
                            let made = client.app("pool").machines().create(config).send().await;
                            if made.is_err() {
                                // A deploy tool would fail here; the pool counts it and goes on.
                                failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            vt.idle(futures::future::join_all(workers)).await;
            (
                vt.elapsed() - from,
                failed.load(std::sync::atomic::Ordering::SeqCst),
            )
        })
        .await
}

fn print_secs(name: &str, d: Duration) {
    println!("{name}: {:.2}", d.as_secs_f64());
}

/// A workload's figures against its two bounds.
struct Figures {
    name: &'static str,
    took: Duration,
    boot_bound: Duration,
    rate_bound: Duration,
    throttled: usize,
}

impl Figures {
    fn minimum(&self) -> Duration {
        self.boot_bound.max(self.rate_bound)
    }

    fn ratio(&self) -> f64 {
        self.took.as_secs_f64() / self.minimum().as_secs_f64()
    }

    fn print(&self) {
        print_secs(&format!("{}_makespan_s", self.name), self.took);
        print_secs(&format!("{}_boot_bound_s", self.name), self.boot_bound);
        print_secs(&format!("{}_rate_bound_s", self.name), self.rate_bound);
        print_secs(&format!("{}_minimum_s", self.name), self.minimum());
        println!("{}_makespan_ratio: {:.3}", self.name, self.ratio());
        println!("{}_429s: {}", self.name, self.throttled);
    }
}

#[tokio::main]
async fn main() {
    let plan_ms = plan_1000();

    let world = World::start(true).await;
    let (boot_create, boot_update, destroy) = boot_times(&world).await;
    // The fleet itself, made through the `Applier` from an empty app.
    world.sim.clear_requests();
    let apply = Figures {
        name: "apply_100",
        took: world.apply(fleet("nginx:1", "rolling")).await,
        boot_bound: boot_create,
        rate_bound: rate_floor(OperationId::MachinesCreate, N) + boot_create,
        throttled: world.throttled(),
    };
    // Then an image change rolled 10 machines at a time.
    world.sim.clear_requests();
    let rolling = Figures {
        name: "rolling",
        took: world.apply(fleet("nginx:2", "rolling")).await,
        boot_bound: boot_update * N.div_ceil(WAVE),
        rate_bound: rate_floor(OperationId::MachinesUpdate, 1)
            .max(rate_floor(OperationId::MachinesList, 1)),
        throttled: world.throttled(),
    };
    // Then the whole fleet replaced blue-green.
    world.sim.clear_requests();
    let bluegreen = Figures {
        name: "bluegreen",
        took: world.apply(fleet("nginx:3", "bluegreen")).await,
        boot_bound: boot_create + destroy,
        rate_bound: rate_floor(OperationId::MachinesCreate, N) + boot_create + destroy,
        throttled: world.throttled(),
    };
    world.shutdown().await;

    let unpaced = World::start(false).await;
    let (pool, pool_failed) = flyctl_like_creates(&unpaced).await;
    let pool_429s = unpaced.throttled();
    unpaced.shutdown().await;
    let creates_floor = rate_floor(OperationId::MachinesCreate, N);

    println!("plan_1000_machines_ms: {plan_ms:.2}");
    print_secs("boot_create_s", boot_create);
    print_secs("boot_update_s", boot_update);
    print_secs("destroy_s", destroy);
    apply.print();
    rolling.print();
    bluegreen.print();
    println!(
        "rollout_makespan_ratio: {:.3}",
        rolling.ratio().max(bluegreen.ratio())
    );
    println!("rollout_429s: {}", rolling.throttled + bluegreen.throttled);
    print_secs("flyctl_like_creates_s", pool);
    print_secs("flyctl_like_rate_bound_s", creates_floor);
    println!(
        "flyctl_like_makespan_ratio: {:.3}",
        pool.as_secs_f64() / creates_floor.as_secs_f64()
    );
    println!("flyctl_like_429s: {pool_429s}");
    println!("flyctl_like_failed_creates: {pool_failed}");
    println!("flyctl_like_created: {}", N - pool_failed);
}
