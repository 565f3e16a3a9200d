//! The `Client` against `fly-machines-httpmock`'s typed mocks and their error answers, set up with
//! `ClientBuilder::test_server`.

use std::time::Duration;

use fly_machines::{Client, ErrorCode, ManualClock, types};
use fly_machines_httpmock::{FlyErrors, LeaseHeld, MockServerExt, ServerError};
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
