//! Scenario 3: a blue/green deploy that never serves from fewer than N machines.
//!
//! The deploy is `fly-machines-deploy`'s blue-green strategy, run on a fleet of N machines
//! under faults: green machines are created out of the proxy, gated on health, uncordoned,
//! then the blue ones cordoned and destroyed. The control (the wrong order, by hand: green
//! created without launching, cordoned, started, waited for and probed; blue cordoned before
//! green is uncordoned) shows the check is not vacuous. "Serving" (started and uncordoned) is
//! what the emulator itself counts (`SimHandle::serving_changes`, in the order it applied each
//! change), checked after every change.

use std::time::Duration;

use fly_machines::poll::{Acceptor, Jitter, Poller};
use fly_machines::{App, Client, Machine, WaitState, types};
use fly_machines_sim::{Faults, Sim, SimHandle};

use crate::retries::Retries;
use crate::support::{Figures, World, config, create_app, secs, transient};
use fly_machines::vtime::VirtualTime;

const N: usize = 4;
const TRANSITION: Duration = Duration::from_millis(500);
/// How long the orchestrator keeps trying a machine that is not visible yet.
const VISIBILITY_GRACE: Duration = Duration::from_secs(15);
/// The pause between two tries of a machine that is not visible yet.
const NOT_VISIBLE_PAUSE: Duration = Duration::from_millis(250);

/// Calls `action` until it succeeds, tolerating transient failures and, for a while, the 404
/// of a machine that is not visible yet.
async fn insist<F, Fut>(machine: &Machine, what: &str, action: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = fly_machines::Result<()>>,
{
    let clock = machine.app().client().clock().clone();
    let poller = Poller::new(clock, NOT_VISIBLE_PAUSE, NOT_VISIBLE_PAUSE).jitter(Jitter::None);
    let polled = poller
        .poll(|round| {
            let act = action();
            async move {
                match act.await {
                    Ok(()) => Acceptor::Done(()),
                    Err(e) if transient(&e) => Acceptor::RetryNow,
                    Err(e) if e.is_not_found() && round.elapsed() < VISIBILITY_GRACE => {
                        Acceptor::Retry
                    }
                    Err(e) => Acceptor::Fail(e),
                }
            }
        })
        .await;
    if let Err(e) = polled {
        panic!("{what} {}: {e}", machine.id());
    }
}

/// Starts a machine; an ambiguous failure is resolved by looking at its state.
async fn start(machine: &Machine) {
    loop {
        match machine.start().await {
            Ok(_) => return,
            Err(e) if transient(&e) || e.is_precondition_failed() => {
                let state = loop {
                    match machine.get().await {
                        Ok(m) => break m.state(),
                        Err(e) if transient(&e) => {}
                        Err(e) => panic!("get {}: {e}", machine.id()),
                    }
                };
                if state != "created" && state != "stopped" {
                    return;
                }
            }
            Err(e) => panic!("start {}: {e}", machine.id()),
        }
    }
}

async fn create(app: &App, image: &str, key: &str, skip_launch: bool) -> types::Machine {
    loop {
        match app
            .machines()
            .create(config(image))
            .maybe_skip_launch(skip_launch.then_some(()))
            .idempotency_key(key)
            .send()
            .await
        {
            Ok(m) => return m.into_data(),
            Err(e) if transient(&e) => {}
            Err(e) => panic!("create {key}: {e}"),
        }
    }
}

async fn wait_started(vt: &VirtualTime, machine: &Machine, version: Option<String>) {
    vt.waiting(
        machine
            .wait_for(vec![WaitState::Started])
            .maybe_version(version)
            .timeout(Duration::from_secs(120))
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("{} never started: {e}", machine.id()));
}

/// One green machine, up to healthy and still cordoned.
async fn green(app: App, vt: VirtualTime, i: usize) -> Machine {
    let created = create(&app, "registry.fly.io/shop:v2", &format!("green-{i}"), true).await;
    let machine = app.machine(created.id.clone().expect("id"));
    insist(&machine, "cordon", || machine.cordon().send()).await;
    start(&machine).await;
    wait_started(&vt, &machine, created.instance_id.clone()).await;
    // Health probe: the machine answers a command.
    loop {
        match machine.exec(["true"]).timeout(Duration::from_secs(5)).await {
            Ok(r) => {
                assert_eq!(r.exit_code, Some(0), "probe of {}", machine.id());
                break;
            }
            Err(e) if transient(&e) => {}
            Err(e) => panic!("probe {}: {e}", machine.id()),
        }
    }
    machine
}

/// Runs `f` over `items` on workers of their own, and waits for all of them.
async fn each<I, T, F, Fut>(vt: &VirtualTime, name: &str, items: Vec<I>, f: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = items
        .into_iter()
        .enumerate()
        .map(|(i, m)| vt.spawn(format!("{name}-{i}"), f(m)))
        .collect();
    vt.idle(futures::future::join_all(tasks))
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
        .collect()
}

/// What changes whether a machine serves.
/// The last serving change so far.
fn serving_mark(sim: &SimHandle) -> u64 {
    sim.serving_changes("shop").last().map_or(0, |c| c.seq)
}

/// Machines serving (started and uncordoned, as the emulator counts them) after every change
/// since change `from_seq`: the minimum, the maximum, the count at the end, and each moment
/// below N.
fn serving(sim: &SimHandle, from_seq: u64) -> (usize, usize, usize, Vec<String>) {
    let changes = sim.serving_changes("shop");
    let at_start = changes
        .iter()
        .rev()
        .find(|c| c.seq <= from_seq)
        .map_or(0, |c| c.count);
    let (mut min, mut max, mut end) = (at_start, at_start, at_start);
    let mut dips = Vec::new();
    for c in changes.iter().filter(|c| c.seq > from_seq) {
        if c.count < N {
            let what = if c.serving { "serves" } else { "stops serving" };
            dips.push(format!("{} serving after {} {what}", c.count, c.machine));
        }
        min = min.min(c.count);
        max = max.max(c.count);
        end = c.count;
    }
    (min, max, end, dips)
}

struct Deploy {
    min: usize,
    max: usize,
    end: usize,
    dips: Vec<String>,
    blue_left: usize,
    green_serving: usize,
}

/// The control, by hand, switching in the wrong order.
async fn deploy_blue_first(scenario: &'static str, faults: Faults) -> Deploy {
    let (retries, _trace) = Retries::install();
    let sim = Sim::builder()
        .seed(5)
        .transition_time(TRANSITION)
        .faults(faults);
    let mut world = World::start(sim, TRANSITION / 5).await;
    let client = world.client.clone();
    let vt = world.vt.clone();

    // Blue: N machines serving v1.
    let (blue, from_seq, log_from) = {
        let vt = vt.clone();
        let client = client.clone();
        let sim = world.sim.clone();
        world
            .run("blue", async move {
                create_app(&client, "shop").await;
                let app = client.app("shop");
                let mut blue = Vec::new();
                for i in 0..N {
                    let m =
                        create(&app, "registry.fly.io/shop:v1", &format!("blue-{i}"), false).await;
                    blue.push((
                        app.machine(m.id.clone().expect("id")),
                        m.instance_id.clone(),
                    ));
                }
                let blue = each(&vt, "blue-up", blue.clone(), {
                    let vt = vt.clone();
                    move |(m, v): (Machine, Option<String>)| {
                        let vt = vt.clone();
                        async move {
                            wait_started(&vt, &m, v).await;
                            m
                        }
                    }
                })
                .await;
                (blue, serving_mark(&sim), sim.requests().len())
            })
            .await
    };

    // Green, then the switch, then blue goes away.
    let deploy_from = world.vt.elapsed();
    let app = client.app("shop");
    let (green_ids, blue_ids) = {
        let vt = vt.clone();
        let blue = blue.clone();
        world
            .run("deploy", async move {
                let greens = each(&vt, "green", (0..N).collect(), {
                    let (app, vt) = (app.clone(), vt.clone());
                    move |i| green(app.clone(), vt.clone(), i)
                })
                .await;
                let uncordon_green = |vt: VirtualTime, greens: Vec<Machine>| async move {
                    each(&vt, "uncordon", greens, |m| async move {
                        insist(&m, "uncordon", || m.uncordon().send()).await;
                    })
                    .await;
                };
                let cordon_blue = |vt: VirtualTime, blue: Vec<Machine>| async move {
                    each(&vt, "cordon", blue, |m| async move {
                        insist(&m, "cordon", || m.cordon().send()).await;
                    })
                    .await;
                };
                // The wrong order: blue leaves before green joins.
                cordon_blue(vt.clone(), blue.clone()).await;
                uncordon_green(vt.clone(), greens.clone()).await;
                each(&vt, "destroy", blue.clone(), {
                    let vt = vt.clone();
                    move |m| {
                        let vt = vt.clone();
                        async move {
                            insist(&m, "destroy", || m.delete().force().send()).await;
                            vt.waiting(
                                m.wait_for(vec![WaitState::Destroyed])
                                    .timeout(Duration::from_secs(60))
                                    .send(),
                            )
                            .await
                            .unwrap_or_else(|e| panic!("{} never destroyed: {e}", m.id()));
                        }
                    }
                })
                .await;
                (
                    greens
                        .iter()
                        .map(|m| m.id().to_string())
                        .collect::<Vec<_>>(),
                    blue.iter().map(|m| m.id().to_string()).collect::<Vec<_>>(),
                )
            })
            .await
    };
    let took = world.vt.elapsed() - deploy_from;

    let log = world.sim.requests();
    let (min, max, end, dips) = serving(&world.sim, from_seq);
    let state = |id: &String| {
        world
            .sim
            .machine("shop", id)
            .and_then(|m| m.state)
            .unwrap_or_default()
    };
    let blue_left = blue_ids
        .iter()
        .filter(|id| state(id) != "destroyed")
        .count();
    let green_serving = green_ids.iter().filter(|id| state(id) == "started").count();
    let deploy_log = &log[log_from..];

    let mut fig = Figures::new(scenario);
    fig.add("n", N);
    fig.add("min_serving", min);
    fig.add("max_serving", max);
    fig.add("serving_at_end", end);
    fig.add("moments_below_n", dips.len());
    fig.add("deploy_virtual_s", secs(took));
    fig.add("attempts", deploy_log.len());
    fig.add(
        "faults",
        deploy_log.iter().filter(|r| r.fault.is_some()).count(),
    );
    fig.add("retries", retries.total());
    fig.add("real_ms", world.real_elapsed().as_millis());
    fig.save();
    world.shutdown().await;
    Deploy {
        min,
        max,
        end,
        dips,
        blue_left,
        green_serving,
    }
}

/// The fleet of the scenario at `image`, deployed blue-green.
fn fleet(image: &str) -> fly_machines_deploy::DesiredFleet {
    fly_machines_deploy::DesiredFleet::from_toml(&format!(
        "app = \"shop\"\n[[group]]\nname = \"web\"\nimage = \"{image}\"\nregions = {{ iad = {N} }}\n\
         [group.strategy]\nkind = \"bluegreen\"\nmin_healthy_time = \"5s\"\n"
    ))
    .expect("the fleet")
}

/// Applies `desired` to what the app runs now.
async fn apply(
    client: Client,
    desired: fly_machines_deploy::DesiredFleet,
) -> fly_machines_deploy::Report {
    let seen = fly_machines_deploy::observed::observe(&client, desired.app())
        .await
        .expect("the app's machines");
    let plan = fly_machines_deploy::plan(&desired, &seen);
    fly_machines_deploy::Applier::new(client)
        .apply(&desired, &plan)
        .await
        .unwrap_or_else(|e| panic!("the deploy failed: {e}"))
}

/// The blue-green deploy of `fly-machines-deploy`: v1 is created, then replaced by v2.
async fn deploy_with_the_crate(faults: Faults) -> Deploy {
    let (retries, _trace) = Retries::install();
    let sim = Sim::builder()
        .seed(5)
        .transition_time(TRANSITION)
        .faults(faults);
    let mut world = World::start(sim, TRANSITION / 5).await;
    let client = world.client.clone();
    let (blue_ids, from_seq, log_from) = {
        let (client, sim) = (client.clone(), world.sim.clone());
        world
            .run("blue", async move {
                create_app(&client, "shop").await;
                let report = apply(client, fleet("registry.fly.io/shop:v1")).await;
                (report.created, serving_mark(&sim), sim.requests().len())
            })
            .await
    };
    let deploy_from = world.vt.elapsed();
    let report = world
        .run(
            "deploy",
            apply(client.clone(), fleet("registry.fly.io/shop:v2")),
        )
        .await;
    let took = world.vt.elapsed() - deploy_from;
    let green_ids = report.created;

    let log = world.sim.requests();
    let (min, max, end, dips) = serving(&world.sim, from_seq);
    let state = |id: &String| {
        world
            .sim
            .machine("shop", id)
            .and_then(|m| m.state)
            .unwrap_or_default()
    };
    let blue_left = blue_ids
        .iter()
        .filter(|id| state(id) != "destroyed")
        .count();
    let green_serving = green_ids.iter().filter(|id| state(id) == "started").count();
    let deploy_log = &log[log_from..];
    let mut fig = Figures::new("blue_green");
    fig.add("n", N);
    fig.add("min_serving", min);
    fig.add("max_serving", max);
    fig.add("serving_at_end", end);
    fig.add("moments_below_n", dips.len());
    fig.add("deploy_virtual_s", secs(took));
    fig.add("attempts", deploy_log.len());
    fig.add(
        "faults",
        deploy_log.iter().filter(|r| r.fault.is_some()).count(),
    );
    fig.add("retries", retries.total());
    fig.add("real_ms", world.real_elapsed().as_millis());
    fig.save();
    world.shutdown().await;
    Deploy {
        min,
        max,
        end,
        dips,
        blue_left,
        green_serving,
    }
}

#[tokio::test]
async fn blue_green_keeps_n_machines_serving() {
    let faults = Faults::seeded(31)
        .error_rate(0.05)
        .drop_rate(0.02)
        .not_found_after_create(Duration::from_secs(1))
        .destroyed_visible_for(Duration::from_secs(1));
    let d = deploy_with_the_crate(faults).await;
    assert!(
        d.dips.is_empty(),
        "fewer than {N} machines served: {:#?}",
        d.dips
    );
    assert_eq!(d.min, N, "the minimum number of machines serving");
    assert_eq!(d.max, 2 * N, "green and blue both served during the switch");
    assert_eq!(d.end, N, "machines serving at the end");
    assert_eq!(d.blue_left, 0, "every blue machine is destroyed");
    assert_eq!(d.green_serving, N, "every green machine is started");
}

/// The check above is not vacuous: a deploy that cordons blue before it uncordons green is
/// seen serving from fewer than N machines.
#[tokio::test]
async fn blue_green_check_sees_a_switch_in_the_wrong_order() {
    let d = deploy_blue_first("blue_green_wrong_order", Faults::none()).await;
    assert!(d.min < N, "the gap between cordon and uncordon went unseen");
    assert!(!d.dips.is_empty());
    assert_eq!(d.end, N);
}
