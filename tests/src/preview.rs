//! The "preview environment" program of issue 20, as a user would write it: for one pull
//! request, an app, a Managed Postgres cluster with a database and a user, a secret, three
//! machines each with its own volume, an exec, a rollout of a new image one machine at a time
//! under leases until each is healthy, and a teardown that can run again.
//!
//! It has no retry code of its own: every step is a find-or-create (`ensure`), a call the
//! client retries, or a wait. The only resilience setting is the client's retry policy. The
//! e2e test `preview` runs it under faults on 20 seeds, and `preview_twice` runs it in two
//! processes at once (the `preview_env` binary) against the emulator binary.

use std::time::Duration;

use fly_machines::resources::postgres::{PostgresPlan, PostgresRole};
use fly_machines::{Client, Result, types};

/// What one run made sure of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The app's name.
    pub app: String,
    /// The Postgres cluster's id.
    pub cluster_id: String,
    /// The machine ids, in order.
    pub machines: Vec<String>,
    /// The volume ids, in order.
    pub volumes: Vec<String>,
    /// How many resources this run created (the rest it found).
    pub created: usize,
    /// What the exec printed.
    pub exec_output: String,
}

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(300);

/// Brings up (or finds) the preview environment of pull request `pr`, then rolls `image` out.
pub async fn up(client: &Client, pr: u32, image: &str) -> Result<Preview> {
    let name = format!("pr-{pr}");
    let mut created = 0;
    let mut count = |made: bool| created += usize::from(made);

    let app = client.apps().ensure(&name, "personal").await?;
    count(app.created());
    let app = app.app().clone();

    let cluster = client
        .postgres()
        .clusters()
        .ensure(format!("{name}-db"))
        .org("personal")
        .region("iad")
        .plan(PostgresPlan::Basic)
        .await?;
    count(cluster.was_created());
    let cluster = cluster.into_inner();
    cluster
        .wait_ready(WAIT)
        .poll_interval(Duration::from_millis(500))
        .await?;
    count(cluster.databases().ensure("app").await?.was_created());
    count(
        cluster
            .users()
            .ensure("app", PostgresRole::Writer)
            .await?
            .was_created(),
    );
    let url = format!("postgres://app@{}.flympg.net/app", cluster.id());
    count(
        app.secrets()
            .set_if_absent("DATABASE_URL", &url)
            .await?
            .was_created(),
    );

    let (mut machines, mut volumes) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let volume = app.volumes().ensure(format!("data_{i}"), "iad", 1).await?;
        count(volume.was_created());
        let config = web_config("registry.fly.io/preview:v1", volume.id());
        let machine = app
            .machines()
            .ensure(format!("{name}-web-{i}"), config)
            .region("iad")
            .await?;
        count(machine.was_created());
        volumes.push(volume.id().to_string());
        machines.push(machine.into_inner());
    }
    // Any version: a machine found may already run what an earlier run rolled out.
    for machine in &machines {
        machine.handle().wait_healthy(WAIT).await?;
    }
    let exec = machines[0]
        .handle()
        .exec(["echo", "ready"])
        .retry_unsafe()
        .await?;

    // One machine at a time, each holding its lease until its new version is healthy.
    for machine in &machines {
        machine
            .handle()
            .update_image(image)
            .lease_description(format!("{name} rollout"))
            .wait_healthy(WAIT)
            .await?;
    }
    Ok(Preview {
        app: name,
        cluster_id: cluster.id().to_string(),
        machines: machines.iter().map(|m| m.id().to_string()).collect(),
        volumes,
        created,
        exec_output: exec.stdout.unwrap_or_default(),
    })
}

/// Removes the preview environment of pull request `pr`: the cluster, then the app with its
/// machines, volumes and secrets. Safe to run again; says how many things it removed.
pub async fn down(client: &Client, pr: u32) -> Result<usize> {
    let name = format!("pr-{pr}");
    let mut removed = 0;
    let clusters = client.postgres().clusters().list("personal").await?;
    for c in clusters.iter().filter(|c| c.name() == format!("{name}-db")) {
        removed += usize::from(client.postgres().cluster(c.id()).ensure_absent().await?);
    }
    removed += usize::from(client.app(&name).ensure_absent().await?);
    Ok(removed)
}

/// A web machine: the image, the volume at `/data`, and one HTTP health check.
fn web_config(image: &str, volume_id: &str) -> types::MachineConfig {
    types::MachineConfig {
        image: Some(image.to_string()),
        mounts: Some(vec![types::MachineMount {
            volume: Some(volume_id.to_string()),
            path: Some("/data".into()),
            ..Default::default()
        }]),
        checks: Some(
            [(
                "http".to_string(),
                types::MachineCheck {
                    type_: Some("http".into()),
                    port: Some(8080),
                    path: Some("/healthz".into()),
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
        ),
        ..Default::default()
    }
}
