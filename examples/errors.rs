//! Error handling: what each kind of failure looks like and how to act on it.
//!
//! Every call returns `fly_machines::Error`, with the status, Fly's error code, the message, the
//! `fly-request-id`, the operation and the number of attempts, and predicates to branch on.
//!
//! ```sh
//! cargo run --example errors
//! ```

use std::time::Duration;

use fly_machines::guest::Guest;
use fly_machines::{App, Client, builders};
use fly_machines_examples::{BoxError, Target, app_name};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = Target::from_env().await?;
    let app = target.scratch_app(&app_name("errors")).await?;
    let result = tour(&target.client, &app, &target.org).await;
    app.delete().await.ok();
    target.finish().await;
    result.map(|seen| println!("saw {} kinds of error, each as expected", seen.len()))
}

/// Provokes each kind of error in turn and returns the name of each one seen.
async fn tour(client: &Client, app: &App, org: &str) -> Result<Vec<&'static str>, BoxError> {
    let mut seen = Vec::new();

    // A bad config never leaves the process: the rule, the value and what was expected.
    match Guest::shared(3) {
        Err(e) => println!("  refused before sending: {e}"),
        Ok(_) => return Err("3 shared CPUs should be refused".into()),
    }
    seen.push("rule");

    // A resource that does not exist: 404, Fly's `not_found`.
    let missing = app
        .machine("d5683000000000")
        .get()
        .await
        .expect_err("no such machine");
    assert!(missing.is_not_found(), "{missing}");
    println!("  not found: {missing}");
    seen.push("not found");

    // A name someone else has: 422 `name_taken`. (`apps().ensure(..)` would accept our own.)
    let taken = client
        .apps()
        .create(app.name(), org)
        .await
        .expect_err("the name is ours already");
    assert!(taken.is_name_taken(), "{taken}");
    println!("  name taken: {taken}");
    seen.push("name taken");

    // A machine leased by another deployer: 409, not retried, the holder named in the message.
    let config = builders::machine_config("nginx:1.27").build()?;
    let machine = app.machines().create(config).await?;
    machine.wait_started(Duration::from_secs(60)).await?;
    let lease = machine
        .handle()
        .lease(Duration::from_secs(30))
        .description("another deployer")
        .await?;
    let held = machine
        .handle()
        .stop()
        .await
        .expect_err("the lease is held");
    assert!(held.is_lease_conflict(), "{held}");
    println!(
        "  lease held: {held} (after {} attempt)",
        held.attempts().unwrap_or(0)
    );
    seen.push("lease held");
    lease.release().await?;

    // A call that is not safe to repeat is not retried after an ambiguous failure, unless the
    // caller says it is safe: here a command that does no harm when it runs twice.
    machine.handle().exec(["date"]).retry_unsafe().await?;
    machine
        .handle()
        .destroy_and_wait(Duration::from_secs(60))
        .force()
        .await?;
    seen.push("retry opt-in");
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_kind_of_error_shows_up_as_documented() {
        check(Target::for_test().await).await;
    }

    #[tokio::test]
    async fn the_errors_show_up_against_fly_s_documented_shapes() {
        check(Target::for_test_documented_shapes().await).await;
    }

    async fn check(target: Target) {
        let app = target.scratch_app("errors-test").await.unwrap();
        let seen = tour(&target.client, &app, &target.org).await.unwrap();
        assert_eq!(
            seen,
            [
                "rule",
                "not found",
                "name taken",
                "lease held",
                "retry opt-in"
            ]
        );
        target.finish().await;
    }
}
