//! Quickstart: the whole life of a machine, step by step.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Without `FLY_API_TOKEN` it runs against the emulator (`fly-machines-sim`) started in this
//! process. With a token it runs against Fly: in the app named by `FLY_APP_NAME`, or in a new app
//! created in `FLY_ORG` (default `personal`) and deleted at the end. `RUST_LOG=fly_machines=debug`
//! shows the client's tracing spans (operation, machine, attempt, status; never the token).

use std::time::{Duration, Instant};

use fly_machines::{App, MachineConfig, MachineSnapshot};
use fly_machines_examples::{BoxError, Target, app_name};

/// The kind of machine this quickstart runs, described once as a Rust type.
#[derive(MachineConfig)]
#[machine(
    guest(cpu_kind = "shared", cpus = 1, memory_mb = 256),
    restart(policy = "on-failure", max_retries = 3),
    stop(signal = "SIGTERM", timeout = "10s"),
    metadata(created_by = "fly-machines-quickstart"),
    env(LOG_LEVEL = "info")
)]
struct WebServer {
    /// The image to run: a field, so a deploy can change it.
    #[machine(image)]
    image: String,
    /// Shown by the server; becomes `GREETING=...`.
    #[machine(env)]
    greeting: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = Target::from_env().await?;
    let existing = std::env::var("FLY_APP_NAME").ok().filter(|a| !a.is_empty());
    let app = match &existing {
        Some(name) => target.client.app(name),
        None => step("create app", target.scratch_app(&app_name("quickstart"))).await?,
    };
    let result = lifecycle(&app).await;
    if existing.is_none() {
        step("delete app", app.delete()).await.ok();
    }
    target.finish().await;
    result
}

/// Create, wait, update under a lease, stop, destroy; the machine is removed even on failure.
async fn lifecycle(app: &App) -> Result<(), BoxError> {
    let server = WebServer {
        image: "nginx:1.27".into(),
        greeting: "hello from fly-machines".into(),
    };
    let machine = step(
        "create machine from #[derive(MachineConfig)]",
        app.machines()
            .create(server.machine_config())
            .idempotency_key(app_name("quickstart-machine")),
    )
    .await?;
    println!(
        "        machine {} version {}",
        machine.id(),
        machine.version().unwrap_or("?")
    );
    let outcome = steps(&machine).await;
    if outcome.is_err() {
        machine.handle().delete().force().await.ok();
    }
    outcome
}

async fn steps(created: &MachineSnapshot) -> Result<(), BoxError> {
    let minute = Duration::from_secs(60);
    let machine = created.handle();
    step("wait for started", created.wait_started(minute)).await?;
    let updated = step(
        "update the image under a lease",
        machine
            .update_image("nginx:1.28")
            .lease_description("quickstart"),
    )
    .await?;
    step("wait for the new version", updated.wait_started(minute)).await?;
    step("stop and wait for stopped", machine.stop_and_wait(minute)).await?;
    step(
        "destroy and wait until gone",
        machine.destroy_and_wait(minute),
    )
    .await?;
    Ok(())
}

/// Runs one step and prints its name and how long it took.
async fn step<T, E: Into<BoxError>>(
    name: &str,
    fut: impl std::future::IntoFuture<Output = Result<T, E>>,
) -> Result<T, BoxError> {
    let started = Instant::now();
    let result = fut.into_future().await.map_err(Into::into);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(_) => println!("  ok    {name:<44} {ms:>7.0} ms"),
        Err(e) => println!("  FAIL  {name:<44} {e}"),
    }
    result
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_quickstart_runs_against_the_emulator() {
        check(fly_machines_examples::Target::for_test().await).await;
    }

    #[tokio::test]
    async fn the_quickstart_runs_against_fly_s_documented_shapes() {
        check(fly_machines_examples::Target::for_test_documented_shapes().await).await;
    }

    async fn check(target: fly_machines_examples::Target) {
        let app = target.scratch_app("quickstart-test").await.unwrap();
        super::lifecycle(&app).await.unwrap();
        let sim = target.emulator().unwrap();
        assert!(
            sim.machines("quickstart-test").is_empty(),
            "the machine is destroyed"
        );
        target.finish().await;
    }
}
