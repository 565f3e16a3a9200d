//! Rollout and planning benchmarks, each compared with a baseline measured in the same run.
//!
//! Prints `name: value` lines:
//! * `plan_1000_machines_ms`: one `plan()` of 1,000 machines that all need an update (the
//!   median of 21 runs; target under 10 ms);
//! * `rolling_makespan_ratio`: an image change across 100 machines, `max_unavailable` 10, on the
//!   emulator with Fly's rate limits and a fixed boot time, on virtual time: the makespan over
//!   the minimum the boot time allows (10 waves of one boot, the boot measured in the same run),
//!   with `rolling_429s`;
//! * `bluegreen_makespan_ratio`: the same fleet replaced blue-green: the makespan over the
//!   minimum Fly's create limit and the boot time allow (100 creates at 1 a second after a
//!   burst of 3, then one boot, then one destroy), with `bluegreen_429s`;
//! * `rollout_makespan_ratio`: the larger of the two (target <= 1.10, with 0 responses 429);
//! * `flyctl_like_makespan_ratio`, `flyctl_like_429s`: the blue-green creates done the way a
//!   fixed pool of 8 without pacing does them, against the same limits.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fly_machines::vtime::VirtualTime;
use fly_machines::{Client, MachineState, RateLimits, RetryPolicy, WaitState};
use fly_machines_deploy::{Applier, DesiredFleet, ObservedMachine, marks, observed, plan};
use fly_machines_sim::{Sim, SimHandle};

const N: u32 = 100;
const WAVE: u32 = 10;
const TRANSITION: Duration = Duration::from_secs(2);
const APP: &str = "bench";

fn fleet(image: &str, kind: &str) -> DesiredFleet {
    DesiredFleet::from_toml(&format!(
        "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"{image}\"\nregions = {{ iad = {N} }}\n\
         [group.strategy]\nkind = \"{kind}\"\nmax_unavailable = {WAVE}\nmax_concurrency = {N}\n\
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
                .transition_time(TRANSITION)
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
        let client = Client::builder()
            .token(sim.token())
            .base_url(sim.base_url())
            .clock(vt.client_clock())
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

/// Blue-green creates as a fixed pool of 8 without pacing makes them: the time for `N` creates
/// and the 429s it drew (each 429 retried after the `Retry-After` the server asks for).
async fn flyctl_like_creates(world: &World) -> Duration {
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
            let workers: Vec<_> = (0..8)
                .map(|w| {
                    let (client, next) = (client.clone(), next.clone());
                    vt.spawn(format!("pool-{w}"), async move {
                        while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < N {
                            let config = fly_machines::types::MachineConfig {
                                image: Some("nginx:2".into()),
                                ..Default::default()
                            };
                            client
                                .app("pool")
                                .machines()
                                .create(config)
                                .send()
                                .await
                                .expect("a create, after its retries");
                        }
                    })
                })
                .collect();
            vt.idle(futures::future::join_all(workers)).await;
            vt.elapsed() - from
        })
        .await
}

#[tokio::main]
async fn main() {
    let plan_ms = plan_1000();

    let world = World::start(true).await;
    let (boot_create, boot_update, destroy) = boot_times(&world).await;
    // The fleet itself, then an image change rolled in waves of 10.
    world.apply(fleet("nginx:1", "rolling")).await;
    world.sim.clear_requests();
    let rolling = world.apply(fleet("nginx:2", "rolling")).await;
    let rolling_429s = world.throttled();
    let rolling_min = boot_update * N.div_ceil(WAVE);
    // Then the whole fleet replaced blue-green.
    world.sim.clear_requests();
    let bluegreen = world.apply(fleet("nginx:3", "bluegreen")).await;
    let bluegreen_429s = world.throttled();
    // Fly's create limit: 1 a second after a burst of 3.
    let creates_floor = Duration::from_secs(u64::from(N - 3));
    let bluegreen_min = creates_floor + boot_create + destroy;
    world.shutdown().await;

    let unpaced = World::start(false).await;
    let pool = flyctl_like_creates(&unpaced).await;
    let pool_429s = unpaced.throttled();
    unpaced.shutdown().await;

    let ratio = |took: Duration, min: Duration| took.as_secs_f64() / min.as_secs_f64();
    let rolling_ratio = ratio(rolling, rolling_min);
    let bluegreen_ratio = ratio(bluegreen, bluegreen_min);
    println!("plan_1000_machines_ms: {plan_ms:.2}");
    println!("boot_create_s: {:.2}", boot_create.as_secs_f64());
    println!("boot_update_s: {:.2}", boot_update.as_secs_f64());
    println!("destroy_s: {:.2}", destroy.as_secs_f64());
    println!("rolling_makespan_s: {:.2}", rolling.as_secs_f64());
    println!("rolling_minimum_s: {:.2}", rolling_min.as_secs_f64());
    println!("rolling_makespan_ratio: {rolling_ratio:.3}");
    println!("rolling_429s: {rolling_429s}");
    println!("bluegreen_makespan_s: {:.2}", bluegreen.as_secs_f64());
    println!("bluegreen_minimum_s: {:.2}", bluegreen_min.as_secs_f64());
    println!("bluegreen_makespan_ratio: {bluegreen_ratio:.3}");
    println!("bluegreen_429s: {bluegreen_429s}");
    println!(
        "rollout_makespan_ratio: {:.3}",
        rolling_ratio.max(bluegreen_ratio)
    );
    println!("rollout_429s: {}", rolling_429s + bluegreen_429s);
    println!("flyctl_like_creates_s: {:.2}", pool.as_secs_f64());
    println!(
        "flyctl_like_makespan_ratio: {:.3}",
        ratio(pool, creates_floor)
    );
    println!("flyctl_like_429s: {pool_429s}");
}
