//! Applying plans on the emulator, on one virtual timeline: nothing sleeps, and a rollout that
//! waits minutes of health gates takes a moment of real time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fly_machines::Client;
use fly_machines::vtime::VirtualTime;
use fly_machines_deploy::apply::{Applier, ApplyError, Cause, Progress, Report, Rollback};
use fly_machines_deploy::{DesiredFleet, marks, observed, plan};
use fly_machines_sim::{Sim, SimHandle};
use futures::StreamExt;
use tokio::task::JoinHandle;

/// Longest a scenario may take in real time before it is declared hung.
const REAL_TIME_LIMIT: Duration = Duration::from_secs(60);

pub(crate) const APP: &str = "roll";

fn fleet(image: &str, extra: &str) -> DesiredFleet {
    fleet_of("rolling", 3, image, extra)
}

/// `count` machines in `iad` under strategy `kind` (`max_unavailable` 1 where it applies).
pub(crate) fn fleet_of(kind: &str, count: u32, image: &str, extra: &str) -> DesiredFleet {
    DesiredFleet::from_toml(&fleet_toml(APP, kind, count, image, extra)).expect("fixture")
}

/// The fleet file of [`fleet_of`], for app `app`.
pub(crate) fn fleet_toml(app: &str, kind: &str, count: u32, image: &str, extra: &str) -> String {
    let unavailable = if kind == "bluegreen" || kind == "immediate" {
        ""
    } else {
        "max_unavailable = 1"
    };
    format!(
        r#"
app = "{app}"

[[group]]
name = "web"
image = "{image}"
regions = {{ iad = {count} }}

[group.strategy]
kind = "{kind}"
{unavailable}
{extra}
"#
    )
}

pub(crate) struct World {
    pub(crate) vt: VirtualTime,
    pub(crate) sim: Arc<SimHandle>,
    pub(crate) client: Client,
    driver: JoinHandle<()>,
}

/// Where the emulator's records stood before a step, so the step's own can be checked.
pub(crate) struct Mark {
    serving_seq: u64,
    log_len: usize,
    machines_ever: usize,
}

impl World {
    pub(crate) async fn start() -> World {
        World::start_with(Sim::builder()).await
    }

    pub(crate) async fn start_with(sim: fly_machines_sim::SimBuilder) -> World {
        let vt = VirtualTime::new(Duration::from_millis(250));
        let sim = Arc::new(
            sim.clock(vt.sim_clock())
                .transition_time(Duration::from_secs(1))
                .start()
                .await
                .expect("the emulator starts"),
        );
        let client = vt.client_builder(&sim).build().expect("the client builds");
        let driver = vt.drive(sim.clone());
        let world = World {
            vt,
            sim,
            client,
            driver,
        };
        let client = world.client.clone();
        world
            .run(async move { client.apps().create(APP, "personal").send().await })
            .await
            .expect("the app");
        world
    }

    /// A world whose server allows half of what the client paces for, so it answers 429s,
    /// and fails 5% of everything with a 5xx (seeded, so each run meets the same storm).
    pub(crate) async fn in_a_storm() -> World {
        let half = fly_machines_sim::Limit::new(0.5, 2);
        World::start_with(
            Sim::builder()
                .seed(7)
                .faults(fly_machines_sim::Faults::seeded(11).error_rate(0.05))
                .rate_limits(fly_machines_sim::RateLimits::fly().with_default(half)),
        )
        .await
    }

    /// A world whose app already holds `desired`, applied from nothing.
    pub(crate) async fn holding(desired: &DesiredFleet) -> World {
        let world = World::start().await;
        world.apply(desired).await.0.expect("the fleet");
        world
    }

    pub(crate) async fn run<T, F>(&self, future: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.vt
            .run_within("apply", REAL_TIME_LIMIT, future)
            .await
            .expect("the scenario ends within its real-time limit")
    }

    /// Lets `span` of virtual time pass, as a worker asleep on the client's clock.
    pub(crate) async fn pass(&self, span: Duration) {
        let clock = self.vt.client_clock();
        self.run(async move { clock.sleep(span).await }).await;
    }

    /// Every request the emulator answered, after checking that its faults were met: at least
    /// one 429 and one 5xx, so a run that passed did pass through them.
    pub(crate) fn log_through_the_storm(&self) -> Vec<fly_machines_sim::RequestRecord> {
        let log = self.sim.requests();
        let throttled = log.iter().filter(|r| r.status == 429).count();
        let failed = log.iter().filter(|r| r.status >= 500).count();
        assert!(
            throttled > 0 && failed > 0,
            "the storm happened: {throttled} 429s, {failed} 5xx"
        );
        log
    }

    /// Plans `desired` against the app as it is, and applies the plan; also returns every
    /// progress event.
    pub(crate) async fn apply(
        &self,
        desired: &DesiredFleet,
    ) -> (Result<Report, ApplyError>, Vec<Progress>) {
        let (client, desired) = (self.client.clone(), desired.clone());
        self.run(async move {
            let seen = observed::observe(&client, desired.app())
                .await
                .expect("observe");
            let plan = plan(&desired, &seen);
            let (tx, rx) = futures::channel::mpsc::unbounded();
            let result = Applier::new(client)
                .progress(tx)
                .apply(&desired, &plan)
                .await;
            (result, rx.collect().await)
        })
        .await
    }

    pub(crate) async fn converged(&self, desired: &DesiredFleet) -> bool {
        let (client, desired) = (self.client.clone(), desired.clone());
        self.run(async move {
            let seen = observed::observe(&client, desired.app())
                .await
                .expect("observe");
            plan(&desired, &seen).is_converged()
        })
        .await
    }

    /// (id, image, state, revision mark, leased) of every machine not gone, by id.
    pub(crate) fn machines(&self) -> Vec<(String, String, String, String, bool)> {
        let mut all: Vec<_> = self
            .sim
            .machines(APP)
            .iter()
            .filter(|m| !m.state().is_terminal())
            .map(|m| {
                (
                    m.id().to_owned(),
                    m.image().unwrap_or_default().to_owned(),
                    m.state().to_string(),
                    m.metadata(marks::REVISION).unwrap_or_default().to_owned(),
                    m.lease().is_some(),
                )
            })
            .collect();
        all.sort();
        all
    }

    /// Notes where the emulator's records stand.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            serving_seq: self.sim.serving_changes(APP).last().map_or(0, |c| c.seq),
            log_len: self.sim.requests().len(),
            machines_ever: self.sim.all_machines(APP).len(),
        }
    }

    /// The fewest machines serving at any change since `since` (the count at `since` when
    /// nothing changed), as the emulator counts them: started and not cordoned.
    pub(crate) fn min_serving(&self, since: &Mark) -> usize {
        let changes = self.sim.serving_changes(APP);
        let at_mark = changes
            .iter()
            .rev()
            .find(|c| c.seq <= since.serving_seq)
            .map_or(0, |c| c.count);
        changes
            .iter()
            .filter(|c| c.seq > since.serving_seq)
            .map(|c| c.count)
            .min()
            .unwrap_or(at_mark)
    }

    /// What must hold of every step since `since`, from the emulator's log and state: serving
    /// never below `floor`; every update carried a lease nonce and none was refused for a
    /// lease; exactly `created` machines were made (no create duplicated).
    pub(crate) fn check_invariants(&self, since: &Mark, floor: usize, created: usize) {
        let min = self.min_serving(since);
        assert!(min >= floor, "serving fell to {min}, below {floor}");
        let log = self.sim.requests();
        let updates: Vec<_> = log[since.log_len.min(log.len())..]
            .iter()
            .filter(|r| r.operation == Some("Machines_update"))
            .collect();
        assert!(
            updates.iter().all(|r| r.lease_nonce.is_some()),
            "an update without its lease nonce"
        );
        assert!(
            updates.iter().all(|r| r.status != 409),
            "an update refused for a lease or a version"
        );
        let made = self.sim.all_machines(APP).len() - since.machines_ever;
        assert_eq!(made, created, "machines made by the step");
    }

    /// Every machine not gone: id and config.
    pub(crate) fn configs(&self) -> Vec<(String, Option<fly_machines::types::MachineConfig>)> {
        let mut all: Vec<_> = self
            .sim
            .machines(APP)
            .into_iter()
            .filter(|m| !m.state().is_terminal())
            .map(|m| {
                (
                    m.id().to_owned(),
                    m.config.clone().map(without_default_init),
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub(crate) async fn shutdown(self) {
        self.driver.abort();
        let _ = self.driver.await;
        if let Ok(sim) = Arc::try_unwrap(self.sim) {
            sim.shutdown().await;
        }
    }
}

#[tokio::test]
async fn rolling_creates_then_moves_every_machine_and_converges() {
    let world = World::start().await;
    let v1 = fleet("nginx:1.27", "");
    let (report, events) = world.apply(&v1).await;
    let report = report.expect("the first apply creates the fleet");
    assert_eq!(report.created.len(), 3);
    assert!(events.contains(&Progress::Done));
    assert!(world.converged(&v1).await);

    let v2 = fleet("nginx:1.28", "");
    let (report, events) = world.apply(&v2).await;
    let report = report.expect("the image change rolls out");
    assert_eq!(report.moved.len(), 3);
    let gates = events
        .iter()
        .filter(|e| matches!(e, Progress::GatePassed { .. }))
        .count();
    assert_eq!(gates, 3, "{events:?}");
    assert!(world.converged(&v2).await);
    for (id, image, state, revision, leased) in world.machines() {
        assert_eq!(image, "nginx:1.28", "{id}");
        assert_eq!(state, "started", "{id}");
        assert_eq!(revision, v2.groups()[0].revision(), "{id}");
        assert!(!leased, "{id} is left leased");
    }
    // The moves took their health gates' time (10 s each, one at a time), virtually.
    assert!(
        world.vt.elapsed() >= Duration::from_secs(30),
        "{:?}",
        world.vt.elapsed()
    );
    world.shutdown().await;
}

#[tokio::test]
async fn a_failing_gate_rolls_every_moved_machine_back() {
    let v1 = fleet("nginx:1.27", "");
    let world = World::holding(&v1).await;
    let before = world.machines();

    let broken = fleet("example/unpullable:2", "");
    let (result, events) = world.apply(&broken).await;
    let error = result.expect_err("the new image never starts");
    assert_eq!(error.rollback, Rollback::Done, "{error}");
    let Cause::Gate(gate) = &error.cause else {
        panic!("a gate failed: {error}")
    };
    assert!(gate.saw.contains("failed"), "{gate}");
    assert!(
        !gate.timed_out,
        "a failed machine fails the gate at once: {gate}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::RollingBack { .. }))
    );
    // Every machine is back on its config, started, unleased; nothing was created.
    let after = world.machines();
    assert_eq!(after.len(), 3);
    for ((id, image, state, revision, leased), old) in after.iter().zip(&before) {
        assert_eq!(id, &old.0);
        assert_eq!(image, "nginx:1.27", "{id}");
        assert_eq!(state, "started", "{id}");
        assert_eq!(revision, &old.3, "{id}");
        assert!(!leased, "{id} is left leased");
    }
    assert!(world.converged(&v1).await);
    world.shutdown().await;
}

#[tokio::test]
async fn without_rollback_the_fleet_stops_where_it_failed() {
    let world = World::holding(&fleet("nginx:1.27", "")).await;
    let broken = fleet("example/unpullable:2", "rollback = false");
    let error = world.apply(&broken).await.0.expect_err("the gate fails");
    assert_eq!(error.rollback, Rollback::Off, "{error}");
    let images: Vec<String> = world.machines().into_iter().map(|m| m.1).collect();
    let moved = images.iter().filter(|i| i.contains("unpullable")).count();
    assert_eq!(moved, 1, "only the first batch moved: {images:?}");
    assert!(
        world.machines().iter().all(|m| !m.4),
        "no lease is left held"
    );
    world.shutdown().await;
}

#[tokio::test]
async fn scaling_down_destroys_the_surplus_only() {
    let world = World::holding(&fleet("nginx:1.27", "")).await;
    let one = DesiredFleet::from_toml(
        &format!("app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"nginx:1.27\"\nregions = {{ iad = 1 }}\n"),
    )
    .expect("fixture");
    let report = world.apply(&one).await.0.expect("the scale-down");
    assert_eq!(report.destroyed.len(), 2);
    assert_eq!(world.machines().len(), 1);
    assert!(world.converged(&one).await);
    world.shutdown().await;
}

fn blue_green(image: &str) -> DesiredFleet {
    DesiredFleet::from_toml(&format!(
        "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"{image}\"\nregions = {{ iad = 3 }}\n[group.strategy]\nkind = \"bluegreen\"\n"
    ))
    .expect("fixture")
}

/// (id, cordoned) of every machine not gone.
fn serving(world: &World) -> Vec<(String, bool)> {
    world
        .sim
        .machines(APP)
        .iter()
        .filter(|m| !m.state().is_terminal())
        .map(|m| (m.id().to_owned(), m.is_cordoned()))
        .collect()
}

#[tokio::test]
async fn blue_green_replaces_every_machine_with_a_healthy_green_one() {
    let world = World::holding(&blue_green("nginx:1.27")).await;
    let blues: Vec<String> = world.machines().into_iter().map(|m| m.0).collect();
    let v2 = blue_green("nginx:1.28");
    let (report, events) = world.apply(&v2).await;
    let report = report.expect("the switch");
    assert_eq!((report.created.len(), report.destroyed.len()), (3, 3));
    let after = world.machines();
    assert_eq!(after.len(), 3);
    for (id, image, state, _, leased) in &after {
        assert!(!blues.contains(id), "{id} is a blue machine left behind");
        assert_eq!((image.as_str(), state.as_str()), ("nginx:1.28", "started"));
        assert!(!leased);
    }
    assert!(
        serving(&world).iter().all(|(_, cordoned)| !cordoned),
        "greens serve"
    );
    // Every green passed its gate before the first blue went.
    let first_destroy = events
        .iter()
        .position(|e| matches!(e, Progress::Destroyed { .. }))
        .expect("blues destroyed");
    let gates_before = events[..first_destroy]
        .iter()
        .filter(|e| matches!(e, Progress::GatePassed { .. }))
        .count();
    assert_eq!(gates_before, 3, "{events:?}");
    assert!(world.converged(&v2).await);
    world.shutdown().await;
}

#[tokio::test]
async fn a_failing_green_is_destroyed_and_blue_keeps_serving() {
    let world = World::holding(&blue_green("nginx:1.27")).await;
    let before = world.machines();
    let error = world
        .apply(&blue_green("example/unpullable:2"))
        .await
        .0
        .expect_err("greens never start");
    assert_eq!(error.rollback, Rollback::Done, "{error}");
    assert_eq!(world.machines(), before, "blue untouched, no green left");
    assert!(serving(&world).iter().all(|(_, cordoned)| !cordoned));
    world.shutdown().await;
}

#[tokio::test]
async fn the_reconciler_puts_back_what_was_changed_or_destroyed_by_hand() {
    let world = World::start().await;
    let desired = fleet("nginx:1.27", "min_healthy_time = \"5s\"");
    let (client, d) = (world.client.clone(), desired.clone());
    let sim = world.sim.clone();
    let vt = world.vt.clone();
    let (first, second, third, waited) = world
        .run(async move {
            let mut rounds = Box::pin(
                fly_machines_deploy::Reconciler::new(client.clone(), d)
                    .interval(Duration::from_secs(60))
                    .run(),
            );
            let first = rounds.next().await.expect("a round");
            // By hand: one machine destroyed, another one's image changed.
            let ids: Vec<String> = sim
                .machines(APP)
                .iter()
                .filter(|m| m.metadata(marks::FLEET).is_some())
                .map(|m| m.id().to_owned())
                .collect();
            let app = client.app(APP);
            app.machine(ids[0].clone())
                .delete()
                .force()
                .send()
                .await
                .expect("destroy");
            app.machine(ids[1].clone())
                .modify_config(|c| c.image = Some("nginx:tampered".into()))
                .send()
                .await
                .expect("tamper");
            let before = vt.elapsed();
            let second = rounds.next().await.expect("a round");
            let waited = vt.elapsed() - before;
            let third = rounds.next().await.expect("a round");
            (first, second, third, waited)
        })
        .await;
    let fly_machines_deploy::Outcome::Applied(created) = first else {
        panic!("the first round creates the fleet: {first:?}")
    };
    assert_eq!(created.created.len(), 3);
    let fly_machines_deploy::Outcome::Applied(repair) = second else {
        panic!("the second round repairs: {second:?}")
    };
    assert_eq!(
        (repair.created.len(), repair.moved.len()),
        (1, 1),
        "{repair:?}"
    );
    // Within one interval (plus its spread) and the repair's own gates.
    assert!(waited <= Duration::from_secs(66 + 60), "{waited:?}");
    assert!(
        matches!(third, fly_machines_deploy::Outcome::Converged),
        "{third:?}"
    );
    assert!(world.converged(&desired).await);
    world.shutdown().await;
}

#[tokio::test]
async fn a_healthy_rolling_deploy_succeeds_through_5xx_and_a_429_storm() {
    // The server allows half of what the client paces for, so it answers 429s (to the creates
    // above all), and 5% of everything fails with a 5xx. The fleet is made, then rolled.
    let world = World::in_a_storm().await;
    let six = |image: &str| {
        DesiredFleet::from_toml(&format!(
            "app = \"{APP}\"\n[[group]]\nname = \"web\"\nimage = \"{image}\"\nregions = {{ iad = 6 }}\n\
             [group.strategy]\nkind = \"rolling\"\nmax_unavailable = 2\n"
        ))
        .expect("fixture")
    };
    world
        .apply(&six("nginx:1.27"))
        .await
        .0
        .expect("the fleet, through the faults");
    let v2 = six("nginx:1.28");
    let report = world
        .apply(&v2)
        .await
        .0
        .expect("the rollout, through the faults");
    assert_eq!(report.moved.len(), 6);
    assert!(world.converged(&v2).await);

    let log = world.log_through_the_storm();
    // Every update carried a lease nonce, and none was refused for a lease.
    let updates: Vec<_> = log
        .iter()
        .filter(|r| r.operation == Some("Machines_update"))
        .collect();
    assert!(
        updates.iter().all(|r| r.lease_nonce.is_some()),
        "an update without its nonce"
    );
    assert!(
        updates.iter().all(|r| r.status != 409),
        "an update refused for a lease"
    );
    // No machine was made twice, and none is left leased.
    let all = world.machines();
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.iter().all(|m| !m.4), "a lease is left held");
    world.shutdown().await;
}

/// `config` without an `init` that only says what the default is (`tty: false`): a config
/// read from the API carries it, so a config put back as read may too, meaning the same.
fn without_default_init(
    mut config: fly_machines::types::MachineConfig,
) -> fly_machines::types::MachineConfig {
    let default = fly_machines::types::MachineInit {
        tty: Some(false),
        ..Default::default()
    };
    if config.init.as_ref() == Some(&default) {
        config.init = None;
    }
    config
}
