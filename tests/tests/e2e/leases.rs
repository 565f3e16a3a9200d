//! Scenario 2: tasks change one machine under leases, while a holder crashes.
//!
//! Each round is a read-modify-write of the machine's config under a lease: take the lease,
//! read the config, think, write it back with one more env entry (the round's mark), wait for
//! the new version to start, release. If the leases work, no mark is ever lost, every update
//! is a new version, and the emulator's log shows one live lease at a time, with every change
//! made under the live lease's nonce.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fly_machines::{Machine, WaitState};
use fly_machines_sim::{Faults, RequestRecord, Sim};

use crate::retries::Retries;
use crate::support::{Figures, World, at_ms, config, create_app, machine_of, secs, transient};
use fly_machines::vtime::VirtualTime;

const TTL: Duration = Duration::from_secs(10);
const TRANSITION: Duration = Duration::from_millis(500);
/// The client's longest pause between two tries of a held lease.
const ACQUIRE_PAUSE_MAX: Duration = Duration::from_secs(4);
/// One interval of Fly's per-machine limit, with the client's 5% margin.
const PACE: Duration = Duration::from_millis(1050);

/// The shape of one contention run.
#[derive(Clone, Copy)]
struct Plan {
    scenario: &'static str,
    tasks: usize,
    rounds: usize,
    /// Time between reading the config and writing it back.
    think: Duration,
    /// Whether a holder takes the lease first and crashes without releasing it.
    crash: bool,
}

#[derive(Default)]
struct Tally {
    acquire_errors: AtomicU64,
    update_errors: AtomicU64,
    lost_leases: AtomicU64,
    /// (task, from, to) in virtual ms: when each task believed it held the lease.
    held: Mutex<Vec<(usize, u64, u64)>>,
}

fn now_ms(vt: &VirtualTime) -> u64 {
    vt.elapsed().as_millis() as u64
}

/// One round; returns once `mark` is in the machine's config.
async fn round(
    machine: &Machine,
    task: usize,
    mark: &str,
    plan: Plan,
    vt: &VirtualTime,
    tally: &Tally,
) {
    loop {
        let guard = match machine
            .lease(TTL)
            .description(format!("e2e {mark}"))
            .acquire_timeout(Duration::from_secs(3600))
            .send()
            .await
        {
            Ok(guard) => guard,
            Err(e) if transient(&e) => {
                tally.acquire_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => panic!("{mark}: lease: {e}"),
        };
        let from = now_ms(vt);
        let held = guard.machine();
        let landed = loop {
            let current = match held.get().await {
                Ok(m) => m,
                Err(e) if transient(&e) => continue,
                Err(e) => panic!("{mark}: get: {e}"),
            };
            let mut config = current.config.clone().expect("the machine has a config");
            let env = config.env.get_or_insert_with(Default::default);
            if env.contains_key(mark) {
                // An update whose answer was lost did land.
                break Some(current.instance_id.clone());
            }
            env.insert(mark.to_string(), "1".to_string());
            machine.app().client().clock().sleep(plan.think).await;
            match held.update_config(config).await {
                Ok(updated) => break Some(updated.instance_id.clone()),
                // Not safe for the client to repeat; read again and decide.
                Err(e) if transient(&e) => {
                    tally.update_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.is_lease_conflict() => {
                    tally.lost_leases.fetch_add(1, Ordering::Relaxed);
                    break None;
                }
                Err(e) => panic!("{mark}: update: {e}"),
            }
        };
        let Some(version) = landed else {
            // The lease was gone when we wrote: the mark did not land. Start over.
            tally.held.lock().unwrap().push((task, from, now_ms(vt)));
            drop(guard);
            continue;
        };
        let started = vt
            .waiting(
                held.wait_for(vec![WaitState::Started])
                    .maybe_version(version)
                    .timeout(Duration::from_secs(60))
                    .send(),
            )
            .await;
        if let Err(e) = started {
            panic!("{mark}: wait for the new version: {e}");
        }
        tally.held.lock().unwrap().push((task, from, now_ms(vt)));
        if let Err(e) = guard.release().await {
            // The lease expires by itself; the mark is in.
            assert!(transient(&e) || e.is_conflict(), "{mark}: release: {e}");
        }
        return;
    }
}

/// One lease's life as the emulator's log shows it.
#[derive(Debug)]
struct Holder {
    nonce: Option<String>,
    acquired_ms: u64,
    expires_ms: u64,
}

/// What the emulator's log says about the machine's leases.
#[derive(Default)]
struct LeaseLog {
    acquisitions: usize,
    refreshes: usize,
    /// Refreshes that arrived after their lease expired, which (as on Fly) made a new lease.
    late_refreshes: usize,
    conflicts: usize,
    updates_landed: usize,
    /// The first lease taken after the first one.
    second_acquire_ms: Option<u64>,
    /// Moments when two leases were live at once.
    two_leases: Vec<String>,
    /// Changes made with a nonce that was not the live lease's (or when none was live).
    outside_lease: Vec<String>,
}

/// Replays the log of `machine_id` in order.
fn replay(log: &[RequestRecord], machine_id: &str) -> LeaseLog {
    let ttl_ms = TTL.as_millis() as u64;
    let mut holder: Option<Holder> = None;
    let mut out = LeaseLog::default();
    for r in log.iter().filter(|r| machine_of(r) == Some(machine_id)) {
        let t = at_ms(r);
        if holder.as_ref().is_some_and(|h| t >= h.expires_ms) {
            holder = None;
        }
        let ok = (200..300).contains(&r.status);
        let nonce = r.lease_nonce.clone();
        // Whether a successful lease call or change carried the live lease's nonce (binding
        // the nonce of a lease whose nonce we have not seen yet).
        let mut under_lease = |holder: &mut Option<Holder>, what: &str| -> bool {
            let fine = match (holder.as_mut(), &nonce) {
                (Some(h), Some(n)) if h.nonce.is_none() => {
                    h.nonce = Some(n.clone());
                    true
                }
                (Some(h), Some(n)) => h.nonce.as_ref() == Some(n),
                _ => false,
            };
            if !fine {
                out.outside_lease.push(format!(
                    "{what} at {t} ms with nonce {nonce:?} while the live lease was {holder:?}"
                ));
            }
            fine
        };
        match (r.operation, r.method.as_str()) {
            (Some("Machines_create_lease"), _) if r.status == 409 => out.conflicts += 1,
            (Some("Machines_create_lease"), _) if ok && (nonce.is_none() || holder.is_none()) => {
                if let Some(h) = &holder {
                    out.two_leases.push(format!(
                        "a lease was granted at {t} ms while the one taken at {} ms (nonce \
                         {:?}) was live until {} ms",
                        h.acquired_ms, h.nonce, h.expires_ms
                    ));
                }
                if nonce.is_some() {
                    // Fly's rule: a nonce that names no live lease makes a new lease, whose
                    // nonce only the answer carries.
                    out.late_refreshes += 1;
                }
                out.acquisitions += 1;
                if out.acquisitions == 2 {
                    out.second_acquire_ms = Some(t);
                }
                holder = Some(Holder {
                    nonce: None,
                    acquired_ms: t,
                    expires_ms: t + ttl_ms,
                });
            }
            (Some("Machines_create_lease"), _) if ok => {
                under_lease(&mut holder, "refresh");
                out.refreshes += 1;
                if let Some(h) = holder.as_mut() {
                    h.expires_ms = t + ttl_ms;
                }
            }
            (Some("Machines_release_lease"), _) if ok => {
                under_lease(&mut holder, "release");
                holder = None;
            }
            (Some(op), "POST" | "PUT" | "PATCH" | "DELETE") if ok => {
                under_lease(&mut holder, op);
                if op == "Machines_update" {
                    out.updates_landed += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// Pairs of tasks that believed they held the lease at the same time.
fn overlapping_beliefs(mut held: Vec<(usize, u64, u64)>) -> Vec<String> {
    held.sort_by_key(|h| (h.1, h.2));
    held.windows(2)
        .filter(|w| w[1].1 < w[0].2)
        .map(|w| {
            format!(
                "task {} held it {}..{} ms while task {} took it at {} ms",
                w[0].0, w[0].1, w[0].2, w[1].0, w[1].1
            )
        })
        .collect()
}

/// Everything a run produced.
struct Outcome {
    seen: LeaseLog,
    overlaps: Vec<String>,
    marks: Vec<String>,
    versions: usize,
    crash_block: Option<Duration>,
    lost: u64,
}

async fn contend(plan: Plan) -> Outcome {
    let (retries, _trace) = Retries::install();
    let sim = Sim::builder()
        .seed(11)
        // Every committed update is counted from the version list, so keep them all.
        .versions_kept(64)
        .transition_time(TRANSITION)
        .faults(Faults::seeded(99).error_rate(0.05).drop_rate(0.02));
    let mut world = World::start(sim, TRANSITION / 5).await;
    let client = world.client.clone();
    let vt = world.vt.clone();
    let tally = Arc::new(Tally::default());
    let work_tally = tally.clone();
    let (machine_id, crash_ms) = world
        .run("leases", async move {
            create_app(&client, "leases").await;
            let app = client.app("leases");
            let created = app
                .machines()
                .create(config("registry.fly.io/leases:1"))
                .idempotency_key("leases-machine")
                .send()
                .await
                .expect("machine");
            let id = created.id.clone().expect("id");
            let machine = app.machine(id.clone());
            vt.waiting(
                machine
                    .wait_for(vec![WaitState::Started])
                    .timeout(Duration::from_secs(60))
                    .send(),
            )
            .await
            .expect("started");

            // A holder takes the lease and dies without releasing it: no release, no refresher
            // (a dropped guard would release, so the guard is forgotten, as a dead process's is).
            let mut crash_ms = None;
            if plan.crash {
                let crashed = loop {
                    match machine
                        .lease(TTL)
                        .description("e2e crasher")
                        .auto_refresh(false)
                        .send()
                        .await
                    {
                        Ok(guard) => break guard,
                        Err(e) if transient(&e) => {}
                        Err(e) => panic!("crasher: lease: {e}"),
                    }
                };
                crash_ms = Some(now_ms(&vt));
                std::mem::forget(crashed);
            }

            let tasks: Vec<_> = (0..plan.tasks)
                .map(|t| {
                    let (machine, vt2, tally) = (machine.clone(), vt.clone(), work_tally.clone());
                    vt.spawn(format!("lease-task-{t}"), async move {
                        for r in 0..plan.rounds {
                            let mark = format!("T{t}_R{r}");
                            round(&machine, t, &mark, plan, &vt2, &tally).await;
                        }
                    })
                })
                .collect();
            for t in vt.idle(futures::future::join_all(tasks)).await {
                if let Err(e) = t {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
            (id, crash_ms)
        })
        .await;
    let wall = world.vt.elapsed();

    let log = world.sim.requests();
    let seen = replay(&log, &machine_id);
    let env = world
        .sim
        .machine("leases", &machine_id)
        .and_then(|m| m.config)
        .and_then(|c| c.env)
        .unwrap_or_default();
    let mut marks: Vec<String> = env.into_keys().collect();
    marks.sort();
    let client = world.client.clone();
    let id = machine_id.clone();
    let versions = world
        .run("versions", async move {
            client.app("leases").machine(id).versions().await
        })
        .await
        .expect("versions")
        .len();
    let crash_block = crash_ms
        .zip(seen.second_acquire_ms)
        .map(|(crash, next)| Duration::from_millis(next - crash));
    let overlaps = overlapping_beliefs(tally.held.lock().unwrap().clone());
    let lost = tally.lost_leases.load(Ordering::Relaxed);

    let mut fig = Figures::new(plan.scenario);
    fig.add("tasks", plan.tasks);
    fig.add("updates_landed", seen.updates_landed);
    fig.add("marks_in_final_config", marks.len());
    fig.add("versions", versions);
    fig.add("acquisitions", seen.acquisitions);
    fig.add("acquire_conflicts_409", seen.conflicts);
    fig.add("refreshes", seen.refreshes);
    fig.add("refreshes_after_expiry", seen.late_refreshes);
    fig.add("leases_lost_by_holders", lost);
    fig.add("changes_outside_a_live_lease", seen.outside_lease.len());
    fig.add("overlapping_holders", overlaps.len());
    fig.add(
        "caller_acquire_errors",
        tally.acquire_errors.load(Ordering::Relaxed),
    );
    fig.add(
        "caller_update_errors",
        tally.update_errors.load(Ordering::Relaxed),
    );
    fig.add("attempts", log.len());
    fig.add("retries", retries.total());
    fig.add("ttl_s", secs(TTL));
    fig.add("think_s", secs(plan.think));
    if let Some(block) = crash_block {
        fig.add("blocked_by_crash_s", secs(block));
    }
    fig.add("wall_virtual_s", secs(wall));
    fig.add("real_ms", world.real_elapsed().as_millis());
    fig.save();
    world.shutdown().await;
    Outcome {
        seen,
        overlaps,
        marks,
        versions,
        crash_block,
        lost,
    }
}

/// The scenario: 8 tasks, 5 updates each, a crashed holder. A round holds the lease
/// for a few seconds, less than its TTL, with refreshes every third of the TTL.
#[tokio::test]
async fn lease_contention_with_a_crashed_holder() {
    let plan = Plan {
        scenario: "leases",
        tasks: 8,
        rounds: 5,
        think: Duration::from_secs(3),
        crash: true,
    };
    let out = contend(plan).await;
    let expected = plan.tasks * plan.rounds;
    assert!(out.seen.two_leases.is_empty(), "{:#?}", out.seen.two_leases);
    assert!(
        out.seen.outside_lease.is_empty(),
        "{:#?}",
        out.seen.outside_lease
    );
    assert!(out.overlaps.is_empty(), "two holders: {:#?}", out.overlaps);
    assert_eq!(out.seen.updates_landed, expected, "updates that landed");
    assert_eq!(
        out.versions,
        expected + 1,
        "one version per update, plus the first"
    );
    let want: Vec<String> = {
        let mut w: Vec<String> = (0..plan.tasks)
            .flat_map(|t| (0..plan.rounds).map(move |r| format!("T{t}_R{r}")))
            .collect();
        w.sort();
        w
    };
    assert_eq!(out.marks, want, "every update is in the final config");
    assert!(out.seen.conflicts > 0, "the tasks contended for the lease");
    assert!(out.seen.refreshes > 0, "held leases were refreshed");
    let blocked = out
        .crash_block
        .expect("someone took the lease after the crash");
    assert!(
        blocked >= TTL,
        "the crashed lease was taken over after {blocked:?}, before its TTL"
    );
    let bound = TTL + ACQUIRE_PAUSE_MAX + PACE;
    assert!(
        blocked <= bound,
        "the crashed lease blocked the others for {blocked:?}, more than its TTL plus one \
         polling interval ({bound:?})"
    );
}

/// A holder that needs its lease for longer than the TTL (here 2.5 TTLs) keeps it through
/// refreshes while the other tasks of the same client wait for it.
///
/// Guards a fixed defect (defect 2 in tests/README.md): a holder's refreshes must not queue
/// behind the acquire polls of the other waiting tasks of the same client, or the lease expires
/// while its holder still uses it.
#[tokio::test]
async fn a_refreshed_lease_outlives_its_ttl_under_contention() {
    let plan = Plan {
        scenario: "lease_refresh",
        tasks: 8,
        rounds: 1,
        think: TTL.mul_f64(2.5),
        crash: false,
    };
    let out = contend(plan).await;
    assert!(out.seen.two_leases.is_empty(), "{:#?}", out.seen.two_leases);
    assert_eq!(
        out.marks.len(),
        plan.tasks,
        "every update is in the final config"
    );
    assert!(
        out.lost == 0
            && out.seen.late_refreshes == 0
            && out.seen.outside_lease.is_empty()
            && out.overlaps.is_empty(),
        "held leases were lost although their holders kept refreshing them: {} writes got 409, \
         {} refreshes arrived after expiry, changes outside a live lease: {:#?}, overlapping \
         holders: {:#?}",
        out.lost,
        out.seen.late_refreshes,
        out.seen.outside_lease,
        out.overlaps
    );
}
