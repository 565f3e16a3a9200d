//! Testing your own code with the typed mocks of `fly-machines-httpmock`: one mock method per
//! operation, named after the call it stands for (`server.machines_create` for
//! `app.machines().create(..)`; see the crate's `reference` module for every resource), with
//! typed matchers on the query and on common body fields (`when.region("ord")`), answers in the
//! client's types, Fly's error answers (a held lease, no capacity), and `server.client()` for a
//! client pointed at the mock.
//!
//! ```sh
//! cargo test --example typed_mocks   # the tests below
//! cargo run --example typed_mocks    # the same checks, printed
//! ```

use fly_machines::testing::TestServer;
use fly_machines::{App, MachineSnapshot, MachineState, types};
use fly_machines_examples::BoxError;
use fly_machines_httpmock::{Capacity, LeaseHeld, MockServerExt};
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

/// The code under test: creates a worker with its volume in the first of `regions` with room.
pub async fn place_worker(app: &App, regions: &[&str]) -> fly_machines::Result<MachineSnapshot> {
    let mut no_room = None;
    for region in regions {
        let config = types::MachineConfig {
            image: Some("registry.fly.io/worker:7".into()),
            mounts: Some(vec![types::MachineMount {
                volume: Some(format!("vol_{region}")),
                path: Some("/data".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        match app.machines().create(config).region(*region).await {
            Ok(machine) => return Ok(machine),
            Err(e) if e.is_capacity() => no_room = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(no_room.expect("regions is not empty"))
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

/// No room in `ord`: the worker is made in `ams`, with the `ams` volume, after one try in `ord`.
async fn a_full_region_falls_back_to_the_next() -> Result<(), BoxError> {
    let server = MockServer::start_async().await;
    let full = server.machines_create(|when, then| {
        when.app_name("shop").region("ord");
        then.fly_insufficient_capacity();
    });
    let room = server.machines_create(|when, then| {
        when.app_name("shop")
            .region("ams")
            .image("registry.fly.io/worker:7")
            .mounts_volume("vol_ams");
        then.ok(&types::Machine {
            id: Some("m-ams".into()),
            region: Some("ams".into()),
            ..Default::default()
        });
    });
    let worker = place_worker(&server.client().app("shop"), &["ord", "ams"]).await?;
    assert_eq!(worker.data().region.as_deref(), Some("ams"));
    full.assert_calls_async(1).await;
    room.assert_calls_async(1).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    restarts_each_started_web_machine().await?;
    println!("ok  restarts each started web machine");
    a_leased_machine_stops_the_restarts().await?;
    println!("ok  a leased machine stops the restarts");
    a_full_region_falls_back_to_the_next().await?;
    println!("ok  a full region falls back to the next");
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

    #[tokio::test]
    async fn a_full_region_falls_back_to_the_next() {
        super::a_full_region_falls_back_to_the_next().await.unwrap();
    }
}
