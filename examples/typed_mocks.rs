//! Testing your own code with the typed mocks of `fly-machines-httpmock`: one mock method per
//! operation, with typed matchers and answers (and Fly's error answers), and `server.client()`
//! for a client pointed at the mock.
//!
//! ```sh
//! cargo test --example typed_mocks   # the tests below
//! cargo run --example typed_mocks    # the same checks, printed
//! ```

use fly_machines::testing::TestServer;
use fly_machines::{App, MachineState, types};
use fly_machines_examples::BoxError;
use fly_machines_httpmock::{LeaseHeld, MockServerExt};
use httpmock::MockServer;

/// The code under test: restarts the app's started web machines; returns how many.
pub async fn restart_web(app: &App) -> fly_machines::Result<usize> {
    let web = app
        .machines()
        .list()
        .metadata("role", "web")
        .state(MachineState::Started)
        .await?;
    for machine in &web {
        machine.handle().restart().await?;
    }
    Ok(web.len())
}

fn started(id: &str) -> types::Machine {
    types::Machine {
        id: Some(id.into()),
        state: Some("started".into()),
        ..Default::default()
    }
}

/// Two started web machines: both are restarted, and the filter reached the wire.
async fn restarts_each_started_web_machine() -> Result<(), BoxError> {
    let server = MockServer::start_async().await;
    let list = server.machines_list(|when, then| {
        when.app_name("shop")
            .state("started")
            .into_inner()
            .query_param("metadata.role", "web");
        then.ok(&vec![started("m-1"), started("m-2")]);
    });
    let restart = server.machines_restart(|when, then| {
        when.app_name("shop");
        then.ok();
    });
    let restarted = restart_web(&server.client().app("shop")).await?;
    assert_eq!(restarted, 2);
    list.assert_async().await;
    restart.assert_calls_async(2).await;
    Ok(())
}

/// A machine leased by someone else: the error reaches the caller as a lease conflict, after
/// one attempt (a 409 is never retried).
async fn a_leased_machine_stops_the_restarts() -> Result<(), BoxError> {
    let server = MockServer::start_async().await;
    server.machines_list(|when, then| {
        when.app_name("shop");
        then.ok(&vec![started("m-1")]);
    });
    let restart = server.machines_restart(|when, then| {
        when.app_name("shop").machine_id("m-1");
        then.fly_lease_held();
    });
    let err = restart_web(&server.client().app("shop"))
        .await
        .expect_err("the lease is held");
    assert!(err.is_lease_conflict(), "{err}");
    assert_eq!(err.attempts(), Some(1));
    restart.assert_calls_async(1).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    restarts_each_started_web_machine().await?;
    println!("ok  restarts each started web machine");
    a_leased_machine_stops_the_restarts().await?;
    println!("ok  a leased machine stops the restarts");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn restarts_each_started_web_machine() {
        super::restarts_each_started_web_machine().await.unwrap();
    }

    #[tokio::test]
    async fn a_leased_machine_stops_the_restarts() {
        super::a_leased_machine_stops_the_restarts().await.unwrap();
    }
}
