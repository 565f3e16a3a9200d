//! Issue 20's "preview environment" program (`fly_machines_e2e::preview`) under faults: 15%
//! of all calls (lease acquisition included) answer 5xx before any effect and 30% of every create (app, cluster, database,
//! user, secret, volume, machine) takes effect but answers 408/5xx. Over 20 seeds the program
//! brings the environment up, runs it again (finding everything), and tears it down twice,
//! with no retry code of its own: each run ends with exactly one of each resource.

use std::time::Duration;

use fly_machines::{OperationId, RetryPolicy};
use fly_machines_e2e::preview;
use fly_machines_sim::{FaultKind, Faults, Sim};

use crate::support::{Figures, World};

const QUANTUM: Duration = Duration::from_millis(250);
const SEEDS: u64 = 20;

/// Every create a preview environment makes.
const CREATES: [OperationId; 7] = [
    OperationId::AppsCreate,
    OperationId::PostgresCreate,
    OperationId::PostgresDatabasesCreate,
    OperationId::PostgresUsersCreate,
    OperationId::SecretCreate,
    OperationId::VolumesCreate,
    OperationId::MachinesCreate,
];

fn faults(seed: u64) -> Faults {
    Faults::seeded(seed)
        .error_rate(0.15)
        .ambiguous_create_rate(0.30)
        .ambiguous_operations(CREATES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_environment_survives_faults_on_20_seeds() {
    let mut figures = Figures::new("preview");
    let (mut ambiguous, mut server_errors, mut requests) = (0, 0, 0);
    let mut lease_5xx = 0;
    for seed in 0..SEEDS {
        let sim = Sim::builder()
            .seed(seed)
            .transition_time(Duration::from_millis(500))
            .postgres_step(Duration::from_secs(20))
            .check_delay(Duration::from_secs(3))
            .faults(faults(seed));
        // The one resilience setting: more attempts per call than the default 4, as 15% 5xx
        // on every call is far worse than Fly on a bad day.
        let retry = RetryPolicy::default().max_attempts(8);
        let mut w = World::start_with(sim, QUANTUM, retry).await;
        let client = w.client.clone();
        let (first, second, down1, down2) = w
            .run("preview", async move {
                let first = preview::up(&client, 7, "registry.fly.io/preview:v2").await;
                let first = first.unwrap_or_else(|e| panic!("seed {seed}: up: {e}"));
                let second = preview::up(&client, 7, "registry.fly.io/preview:v2").await;
                let second = second.unwrap_or_else(|e| panic!("seed {seed}: up again: {e}"));
                let down1 = preview::down(&client, 7).await;
                let down1 = down1.unwrap_or_else(|e| panic!("seed {seed}: down: {e}"));
                let down2 = preview::down(&client, 7).await;
                let down2 = down2.unwrap_or_else(|e| panic!("seed {seed}: down again: {e}"));
                (first, second, down1, down2)
            })
            .await;
        // The second run found everything the first made, and made nothing.
        assert_eq!(
            first.created, 11,
            "seed {seed}: app, cluster, db, user, secret, 3 + 3"
        );
        assert_eq!(second.created, 0, "seed {seed}");
        assert_eq!(
            (&second.machines, &second.volumes),
            (&first.machines, &first.volumes)
        );
        assert_eq!(second.cluster_id, first.cluster_id);
        assert_eq!(first.exec_output.trim_end(), "ready", "seed {seed}");
        // Torn down once; the second teardown found nothing left.
        assert_eq!((down1, down2), (2, 0), "seed {seed}");

        // Exactly one of each was ever made: the emulator's log of successful creates (an
        // ambiguous create made its resource too) counts one per resource.
        let log = w.sim.requests();
        let made = |op: OperationId| {
            log.iter()
                .filter(|r| r.operation == Some(op.id()))
                .filter(|r| {
                    (200..300).contains(&r.status) || r.fault == Some(FaultKind::AmbiguousCreate)
                })
                .count()
        };
        assert_eq!(
            made(OperationId::PostgresCreate),
            1,
            "seed {seed}: clusters"
        );
        assert_eq!(
            made(OperationId::PostgresDatabasesCreate),
            1,
            "seed {seed}: dbs"
        );
        assert_eq!(
            made(OperationId::PostgresUsersCreate),
            1,
            "seed {seed}: users"
        );
        assert_eq!(made(OperationId::VolumesCreate), 3, "seed {seed}: volumes");
        assert_eq!(
            made(OperationId::MachinesCreate),
            3,
            "seed {seed}: machines"
        );
        // App creates repeat with Fly's idempotency key: every success names the same app.
        assert!(made(OperationId::AppsCreate) >= 1);
        ambiguous += log
            .iter()
            .filter(|r| r.fault == Some(FaultKind::AmbiguousCreate))
            .count();
        server_errors += log
            .iter()
            .filter(|r| r.fault == Some(FaultKind::ServerError))
            .count();
        lease_5xx += log
            .iter()
            .filter(|r| r.operation == Some(OperationId::MachinesCreateLease.id()))
            .filter(|r| r.fault == Some(FaultKind::ServerError))
            .count();
        requests += log.len();
        w.shutdown().await;
    }
    figures.add("seeds", SEEDS);
    figures.add("requests", requests);
    figures.add("injected_5xx", server_errors);
    figures.add("ambiguous_creates", ambiguous);
    figures.add("injected_5xx_on_lease_acquire", lease_5xx);
    figures.add(
        "program_lines",
        include_str!("../../src/preview.rs").lines().count(),
    );
    figures.save();
    // The rollout's lease acquisitions met 5xx too, and recovered.
    assert!(lease_5xx > 0, "no 5xx reached a lease acquisition");
}
