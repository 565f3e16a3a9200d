//! Scenario 4: waits, on virtual time.
//!
//! Faults are on for every operation but `/wait` itself here, so that the number of long-polls
//! each wait makes can be asserted exactly (the fleet runs its 600 waits with faults on them).

use std::time::Duration;

use fly_machines::{App, Machine, OperationId, WaitError, WaitState, types};
use fly_machines_sim::{Faults, RequestRecord, Sim};

use crate::support::{
    Figures, World, at_ms, config, create_app, insist, machine_of, secs, transient,
};
use fly_machines::vtime::VirtualTime;

const TRANSITION: Duration = Duration::from_millis(500);
const QUANTUM: Duration = Duration::from_millis(100);

/// Faults on everything the waits do not do themselves.
fn faults() -> Faults {
    Faults::seeded(17)
        .error_rate(0.05)
        .drop_rate(0.02)
        .only_operations([
            OperationId::AppsCreate,
            OperationId::MachinesCreate,
            OperationId::MachinesList,
            OperationId::MachinesShow,
            OperationId::MachinesStart,
            OperationId::MachinesStop,
            OperationId::MachinesDelete,
        ])
}

async fn world(faults: Faults) -> World {
    let sim = Sim::builder()
        .seed(3)
        .transition_time(TRANSITION)
        .faults(faults);
    World::start(sim, QUANTUM).await
}

async fn new_machine(app: &App, image: &str, key: &str, skip_launch: bool) -> types::Machine {
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

fn waits_of<'a>(log: &'a [RequestRecord], id: &str) -> Vec<&'a RequestRecord> {
    log.iter()
        .filter(|r| r.operation == Some("Machines_wait") && machine_of(r) == Some(id))
        .collect()
}

fn ms(vt: &VirtualTime) -> u64 {
    vt.elapsed().as_millis() as u64
}

/// A wait of 150 s, longer than Fly's 60 s long-poll: three polls, two of them ending in 408,
/// and the wait ends when the machine starts, not before and not at its own deadline.
#[tokio::test]
async fn a_wait_spans_several_long_polls() {
    let mut w = world(faults()).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (id, start_ms, end_ms, outcome) = w
        .run("long-wait", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "registry.fly.io/w:1", "long", true).await;
            let machine = app.machine(created.id.clone().expect("id"));
            let t0 = ms(&vt);
            // Someone else starts the machine 150 s from now.
            let starter = vt.spawn("starter", {
                let (machine, clock) = (machine.clone(), client.clock().clone());
                async move {
                    clock.sleep(Duration::from_secs(150)).await;
                    insist("start", || machine.start().send()).await;
                }
            });
            let outcome = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Started])
                        .timeout(Duration::from_secs(300))
                        .send(),
                )
                .await
                .expect("the machine started within the wait");
            let end = ms(&vt);
            vt.idle(starter).await.expect("starter");
            (machine.id().to_string(), t0, end, outcome)
        })
        .await;
    let log = w.sim.requests();
    let polls = waits_of(&log, &id);
    let statuses: Vec<u16> = polls.iter().map(|r| r.status).collect();
    let waited = Duration::from_millis(end_ms - start_ms);

    let mut fig = Figures::new("wait_long");
    fig.add("polls", polls.len());
    fig.add(
        "timeouts_408",
        statuses.iter().filter(|s| **s == 408).count(),
    );
    fig.add("waited_virtual_s", secs(waited));
    fig.add("real_ms", w.real_elapsed().as_millis());
    fig.save();

    assert_eq!(outcome.state, "started");
    assert_eq!(statuses, vec![408, 408, 200], "one long-poll per 60 s");
    for p in &polls {
        let q = p.query.as_deref().unwrap_or_default();
        assert!(q.contains("timeout=60"), "each poll asks for 60 s: {q}");
        assert!(q.contains("failed"), "each poll also asks for failed: {q}");
    }
    assert_eq!(at_ms(polls[1]) - at_ms(polls[0]), 60_000);
    assert_eq!(at_ms(polls[2]) - at_ms(polls[1]), 60_000);
    // Started at 150 s plus one transition; the wait saw it within one time step.
    let started_at = Duration::from_secs(150) + TRANSITION;
    assert!(
        waited >= started_at && waited <= started_at + QUANTUM,
        "waited {waited:?}, the machine started at {started_at:?}"
    );
    w.shutdown().await;
}

/// A machine just created is not visible for a while (404); the wait rides it out.
#[tokio::test]
async fn a_wait_rides_out_the_404_after_create() {
    let window = Duration::from_secs(3);
    let mut w = world(faults().not_found_after_create(window)).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (id, waited, outcome) = w
        .run("wait-404", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "registry.fly.io/w:1", "fresh", false).await;
            let machine = app.machine(created.id.clone().expect("id"));
            let t0 = ms(&vt);
            let outcome = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Started])
                        .maybe_version(created.instance_id.clone())
                        .timeout(Duration::from_secs(60))
                        .send(),
                )
                .await
                .expect("the wait outlasts the 404 window");
            (
                machine.id().to_string(),
                Duration::from_millis(ms(&vt) - t0),
                outcome,
            )
        })
        .await;
    let log = w.sim.requests();
    let polls = waits_of(&log, &id);
    let not_found = polls.iter().filter(|r| r.status == 404).count();

    let mut fig = Figures::new("wait_404");
    fig.add("window_s", secs(window));
    fig.add("polls", polls.len());
    fig.add("polls_404", not_found);
    fig.add("waited_virtual_s", secs(waited));
    fig.save();

    assert_eq!(outcome.state, "started");
    assert_eq!(polls[0].status, 404, "the first poll found no machine yet");
    assert!(not_found >= 2, "the 404s were polled through: {not_found}");
    assert_eq!(polls.last().map(|r| r.status), Some(200));
    assert!(
        waited >= window && waited < window + Duration::from_secs(3),
        "waited {waited:?} for a machine hidden for {window:?}"
    );
    w.shutdown().await;
}

/// `destroyed` is visible for a while, then the machine answers 404; waiting for `destroyed`
/// succeeds in both phases, and waiting for anything else on a gone machine is a 404.
#[tokio::test]
async fn destroyed_then_not_found() {
    let window = Duration::from_secs(5);
    let mut w = world(faults().destroyed_visible_for(window)).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (destroyed_wait, reaped_wait) = w
        .run("destroyed", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "registry.fly.io/w:1", "doomed", false).await;
            let machine = app.machine(created.id.clone().expect("id"));
            vt.waiting(
                machine
                    .wait_for(vec![WaitState::Started])
                    .timeout(Duration::from_secs(60))
                    .send(),
            )
            .await
            .expect("started");
            insist("destroy", || machine.delete().force().send()).await;
            let t0 = ms(&vt);
            let gone = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Destroyed])
                        .timeout(Duration::from_secs(60))
                        .send(),
                )
                .await
                .expect("destroyed");
            assert_eq!(gone.state, "destroyed");
            let destroyed_wait = Duration::from_millis(ms(&vt) - t0);
            // Still visible, as destroyed.
            let seen = insist("get", || machine.get().send()).await;
            assert_eq!(seen.state.as_deref(), Some("destroyed"));

            client.clock().sleep(window).await;
            let err = machine
                .get()
                .await
                .expect_err("a reaped machine is not found");
            assert!(err.is_not_found(), "{err}");
            let again = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Destroyed])
                        .timeout(Duration::from_secs(60))
                        .send(),
                )
                .await
                .expect("waiting for destroyed on a reaped machine succeeds");
            assert_eq!(again.state, "destroyed");
            let t1 = ms(&vt);
            let err = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Started])
                        .timeout(Duration::from_secs(60))
                        .send(),
                )
                .await
                .expect_err("a reaped machine never starts");
            assert!(err.is_not_found(), "{err}");
            (destroyed_wait, Duration::from_millis(ms(&vt) - t1))
        })
        .await;
    let mut fig = Figures::new("wait_destroyed");
    fig.add("visible_window_s", secs(window));
    fig.add("destroy_wait_virtual_s", secs(destroyed_wait));
    fig.add("started_wait_on_reaped_virtual_s", secs(reaped_wait));
    fig.save();
    // A wait for `started` on a gone machine gives up after the client's 404 grace (10 s),
    // well before its own 60 s deadline.
    assert!(reaped_wait <= Duration::from_secs(12), "{reaped_wait:?}");
    w.shutdown().await;
}

/// A machine whose launch fails ends a wait for `started` at once, with an error that says so.
#[tokio::test]
async fn a_failed_machine_ends_the_wait_at_once() {
    let mut w = world(faults()).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (id, end_ms, err) = w
        .run("failed", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "example/unpullable:1", "broken", false).await;
            let machine = app.machine(created.id.clone().expect("id"));
            let err = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Started])
                        .timeout(Duration::from_secs(300))
                        .send(),
                )
                .await
                .expect_err("a failed launch never starts");
            (machine.id().to_string(), ms(&vt), err)
        })
        .await;
    let failed_at = w
        .sim
        .all_machines("waits")
        .into_iter()
        .find(|m| m.id.as_deref() == Some(id.as_str()))
        .and_then(|m| {
            m.events?
                .into_iter()
                .find(|e| e.status.as_deref() == Some("failed"))
        })
        .and_then(|e| e.timestamp)
        .map(|t| (t as u64).saturating_sub(fly_machines_sim::MANUAL_EPOCH_MS))
        .expect("the machine has a failed event");
    let log = w.sim.requests();
    let polls = waits_of(&log, &id);
    let late = Duration::from_millis(end_ms.saturating_sub(failed_at));

    let mut fig = Figures::new("wait_failed");
    fig.add("polls", polls.len());
    fig.add("ended_after_failure_s", secs(late));
    fig.add("error", format!("{err}"));
    fig.save();

    assert!(
        matches!(err.wait(), Some(WaitError::MachineFailed { machine_id, .. }) if *machine_id == id),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("failed") && text.contains(&id) && text.contains("started"),
        "the error names the machine, the failure and the wanted state: {text}"
    );
    assert_eq!(polls.len(), 1, "one long-poll, ended by the failure");
    assert!(
        late <= QUANTUM,
        "the wait ended {late:?} after the machine failed"
    );
    w.shutdown().await;
}

/// `settled` on a machine that stops: the wait ends in `stopped`.
#[tokio::test]
async fn settled_after_a_stop() {
    let mut w = world(faults()).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (waited, outcome) = w
        .run("settled", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "registry.fly.io/w:1", "settle", false).await;
            let machine = app.machine(created.id.clone().expect("id"));
            vt.waiting(
                machine
                    .wait_for(vec![WaitState::Started])
                    .timeout(Duration::from_secs(60))
                    .send(),
            )
            .await
            .expect("started");
            stop(&machine).await;
            let t0 = ms(&vt);
            let outcome = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Settled])
                        .timeout(Duration::from_secs(60))
                        .send(),
                )
                .await;
            (Duration::from_millis(ms(&vt) - t0), outcome)
        })
        .await;
    let mut fig = Figures::new("wait_settled");
    fig.add("waited_virtual_s", secs(waited));
    fig.save();
    let outcome = outcome.expect("the machine settles");
    assert_eq!(outcome.state, "stopped");
    assert!(
        waited <= TRANSITION + QUANTUM,
        "settled {waited:?} after the stop"
    );
    w.shutdown().await;
}

async fn stop(machine: &Machine) {
    loop {
        match machine.stop().await {
            Ok(()) => return,
            Err(e) if transient(&e) => {}
            Err(e) if e.is_precondition_failed() => return,
            Err(e) => panic!("stop: {e}"),
        }
    }
}

/// `settled` on a machine created without launching: `created` is a resting state (Fly's
/// state model, and the emulator answers the long-poll with `created` at once), so the wait
/// ends at once.
///
/// Guards a fixed defect (defect 3 in tests/README.md): `created` is a resting state, so a
/// `settled` wait on a machine that was never launched ends at once.
#[tokio::test]
async fn settled_on_a_machine_that_was_never_launched() {
    let mut w = world(faults()).await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (id, waited, outcome) = w
        .run("settled-created", async move {
            let app = client.app("waits");
            create_app(app.client(), app.name()).await;
            let created = new_machine(&app, "registry.fly.io/w:1", "idle", true).await;
            let machine = app.machine(created.id.clone().expect("id"));
            let t0 = ms(&vt);
            let outcome = vt
                .waiting(
                    machine
                        .wait_for(vec![WaitState::Settled])
                        .timeout(Duration::from_secs(120))
                        .send(),
                )
                .await;
            (
                machine.id().to_string(),
                Duration::from_millis(ms(&vt) - t0),
                outcome,
            )
        })
        .await;
    let log = w.sim.requests();
    let first = waits_of(&log, &id)
        .first()
        .map(|r| (r.status, r.query.clone()));
    let mut fig = Figures::new("wait_settled_created");
    fig.add("waited_virtual_s", secs(waited));
    fig.add("polls", waits_of(&log, &id).len());
    fig.save();
    assert_eq!(
        first.as_ref().map(|f| f.0),
        Some(200),
        "the emulator answered the first settled poll at once: {first:?}"
    );
    match outcome {
        Ok(o) => assert_eq!(o.state, "created"),
        Err(e) => panic!(
            "waiting for settled on a machine in `created` ended after {waited:?} with: {e}; \
             the emulator had answered `created` to the first poll"
        ),
    }
    w.shutdown().await;
}
