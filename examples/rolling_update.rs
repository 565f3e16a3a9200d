//! A rolling update under leases: move every web machine of an app to a new image, one at a
//! time, each under a lease so that no other deployer touches it meanwhile, and stop at the
//! first machine that does not come back.
//!
//! ```sh
//! cargo run --example rolling_update
//! ```

use std::time::Duration;

use fly_machines::{App, MachineConfig, MachineState};
use fly_machines_examples::{BoxError, Target, app_name};

/// A web server; the image is a field, because that is what a deploy changes.
#[derive(MachineConfig)]
#[machine(
    guest(cpu_kind = "shared", cpus = 1, memory_mb = 256),
    service(
        internal_port = 8080,
        protocol = "tcp",
        port(port = 443, handlers = ["tls", "http"])
    ),
    metadata(role = "web")
)]
struct Web {
    #[machine(image)]
    image: String,
}

const WEB_MACHINES: usize = 3;
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = Target::from_env().await?;
    let app = target.scratch_app(&app_name("rolling-update")).await?;
    let result = deploy_then_roll(&app).await;
    teardown(&app).await?;
    target.finish().await;
    result
}

/// Starts the fleet on v1, then rolls it to v2.
async fn deploy_then_roll(app: &App) -> Result<(), BoxError> {
    let v1 = Web {
        image: "registry.fly.io/web:v1".into(),
    };
    for _ in 0..WEB_MACHINES {
        let machine = app.machines().create(v1.machine_config()).await?;
        machine.wait_started(START_TIMEOUT).await?;
    }
    roll(app, "registry.fly.io/web:v2").await
}

/// Updates each web machine in turn and waits for its new version to start.
async fn roll(app: &App, image: &str) -> Result<(), BoxError> {
    let web = app
        .machines()
        .list()
        .metadata("role", "web")
        .state(MachineState::Started)
        .await?;
    for machine in &web {
        // Lease taken, config read, image changed, config written with the nonce, lease released.
        let updated = machine
            .handle()
            .update_image(image)
            .lease_description("rolling update")
            .await?;
        updated.wait_started(START_TIMEOUT).await?;
        println!(
            "  {} now runs {image} (version {})",
            updated.id(),
            updated.version().unwrap_or("?")
        );
    }
    Ok(())
}

/// Stops and destroys the app's machines, then deletes the app.
async fn teardown(app: &App) -> Result<(), BoxError> {
    for machine in app.machines().list().await? {
        machine.handle().stop_and_wait(START_TIMEOUT).await?;
        machine.handle().destroy_and_wait(START_TIMEOUT).await?;
    }
    app.delete().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_web_machine_ends_on_the_new_image() {
        check(Target::for_test().await).await;
    }

    #[tokio::test]
    async fn the_rolling_update_runs_against_fly_s_documented_shapes() {
        check(Target::for_test_documented_shapes().await).await;
    }

    async fn check(target: Target) {
        let app = target.scratch_app("rolling-update-test").await.unwrap();
        deploy_then_roll(&app).await.unwrap();
        let web = app.machines().list().metadata("role", "web").await.unwrap();
        assert_eq!(web.len(), WEB_MACHINES);
        for machine in &web {
            assert_eq!(machine.image(), Some("registry.fly.io/web:v2"));
            assert_eq!(machine.state(), MachineState::Started);
        }
        teardown(&app).await.unwrap();
        assert!(target.emulator().unwrap().apps().is_empty());
        target.finish().await;
    }
}
