//! Every strategy, on the emulator and virtual time: a change rolls out; a gate failing at
//! the k-th machine rolls every machine back to its old config; a machine Fly silently put
//! back on its old version is caught; a healthy rollout gets through a 429 storm and 5% 5xx.
//! After each, the invariants of every step are checked from the emulator's own records:
//! serving never below the strategy's floor, no update to a leased machine without its nonce,
//! no create duplicated.

use fly_machines::types::UpdateMachineRequest;
use fly_machines_deploy::apply::{Applier, ApplyError, Cause, Progress, Report, Rollback};
use fly_machines_deploy::{DesiredFleet, observed, plan};
use futures::StreamExt;

use crate::apply::{APP, World, fleet_of};

const N: usize = 3;

/// The fewest machines a move under `kind` may leave serving, of `n`: rolling updates in
/// place (`max_unavailable` 1 here); a canary is a new machine, and the rest roll no wider
/// than the extra machines serving; blue-green keeps every blue serving until its greens do;
/// immediate promises nothing.
fn floor(kind: &str, n: usize) -> usize {
    match kind {
        "rolling" => n - 1,
        "canary" | "bluegreen" => n,
        _ => 0,
    }
}

/// Machines a move under `kind` makes: the canary (one, by default), or a green per machine
/// for blue-green.
fn made_by_move(kind: &str, n: usize) -> usize {
    match kind {
        "canary" => 1,
        "bluegreen" => n,
        _ => 0,
    }
}

async fn with_fleet(kind: &str) -> (World, DesiredFleet) {
    let world = World::start().await;
    let v1 = fleet_of(kind, 3, "nginx:1.27", "");
    let mark = world.mark();
    let report = world.apply(&v1).await.0.expect("the fleet");
    assert_eq!(report.created.len(), N);
    world.check_invariants(&mark, 0, N);
    (world, v1)
}

async fn moves_the_fleet(kind: &str) {
    let (world, _) = with_fleet(kind).await;
    let v2 = fleet_of(kind, 3, "nginx:1.28", "");
    let mark = world.mark();
    let (report, events) = world.apply(&v2).await;
    let report = report.unwrap_or_else(|e| panic!("{kind}: {e}"));
    assert!(events.contains(&Progress::Done), "{events:?}");
    assert!(world.converged(&v2).await, "{kind}");
    for (id, image, state, _, leased) in world.machines() {
        assert_eq!((image.as_str(), state.as_str()), ("nginx:1.28", "started"));
        assert!(!leased, "{id} is left leased");
    }
    match kind {
        "bluegreen" => assert_eq!((report.created.len(), report.destroyed.len()), (N, N)),
        // The canary is new and stays; the machine it stood in for goes at the end.
        "canary" => assert_eq!(
            (
                report.created.len(),
                report.moved.len(),
                report.destroyed.len()
            ),
            (1, N - 1, 1)
        ),
        _ => assert_eq!(report.moved.len(), N),
    }
    assert_eq!(
        world.machines().len(),
        N,
        "{kind}: the group ends at its count"
    );
    world.check_invariants(&mark, floor(kind, N), made_by_move(kind, N));
    // The floor is reached, not just kept: the moves are seen taking machines out. Immediate
    // has no floor; how many of its moves overlap depends on how the tasks are scheduled, so
    // it is only seen taking some out.
    let min = world.min_serving(&mark);
    if kind == "immediate" {
        assert!(min < N, "immediate: serving never fell ({min})");
    } else {
        assert_eq!(min, floor(kind, N), "{kind}");
    }
    world.shutdown().await;
}

#[tokio::test]
async fn canary_moves_the_fleet_within_its_floor() {
    moves_the_fleet("canary").await;
}

/// With a volume per machine a canary cannot be made anew (it would start on an empty volume),
/// so canaries move in place: the floor is n − max(`canary`, `max_unavailable`), here n − 1,
/// and no machine is made.
#[tokio::test]
async fn canary_with_volumes_moves_in_place_within_its_floor() {
    let world = World::start().await;
    let volume = "[group.volume]\nsize_gb = 1\npath = \"/data\"\n";
    let v1 = fleet_of("canary", 3, "nginx:1.27", volume);
    world.apply(&v1).await.0.expect("the fleet");
    let v2 = fleet_of("canary", 3, "nginx:1.28", volume);
    let mark = world.mark();
    let report = world.apply(&v2).await.0.expect("the rollout");
    assert!(world.converged(&v2).await);
    assert_eq!(
        (
            report.created.len(),
            report.moved.len(),
            report.destroyed.len()
        ),
        (0, N, 0)
    );
    world.check_invariants(&mark, N - 1, 0);
    assert_eq!(world.min_serving(&mark), N - 1);
    world.shutdown().await;
}

/// Without rollback a canary that fails to boot is still destroyed: the fleet stops
/// where it is (nothing moved yet), and no failed canary is left serving.
#[tokio::test]
async fn without_rollback_a_failed_canary_is_not_left_behind() {
    let (world, _) = with_fleet("canary").await;
    let before = world.configs();
    let mark = world.mark();
    let broken = fleet_of("canary", 3, "example/unpullable:2", "rollback = false");
    let (result, events) = world.apply(&broken).await;
    let error = result.expect_err("the canary fails its gate");
    assert_eq!(error.rollback, Rollback::Off, "{error}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::Destroyed { .. })),
        "{events:?}"
    );
    assert_eq!(world.configs(), before, "only the old machines are left");
    assert!(
        world.machines().iter().all(|m| !m.4),
        "a lease is left held"
    );
    world.check_invariants(&mark, N, 1);
    world.shutdown().await;
}

/// Without rollback, blue-green greens that fail their gate are destroyed all the same: the
/// blues never stopped serving, and nothing the run made is left behind.
#[tokio::test]
async fn without_rollback_failed_greens_are_not_left_behind() {
    let (world, _) = with_fleet("bluegreen").await;
    let before = world.configs();
    let mark = world.mark();
    let broken = fleet_of("bluegreen", 3, "example/unpullable:2", "rollback = false");
    let error = world.apply(&broken).await.0.expect_err("the greens fail");
    assert_eq!(error.rollback, Rollback::Off, "{error}");
    assert_eq!(world.configs(), before, "only the blue machines are left");
    assert_eq!(world.machines().len(), N);
    assert!(
        world.machines().iter().all(|m| !m.4),
        "a lease is left held"
    );
    world.check_invariants(&mark, N, N);
    world.shutdown().await;
}

/// A rolling move with `max_surge` 1 (and `max_unavailable` 1): one new machine is made and
/// gated, then the rest roll two at a time, the one it stood in for goes last. Serving stays
/// at n − 1, and the group ends at its count.
#[tokio::test]
async fn rolling_with_a_surge_makes_one_machine_and_ends_at_its_count() {
    let world = World::holding(&fleet_of("rolling", 4, "nginx:1.27", "max_surge = 1")).await;
    let v2 = fleet_of("rolling", 4, "nginx:1.28", "max_surge = 1");
    let mark = world.mark();
    let report = world.apply(&v2).await.0.expect("the rollout");
    assert!(world.converged(&v2).await);
    assert_eq!(
        (
            report.created.len(),
            report.moved.len(),
            report.destroyed.len()
        ),
        (1, 3, 1)
    );
    let all = world.machines();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.iter().all(|m| m.1 == "nginx:1.28" && !m.4), "{all:?}");
    world.check_invariants(&mark, 4 - 1, 1);
    // The surge is used: two old machines were out at once, with the new one serving.
    assert_eq!(world.min_serving(&mark), 4 - 1);
    world.shutdown().await;
}

/// The second machine of a rolling surge fails its gate: the moved one goes back, the machine
/// made for the surge is destroyed.
#[tokio::test]
async fn rolling_with_a_surge_rolls_back_and_leaves_nothing_made() {
    let world = World::holding(&fleet_of("rolling", 3, "nginx:1.27", "max_surge = 1")).await;
    let before = world.configs();
    let mark = world.mark();
    let v2 = fleet_of("rolling", 3, "nginx:1.28", "max_surge = 1");
    let (result, _, changed) = apply_changed_at(&world, &v2, 2).await;
    let error = result.expect_err("the changed machine fails its gate");
    let Cause::Gate(gate) = &error.cause else {
        panic!("a gate failed: {error}")
    };
    assert_eq!(gate.machine_id, changed, "{gate}");
    assert_eq!(error.rollback, Rollback::Done, "{error}");
    assert_eq!(world.configs(), before, "every old config is back");
    assert!(
        world.machines().iter().all(|m| !m.4),
        "a lease is left held"
    );
    world.check_invariants(&mark, 3 - 1, 1);
    world.shutdown().await;
}

#[tokio::test]
async fn immediate_moves_the_fleet() {
    moves_the_fleet("immediate").await;
}

#[tokio::test]
async fn rolling_moves_the_fleet_within_its_floor() {
    moves_the_fleet("rolling").await;
}

#[tokio::test]
async fn blue_green_moves_the_fleet_within_its_floor() {
    moves_the_fleet("bluegreen").await;
}

/// Applies `desired` while a second worker, the moment the `k`-th machine is moved (or, for
/// blue-green, the `k`-th green is created), changes that machine's config behind the
/// deployer's back (with the lease's nonce, as a process sharing the lease could): its gate
/// sees another version and fails.
async fn apply_changed_at(
    world: &World,
    desired: &DesiredFleet,
    k: usize,
) -> (Result<Report, ApplyError>, Vec<Progress>, String) {
    let (client, desired) = (world.client.clone(), desired.clone());
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let apply = world.vt.spawn("apply", {
        let client = client.clone();
        async move {
            let seen = observed::observe(&client, desired.app())
                .await
                .expect("observe");
            let plan = plan(&desired, &seen);
            Applier::new(client)
                .progress(tx)
                .apply(&desired, &plan)
                .await
        }
    });
    let (sim, vt) = (world.sim.clone(), world.vt.clone());
    let saboteur = world.vt.spawn("saboteur", async move {
        let mut events = Vec::new();
        let mut changed = String::new();
        let mut moved = 0;
        while let Some(event) = vt.idle(rx.next()).await {
            if let Progress::Moved { machine_id, .. } | Progress::Created { machine_id, .. } =
                &event
            {
                moved += 1;
                if moved == k {
                    let handle = client.app(APP).machine(machine_id.clone());
                    // The deployer's lease when it holds one, else one of our own.
                    let (handle, own) = match sim.lease(APP, machine_id).and_then(|l| l.nonce) {
                        Some(nonce) => (handle.with_lease_nonce(nonce), None),
                        None => {
                            let lease = handle
                                .lease(std::time::Duration::from_secs(30))
                                .send()
                                .await
                                .expect("a lease of our own");
                            (lease.machine().clone(), Some(lease))
                        }
                    };
                    let now = handle.get().await.expect("read");
                    let mut config = now.config().cloned().unwrap_or_default();
                    config
                        .env
                        .get_or_insert_default()
                        .insert("CHANGED_BY".into(), "someone else".into());
                    handle
                        .update(UpdateMachineRequest {
                            config: Some(config),
                            ..Default::default()
                        })
                        .send()
                        .await
                        .expect("the change behind the deployer's back");
                    if let Some(lease) = own {
                        lease.release().await.expect("our lease released");
                    }
                    changed = machine_id.clone();
                }
            }
            events.push(event);
        }
        (events, changed)
    });
    let result = apply.await.expect("apply");
    let (events, changed) = saboteur.await.expect("saboteur");
    (result, events, changed)
}

async fn fails_at_machine_k(kind: &str, k: usize) {
    let (world, _) = with_fleet(kind).await;
    let before = world.configs();
    let mark = world.mark();
    let v2 = fleet_of(kind, 3, "nginx:1.28", "");
    let (result, events, changed) = apply_changed_at(&world, &v2, k).await;
    let error = result.expect_err("the changed machine fails its gate");
    assert!(!changed.is_empty(), "{kind}: machine {k} was changed");
    let Cause::Gate(gate) = &error.cause else {
        panic!("{kind}: a gate failed: {error}")
    };
    assert_eq!(gate.machine_id, changed, "{gate}");
    assert!(gate.saw.contains("version"), "{gate}");
    assert_eq!(error.rollback, Rollback::Done, "{kind}: {error}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::RollingBack { .. })),
        "{events:?}"
    );
    // Every machine runs its old config again (as the emulator holds it), none is leased,
    // nothing made by the run is left.
    assert_eq!(world.configs(), before, "{kind}: every old config is back");
    assert!(
        world.machines().iter().all(|m| !m.4),
        "a lease is left held"
    );
    // Immediate puts machines back without gates: give the last updates their boot time.
    world.pass(std::time::Duration::from_secs(5)).await;
    let states: Vec<String> = world.machines().into_iter().map(|m| m.2).collect();
    assert!(states.iter().all(|s| s == "started"), "{states:?}");
    let made = made_by_move(kind, N);
    world.check_invariants(&mark, floor(kind, N), made);
    world.shutdown().await;
}

#[tokio::test]
async fn rolling_rolls_back_when_the_second_machine_fails() {
    fails_at_machine_k("rolling", 2).await;
}

#[tokio::test]
async fn canary_rolls_back_when_a_machine_after_the_canary_fails() {
    fails_at_machine_k("canary", 2).await;
}

#[tokio::test]
async fn canary_rolls_back_when_the_canary_fails() {
    fails_at_machine_k("canary", 1).await;
}

#[tokio::test]
async fn blue_green_destroys_every_green_when_the_second_green_fails() {
    fails_at_machine_k("bluegreen", 2).await;
}

#[tokio::test]
async fn immediate_rolls_back_when_the_second_machine_fails() {
    fails_at_machine_k("immediate", 2).await;
}

/// An update to an image tagged `:reverted`: the emulator answers it, then puts the machine
/// back on its old config under a new version, `started`, as Fly does when a pull fails.
async fn catches_a_silent_revert(kind: &str) {
    let (world, _) = with_fleet(kind).await;
    let before = world.configs();
    let mark = world.mark();
    let reverted = fleet_of(kind, 3, "example/app:reverted", "");
    let (result, _) = world.apply(&reverted).await;
    let error = result.expect_err("a machine put back is no success");
    let Cause::Gate(gate) = &error.cause else {
        panic!("{kind}: a gate failed: {error}")
    };
    assert!(gate.saw.contains("put back"), "{gate}");
    assert_eq!(error.rollback, Rollback::Done, "{kind}: {error}");
    assert_eq!(world.configs(), before, "{kind}: every old config is back");
    assert!(
        world.machines().iter().all(|m| !m.4),
        "a lease is left held"
    );
    // A canary made at the `:reverted` image runs it (only an update is put back): the first
    // machine moved in place after it is caught, and the canary is destroyed.
    world.check_invariants(&mark, floor(kind, N), if kind == "canary" { 1 } else { 0 });
    assert_eq!(world.machines().len(), N, "{kind}: nothing made is left");
    world.shutdown().await;
}

#[tokio::test]
async fn rolling_catches_a_silent_revert() {
    catches_a_silent_revert("rolling").await;
}

#[tokio::test]
async fn canary_catches_a_silent_revert() {
    catches_a_silent_revert("canary").await;
}

#[tokio::test]
async fn immediate_catches_a_silent_revert() {
    catches_a_silent_revert("immediate").await;
}

/// The server allows half of what the client paces for, so it answers 429s, and 5% of
/// everything fails with a 5xx; a healthy fleet of six is made, then moved.
async fn gets_through_a_storm(kind: &str) {
    let world = World::in_a_storm().await;
    let mark = world.mark();
    world
        .apply(&fleet_of(kind, 6, "nginx:1.27", ""))
        .await
        .0
        .unwrap_or_else(|e| panic!("{kind}: the fleet, through the faults: {e}"));
    world.check_invariants(&mark, 0, 6);
    let v2 = fleet_of(kind, 6, "nginx:1.28", "");
    let mark = world.mark();
    world
        .apply(&v2)
        .await
        .0
        .unwrap_or_else(|e| panic!("{kind}: the rollout, through the faults: {e}"));
    assert!(world.converged(&v2).await);
    world.log_through_the_storm();
    world.check_invariants(&mark, floor(kind, 6), made_by_move(kind, 6));
    let all = world.machines();
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.iter().all(|m| !m.4), "a lease is left held");
    world.shutdown().await;
}

#[tokio::test]
async fn canary_gets_through_a_429_storm_and_5xx() {
    gets_through_a_storm("canary").await;
}

#[tokio::test]
async fn immediate_gets_through_a_429_storm_and_5xx() {
    gets_through_a_storm("immediate").await;
}

#[tokio::test]
async fn blue_green_gets_through_a_429_storm_and_5xx() {
    gets_through_a_storm("bluegreen").await;
}
