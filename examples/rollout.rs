//! Rollouts with `fly-machines-deploy`: a fleet of three web machines is made from a fleet
//! description, rolled to a new image one machine at a time (rolling), then switched to
//! another by blue-green. Against the emulator it also ships a release that Fly silently puts
//! back on the old version (the emulator's `:reverted` image tag), which the health gate
//! catches and rolls back.
//!
//! ```sh
//! cargo run --example rollout
//! ```
//!
//! Without `FLY_API_TOKEN` it runs against the emulator started in this process; with a
//! token, against Fly, in a new app created in `FLY_ORG` (default `personal`) and deleted at
//! the end.

use std::time::Duration;

use fly_machines::{App, Client};
use fly_machines_deploy::{Applier, ApplyError, DesiredFleet, Progress, Report, observed, plan};
use fly_machines_examples::{BoxError, Target, app_name};
use futures::StreamExt;

const WEB_MACHINES: usize = 3;
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// The fleet: `WEB_MACHINES` machines of `image` in `iad`, changed under `strategy`, each
/// healthy for `min_healthy` before the next one moves.
fn fleet(app: &str, org: &str, image: &str, strategy: &str, min_healthy: &str) -> DesiredFleet {
    let text = format!(
        r#"
app = "{app}"
org = "{org}"

[[group]]
name = "web"
image = "{image}"
regions = {{ iad = {WEB_MACHINES} }}
guest = {{ cpu_kind = "shared", cpus = 1, memory_mb = 256 }}

[group.strategy]
kind = "{strategy}"
min_healthy_time = "{min_healthy}"
"#
    );
    DesiredFleet::from_toml(&text).expect("the example's fleet is valid")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = Target::from_env().await?;
    let app = target.scratch_app(&app_name("rollout")).await?;
    let on_emulator = target.emulator().is_some();
    let result = rollouts(&target.client, &app, &target.org, "5s", on_emulator).await;
    teardown(&app).await?;
    target.finish().await;
    result
}

/// Makes the fleet, rolls it, switches it blue-green; on the emulator, ships a bad release.
async fn rollouts(
    client: &Client,
    app: &App,
    org: &str,
    min_healthy: &str,
    on_emulator: bool,
) -> Result<(), BoxError> {
    let name = app.name();
    println!("1. make the fleet (nginx:1.27)");
    apply(
        client,
        &fleet(name, org, "nginx:1.27", "rolling", min_healthy),
    )
    .await?;
    println!("2. rolling, one machine out at a time (nginx:1.28)");
    apply(
        client,
        &fleet(name, org, "nginx:1.28", "rolling", min_healthy),
    )
    .await?;
    println!("3. blue-green: a green machine per blue one, then the switch (nginx:1.29)");
    apply(
        client,
        &fleet(name, org, "nginx:1.29", "bluegreen", min_healthy),
    )
    .await?;
    if on_emulator {
        println!("4. a release Fly silently puts back on the old version");
        let bad = fleet(name, org, "example/web:reverted", "rolling", min_healthy);
        match apply(client, &bad).await {
            Err(e) => println!("   caught, and rolled back: {e}"),
            Ok(_) => return Err("a silently reverted release passed as a success".into()),
        }
    }
    Ok(())
}

/// Plans `desired` against what the app runs now, prints the plan, and applies it, printing
/// each step as it happens.
async fn apply(client: &Client, desired: &DesiredFleet) -> Result<Report, ApplyError> {
    let seen = observed::observe(client, desired.app())
        .await
        .expect("the app's machines can be listed");
    let plan = plan(desired, &seen);
    print!("{plan}");
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let printer = tokio::spawn(async move {
        while let Some(event) = rx.next().await {
            match event {
                Progress::Created { machine_id, .. } => println!("   created {machine_id}"),
                Progress::Moved {
                    machine_id,
                    version,
                    ..
                } => println!("   moved {machine_id} to {version}"),
                Progress::GatePassed { machine_id } => println!("   {machine_id} is healthy"),
                Progress::GateFailed { error } => println!("   {error}"),
                Progress::RollingBack { reason, .. } => println!("   rolling back: {reason}"),
                Progress::Destroyed { machine_id } => println!("   destroyed {machine_id}"),
                _ => {}
            }
        }
    });
    let result = Applier::new(client.clone())
        .progress(tx)
        .apply(desired, &plan)
        .await;
    let _ = printer.await;
    result
}

/// Stops and destroys the app's machines, then deletes the app.
async fn teardown(app: &App) -> Result<(), BoxError> {
    for machine in app.machines().list().await? {
        machine.handle().stop_and_wait(TEARDOWN_TIMEOUT).await?;
        machine.handle().destroy_and_wait(TEARDOWN_TIMEOUT).await?;
    }
    app.delete().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fly_machines::MachineState;

    #[tokio::test]
    async fn the_fleet_ends_on_the_blue_green_image_and_the_bad_release_is_rolled_back() {
        let target = Target::for_test().await;
        let app = target.scratch_app("rollout-test").await.unwrap();
        rollouts(&target.client, &app, &target.org, "0s", true)
            .await
            .unwrap();
        let web = app.machines().list().await.unwrap();
        let fleet: Vec<_> = web
            .iter()
            .filter(|m| m.metadata(fly_machines_deploy::marks::FLEET).is_some())
            .filter(|m| m.metadata(fly_machines_deploy::marks::LOCK).is_none())
            .collect();
        assert_eq!(fleet.len(), WEB_MACHINES);
        for machine in &fleet {
            assert_eq!(machine.image(), Some("nginx:1.29"), "{}", machine.id());
            assert_eq!(machine.state(), MachineState::Started);
        }
        teardown(&app).await.unwrap();
        assert!(target.emulator().unwrap().apps().is_empty());
        target.finish().await;
    }
}
