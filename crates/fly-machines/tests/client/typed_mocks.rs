//! The `Client` against `fly-machines-httpmock`'s typed mocks and their error answers, set up with
//! `ClientBuilder::test_server`.

use std::time::Duration;

use fly_machines::{App, Client, Error, ErrorCode, MachineSnapshot, ManualClock, types};
use fly_machines_httpmock::{
    Capacity, FlyErrors, LeaseHeld, MockServerExt, NotFound, PreconditionFailed, ServerError,
    Unprocessable,
};
use httpmock::MockServer;

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";

fn machine(state: &str) -> types::Machine {
    types::Machine {
        id: Some(MACHINE.into()),
        state: Some(state.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_held_lease_is_a_409_with_fly_s_code_and_is_not_retried() {
    let server = MockServer::start_async().await;
    let start = server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_lease_held();
    });
    let client = Client::builder()
        .test_server(server.base_url())
        .build()
        .unwrap();
    let err = client.app(APP).machine(MACHINE).start().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        err.code(),
        Some(&ErrorCode::Other("lease_currently_held".into()))
    );
    assert_eq!(err.attempts(), Some(1));
    start.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_fly_asks_for() {
    let server = MockServer::start_async().await;
    let throttled = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_rate_limited(3).into_inner().up_to_n_times(1);
    });
    let ok = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started"));
    });
    let clock = ManualClock::auto_advance();
    let client = Client::builder()
        .test_server(server.base_url())
        .clock(clock.clone())
        .build()
        .unwrap();
    let got = client.app(APP).machine(MACHINE).get().await.unwrap();
    assert_eq!(got.state.as_deref(), Some("started"));
    throttled.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried_and_the_last_one_is_reported() {
    let server = MockServer::start_async().await;
    let unavailable = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_server_error(ServerError::Unavailable);
    });
    let client = Client::builder()
        .test_server(server.base_url())
        .build()
        .unwrap();
    let err = client.app(APP).machine(MACHINE).get().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    let attempts = err.attempts().unwrap();
    assert!(attempts > 1, "a GET is safe to repeat: {err}");
    unavailable.assert_calls_async(attempts as usize).await;
}

fn client_for(server: &MockServer) -> Client {
    Client::builder()
        .test_server(server.base_url())
        .clock(ManualClock::auto_advance())
        .build()
        .unwrap()
}

fn config() -> types::MachineConfig {
    types::MachineConfig {
        image: Some("registry.fly.io/web:1".into()),
        ..Default::default()
    }
}

/// Code under test: creates the machine in the first of `regions` with room for it.
async fn create_where_there_is_room(
    app: &App,
    regions: &[&str],
) -> fly_machines::Result<MachineSnapshot> {
    let mut last = None;
    for region in regions {
        match app.machines().create(config()).region(*region).await {
            Ok(machine) => return Ok(machine),
            Err(e) if e.is_capacity() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one region"))
}

#[tokio::test]
async fn a_region_without_capacity_falls_back_to_the_next() {
    let server = MockServer::start_async().await;
    let full = server.machines_create(|when, then| {
        when.app_name(APP)
            .region("ord")
            .image("registry.fly.io/web:1");
        then.fly_insufficient_capacity();
    });
    let room = server.machines_create(|when, then| {
        when.app_name(APP).region("ams");
        then.ok(&types::Machine {
            region: Some("ams".into()),
            ..machine("created")
        });
    });
    let client = client_for(&server);
    let made = create_where_there_is_room(&client.app(APP), &["ord", "ams"])
        .await
        .unwrap();
    assert_eq!(made.data().region.as_deref(), Some("ams"));
    // A capacity answer to a create is final: it is not sent again to the full region.
    full.assert_calls_async(1).await;
    room.assert_calls_async(1).await;
}

#[tokio::test]
async fn no_region_with_room_is_a_capacity_error() {
    let server = MockServer::start_async().await;
    server.machines_create(|when, then| {
        when.app_name(APP);
        then.fly_insufficient_capacity();
    });
    let client = client_for(&server);
    let err = create_where_there_is_room(&client.app(APP), &["ord", "ams"])
        .await
        .unwrap_err();
    assert!(err.is_capacity(), "{err}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some(&ErrorCode::InsufficientCapacity));
}

/// Checks that `err` carries `code` and that the predicate made for it holds.
fn assert_code(err: &Error, code: ErrorCode, predicate: fn(&Error) -> bool) {
    assert_eq!(err.code(), Some(&code), "{err}");
    assert!(predicate(err), "{code:?}: {err}");
}

#[tokio::test]
async fn every_coded_error_answer_decodes_into_the_sdk_s_error_with_its_code() {
    let server = MockServer::start_async().await;
    server.volumes_create(|when, then| {
        when.app_name(APP).name("data");
        then.fly_volume_placement_capacity();
    });
    server.apps_create(|when, then| {
        when.name("taken");
        then.fly_name_taken();
    });
    server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_not_found_coded("machine not found");
    });
    server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_precondition_failed("unable to start machine from current state: 'replacing'");
    });
    server.machines_list(|when, then| {
        when.app_name(APP);
        then.fly_invalid_argument("invalid value for state");
    });
    server.machines_create(|when, then| {
        when.app_name(APP).name("mystery");
        then.fly_unknown("could not create machine");
    });
    let client = client_for(&server);
    let app = client.app(APP);

    let err = app.volumes().create("data", "ord", 1).await.unwrap_err();
    assert_code(&err, ErrorCode::VolumePlacementCapacity, Error::is_capacity);
    let err = client.apps().create("taken", "personal").await.unwrap_err();
    assert_code(&err, ErrorCode::NameTaken, Error::is_name_taken);
    let err = app.machine(MACHINE).get().await.unwrap_err();
    assert_code(&err, ErrorCode::NotFound, Error::is_not_found);
    let err = app.machine(MACHINE).start().await.unwrap_err();
    assert_code(
        &err,
        ErrorCode::FailedPrecondition,
        Error::is_precondition_failed,
    );
    let err = app.machines().list().await.unwrap_err();
    assert_code(&err, ErrorCode::InvalidArgument, Error::is_invalid_argument);
    let err = app
        .machines()
        .create(config())
        .name("mystery")
        .await
        .unwrap_err();
    assert_code(&err, ErrorCode::Unknown, |e| {
        e.code().is_some_and(ErrorCode::is_unknown)
    });
}

#[tokio::test]
async fn a_lease_mock_answers_the_lease_the_client_returns() {
    let server = MockServer::start_async().await;
    let lease = types::Lease {
        nonce: Some("5c35f65c9f95".into()),
        owner: Some("deploy@example.com".into()),
        ..Default::default()
    };
    server.machines_current_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&lease);
    });
    let client = client_for(&server);
    let current = client
        .app(APP)
        .machine(MACHINE)
        .current_lease()
        .await
        .unwrap();
    assert_eq!(current, Some(lease));
}
