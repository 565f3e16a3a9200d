//! A fleet fan-out: create many machines at once with a bounded number of calls in flight, wait
//! for all of them together, run a command on each, and tear the fleet down.
//!
//! Creates carry idempotency keys, so a create retried after a timeout never leaves two
//! machines; the client paces every call at Fly's rate limits, so the fan-out never earns a 429.
//!
//! ```sh
//! cargo run --example fleet
//! ```

use std::time::Duration;

use fly_machines::guest::GuestPreset;
use fly_machines::wait::WaitState;
use fly_machines::{App, MachineSnapshot, builders};
use fly_machines_examples::{BoxError, Target, app_name};
use futures::{StreamExt, TryStreamExt};

const FLEET_SIZE: usize = 8;
const IN_FLIGHT: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = Target::from_env().await?;
    let app = target.scratch_app(&app_name("fleet")).await?;
    let result = run(&app, "fleet").await;
    app.delete().await.ok();
    target.finish().await;
    result.map(|outputs| println!("{} machines answered", outputs.len()))
}

/// Brings up the fleet, runs `uname` on each machine, destroys the fleet; returns the outputs.
async fn run(app: &App, run_id: &str) -> Result<Vec<String>, BoxError> {
    let fleet = create_fleet(app, run_id).await?;
    let waits = app
        .machines()
        .wait_all(&fleet, [WaitState::Started])
        .timeout(TIMEOUT)
        .max_in_flight(IN_FLIGHT)
        .await;
    for (machine, wait) in fleet.iter().zip(waits) {
        wait.map_err(|e| format!("machine {} did not start: {e}", machine.id()))?;
    }
    let outputs = futures::stream::iter(&fleet)
        .map(|m| async move {
            m.handle()
                .exec(["uname", "-a"])
                .timeout(Duration::from_secs(10))
                .await
        })
        .buffer_unordered(IN_FLIGHT)
        .map_ok(|answer| answer.stdout.unwrap_or_default())
        .try_collect()
        .await?;
    futures::stream::iter(&fleet)
        .map(|m| m.handle().destroy_and_wait(TIMEOUT).force().send())
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(outputs)
}

/// Creates the fleet, at most `IN_FLIGHT` creates at a time.
async fn create_fleet(app: &App, run_id: &str) -> Result<Vec<MachineSnapshot>, BoxError> {
    let config = builders::machine_config("alpine:3.20")
        .guest(GuestPreset::SharedCpu1x)
        .metadata("role", "worker")
        .build()?;
    let fleet = futures::stream::iter(0..FLEET_SIZE)
        .map(|i| {
            // The builder owns a clone of the handle, so it can come from a temporary one.
            app.machines()
                .create(config.clone())
                .name(format!("worker-{i}"))
                // One key per machine and run: a retried create finds the machine it made.
                .idempotency_key(format!("{run_id}-worker-{i}"))
                .send()
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_whole_fleet_starts_answers_and_is_destroyed() {
        check(Target::for_test().await).await;
    }

    #[tokio::test]
    async fn the_fleet_runs_against_fly_s_documented_shapes() {
        check(Target::for_test_documented_shapes().await).await;
    }

    async fn check(target: Target) {
        let app = target.scratch_app("fleet-test").await.unwrap();
        let outputs = run(&app, "fleet-test").await.unwrap();
        assert_eq!(outputs.len(), FLEET_SIZE);
        assert!(target.emulator().unwrap().machines("fleet-test").is_empty());
        target.finish().await;
    }
}
