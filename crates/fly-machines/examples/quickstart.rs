//! Quickstart: the whole life of a machine, step by step.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Without `FLY_API_TOKEN` it starts the emulator (`fly-machines-sim`) in this process and runs
//! against it. With a token it runs against Fly: in the app named by `FLY_APP_NAME`, or in a new
//! app created in `FLY_ORG` (default `personal`) and deleted at the end.
//!
//! Set `RUST_LOG=fly_machines=debug` to see the client's tracing spans.

use std::future::Future;
use std::time::{Duration, Instant};

use fly_machines::{Client, MachineConfig, MachineSnapshot};

/// The kind of machine this quickstart runs, described once as a Rust type.
#[derive(MachineConfig)]
#[machine(
    image = "nginx:1.27",
    guest(cpu_kind = "shared", cpus = 1, memory_mb = 256),
    restart(policy = "on-failure", max_retries = 3),
    stop(signal = "SIGTERM", timeout = "10s"),
    metadata(created_by = "fly-machines-quickstart"),
    env(LOG_LEVEL = "info")
)]
struct WebServer {
    /// Shown by the server; becomes `GREETING=...`.
    #[machine(env)]
    greeting: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs one step and prints its name and how long it took.
async fn step<T, E: Into<BoxError>>(
    name: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, BoxError> {
    let started = Instant::now();
    match fut.await {
        Ok(value) => {
            println!(
                "  ok    {name:<44} {:>7.0} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
            Ok(value)
        }
        Err(e) => {
            let e = e.into();
            println!("  FAIL  {name:<44} {e}");
            Err(e)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // `RUST_LOG=fly_machines=debug` shows one span per call: operation, app, machine, attempt,
    // status, fly-request-id, time waited on the limiter, retry reason. Never the token.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .init();
    }
    let token = std::env::var("FLY_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let mut sim = None;
    let client = match &token {
        Some(_) => {
            println!("FLY_API_TOKEN is set: running against Fly");
            Client::from_env()?
        }
        None => {
            let started = fly_machines_sim::Sim::builder().start().await?;
            println!(
                "no FLY_API_TOKEN: running against the built-in emulator at {}",
                started.base_url()
            );
            let client = Client::builder()
                .token(started.token())
                .base_url(started.base_url())
                .build()?;
            sim = Some(started);
            client
        }
    };

    let existing_app = std::env::var("FLY_APP_NAME").ok().filter(|a| !a.is_empty());
    let app_name = existing_app
        .clone()
        .unwrap_or_else(|| format!("fly-machines-quickstart-{}", std::process::id()));
    let org = std::env::var("FLY_ORG").unwrap_or_else(|_| "personal".into());
    let app = client.app(&app_name);
    if existing_app.is_none() {
        step(
            &format!("create app {app_name}"),
            client.apps().create(&app_name, &org).send(),
        )
        .await?;
    }

    let result = lifecycle(&app).await;
    if result.is_err() {
        println!("cleaning up after the failure...");
    }
    if existing_app.is_none() {
        step("delete app", app.delete().send()).await.ok();
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    result
}

async fn lifecycle(app: &fly_machines::App) -> Result<(), BoxError> {
    let server = WebServer {
        greeting: "hello from fly-machines".into(),
    };
    let machine = step(
        "create machine from #[derive(MachineConfig)]",
        app.machines()
            .create(server.machine_config())
            .idempotency_key(format!("quickstart-{}", std::process::id()))
            .send(),
    )
    .await?;
    println!(
        "        machine {}, version {}",
        machine.id(),
        machine.version().unwrap_or("?")
    );

    let outcome = lifecycle_steps(&machine).await;
    if outcome.is_err() {
        machine.handle().delete().force().await.ok();
    }
    outcome
}

async fn lifecycle_steps(created: &MachineSnapshot) -> Result<(), BoxError> {
    let minute = Duration::from_secs(60);
    let machine = created.handle();
    step("wait for started", created.wait_started(minute)).await?;
    let updated = step(
        "update the image under a lease",
        machine
            .update_image("nginx:1.28")
            .lease_description("quickstart update")
            .send(),
    )
    .await?;
    step(
        "wait for the new version to start",
        updated.wait_started(minute),
    )
    .await?;
    step(
        "stop and wait for stopped",
        machine.stop_and_wait(minute).send(),
    )
    .await?;
    step(
        "destroy and wait until gone",
        machine.destroy_and_wait(minute).send(),
    )
    .await?;
    Ok(())
}
