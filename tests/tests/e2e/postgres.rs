//! Managed Postgres end to end, under faults: an app made exactly once through Fly's app-create
//! idempotency key although its creates fail ambiguously; a cluster created and waited for
//! through minutes of provisioning; a user and a database; the cluster attached to the app,
//! forked, and everything torn down.
//!
//! Injected 5xx answers and dropped connections hit every call. Reads, deletes and attachments
//! are retried by the client on its own (Fly treats them as safe to repeat). The creates are
//! not, so the scenario does what a careful service does: after a failure whose outcome is
//! unknown, it looks for what it asked for before asking again, so nothing is made twice.

use std::future::Future;
use std::time::Duration;

use fly_machines::resources::postgres::{Cluster, PostgresPlan, PostgresRole};
use fly_machines::{Client, OperationId};
use fly_machines_sim::{FaultKind, Faults, Sim};

use crate::support::{Figures, World, insist, per_operation, secs, transient};

const QUANTUM: Duration = Duration::from_millis(500);
const ORG: &str = "personal";
const APP: &str = "orders";
/// How long each provisioning phase of a cluster lasts on the emulator's clock.
const PROVISIONING_STEP: Duration = Duration::from_secs(40);

fn faults() -> Faults {
    Faults::seeded(2026)
        .error_rate(0.08)
        .drop_rate(0.03)
        .ambiguous_create_rate(0.6)
}

/// Until the app exists: each app create takes effect and its answer is lost.
fn every_app_create_ambiguous() -> Faults {
    Faults::seeded(1)
        .ambiguous_create_rate(1.0)
        .only_operations([OperationId::AppsCreate])
}

/// Makes something at most once: `create` is tried, and after a failure whose outcome is
/// unknown, `find` (a safe read) says whether the earlier try took effect.
async fn once<T, C, CF, F, FF>(what: &str, create: C, find: F) -> T
where
    C: Fn() -> CF,
    CF: Future<Output = fly_machines::Result<T>>,
    F: Fn() -> FF,
    FF: Future<Output = fly_machines::Result<Option<T>>>,
{
    loop {
        match create().await {
            Ok(made) => return made,
            Err(e) if transient(&e) => {}
            Err(e) => panic!("{what}: {e}"),
        }
        loop {
            match find().await {
                Ok(Some(made)) => return made,
                Ok(None) => break,
                Err(e) if transient(&e) => {}
                Err(e) => panic!("look for {what}: {e}"),
            }
        }
    }
}

async fn find_cluster(client: &Client, name: &str) -> fly_machines::Result<Option<Cluster>> {
    let clusters = client.postgres().clusters().list(ORG).await?;
    Ok(clusters
        .iter()
        .find(|c| c.name() == name && !c.is_deleted())
        .map(|c| client.postgres().cluster(c.id())))
}

#[tokio::test]
async fn a_cluster_lifecycle_survives_faults_and_makes_nothing_twice() {
    let sim = Sim::builder()
        .seed(11)
        .postgres_step(PROVISIONING_STEP)
        .faults(every_app_create_ambiguous());
    let mut w = World::start(sim, QUANTUM).await;
    let (client, vt, sim) = (w.client.clone(), w.vt.clone(), w.sim.clone());
    let (provisioning, fork_id) = w
        .run("postgres", async move {
            // 1. The app, exactly once. Its first create takes effect but every answer to it is
            //    lost (the client retries a keyed create as safe, and each retry is answered
            //    ambiguously too); then, with the usual faults, the same key returns that app.
            let apps = client.apps();
            let create = || {
                apps.create(APP, ORG)
                    .idempotency_key("orders-2026-12")
                    .send()
            };
            let lost = create().await.expect_err("every answer is lost");
            assert!(transient(&lost), "{lost}");
            sim.set_faults(faults());
            let app = insist("create app", create).await;
            // The replay answered with the app the lost create had made, not `name_taken`.
            let held = client.app(APP);
            let held = insist("get app", || held.get().send()).await;
            assert_eq!(app.id(), held.id());

            // 2. A cluster, then minutes of provisioning.
            let cluster = once(
                "create cluster",
                || async {
                    let c = client
                        .postgres()
                        .clusters()
                        .create("orders-db")
                        .org(ORG)
                        .region("iad")
                        .plan(PostgresPlan::Basic)
                        .await?;
                    Ok(client.postgres().cluster(c.id()))
                },
                || find_cluster(&client, "orders-db"),
            )
            .await;
            let started = client.clock().now();
            let ready = vt
                .waiting(cluster.wait_ready(Duration::from_secs(1800)).send())
                .await
                .expect("the cluster becomes ready");
            assert!(ready.is_ready());
            let provisioning = client.clock().now().saturating_duration_since(started);

            // 3. A user and a database.
            let user = once(
                "create user",
                || async {
                    Ok(cluster
                        .users()
                        .create("orders_app")
                        .role(PostgresRole::Writer)
                        .await?
                        .username()
                        .to_string())
                },
                || async {
                    let users = cluster.users().list().await?;
                    Ok(users
                        .iter()
                        .find(|u| u.username() == "orders_app")
                        .map(|u| u.username().to_string()))
                },
            )
            .await;
            once(
                "create database",
                || async {
                    Ok(cluster
                        .databases()
                        .create("orders")
                        .await?
                        .name()
                        .to_string())
                },
                || async {
                    let dbs = cluster.databases().list().await?;
                    Ok(dbs
                        .iter()
                        .find(|d| d.name() == "orders")
                        .map(|d| d.name().to_string()))
                },
            )
            .await;
            let user = cluster.user(&user);
            let credentials = insist("credentials", || user.credentials()).await;
            assert!(!credentials.password().is_empty());

            // 4. Attached to the app.
            insist("attach", || cluster.attach(APP)).await;
            let attached = insist("get cluster", || cluster.get()).await;
            assert_eq!(attached.attached_apps().collect::<Vec<_>>(), [APP]);

            // 5. A fork, made once, provisioned in turn.
            let fork = once(
                "fork",
                || async {
                    let f = cluster.fork().name("orders-db-fork").await?;
                    Ok(client.postgres().cluster(f.id()))
                },
                || find_cluster(&client, "orders-db-fork"),
            )
            .await;
            vt.waiting(fork.wait_ready(Duration::from_secs(1800)).send())
                .await
                .expect("the fork becomes ready");

            // 6. Teardown: deletes are safe to repeat; a 404 means an earlier try got through.
            for c in [&fork, &cluster] {
                match c.delete().await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => panic!("delete cluster: {e}"),
                }
            }
            let app = client.app(APP);
            insist("delete app", || app.delete().send()).await;
            (provisioning, fork.id().to_string())
        })
        .await;

    let log = w.sim.requests();
    let of = |op: OperationId| log.iter().filter(move |r| r.operation == Some(op.id()));
    let ambiguous_app_creates = of(OperationId::AppsCreate)
        .filter(|r| r.fault == Some(FaultKind::AmbiguousCreate))
        .count();
    // Injected 5xx answers and dropped connections come before any effect, so each 2xx answer
    // to a create is one thing made.
    let made = |op: OperationId| of(op).filter(|r| (200..300).contains(&r.status)).count();
    let faulted = log.iter().filter(|r| r.fault.is_some()).count();
    let ops = per_operation(&log);

    let mut fig = Figures::new("postgres");
    fig.add("requests", log.len());
    fig.add("faulted_requests", faulted);
    fig.add("ambiguous_app_creates", ambiguous_app_creates);
    fig.add(
        "app_creates_sent",
        ops.get(OperationId::AppsCreate.id()).copied().unwrap_or(0),
    );
    fig.add(
        "cluster_creates_sent",
        ops.get(OperationId::PostgresCreate.id())
            .copied()
            .unwrap_or(0),
    );
    fig.add("provisioning_virtual_s", secs(provisioning));
    fig.add("real_s", secs(w.real_elapsed()));
    fig.save();

    assert!(faulted > 0, "faults were injected");
    assert!(
        ambiguous_app_creates >= 1,
        "the app create met an ambiguous failure"
    );
    assert!(
        w.sim.apps().is_empty(),
        "the app is deleted: {:?}",
        w.sim.apps()
    );
    assert_eq!(
        made(OperationId::PostgresCreate),
        1,
        "one cluster, never a duplicate"
    );
    assert_eq!(
        made(OperationId::PostgresFork),
        1,
        "one fork, never a duplicate"
    );
    assert_eq!(made(OperationId::PostgresUsersCreate), 1, "one user");
    assert_eq!(
        made(OperationId::PostgresDatabasesCreate),
        1,
        "one database"
    );
    assert!(!fork_id.is_empty());
    assert!(
        provisioning >= PROVISIONING_STEP,
        "provisioning took emulator time: {provisioning:?}"
    );
    w.shutdown().await;
}
