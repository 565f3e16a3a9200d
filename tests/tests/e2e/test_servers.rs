//! `server.client()` from `fly_machines::testing::TestServer`: one line from a running emulator
//! or an `httpmock::MockServer` to a working client.

use fly_machines::testing::{TEST_TOKEN, TestServer};
use fly_machines_httpmock::MockServerExt;
use httpmock::MockServer;

#[tokio::test]
async fn an_emulator_gives_a_client_with_its_address_and_token() {
    let sim = fly_machines_sim::Sim::builder()
        .token("only-this-token")
        .start()
        .await
        .unwrap();
    let client = sim.client();
    assert_eq!(client.base_url(), sim.base_url());

    // The emulator refuses any other token, so a created app proves the token went along.
    client
        .apps()
        .create("test-servers-app", "personal")
        .send()
        .await
        .unwrap();
    assert_eq!(sim.apps(), ["test-servers-app"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_mock_server_gives_a_client_with_test_settings() {
    let server = MockServer::start_async().await;
    let show = server.apps_get(|when, then| {
        let when = when.app_name("mocked-app").into_inner();
        when.header("authorization", format!("Bearer {TEST_TOKEN}"));
        then.ok(&fly_machines::types::App {
            name: Some("mocked-app".into()),
            ..Default::default()
        });
    });
    let app = server.client().app("mocked-app").get().await.unwrap();
    assert_eq!(app.name.as_deref(), Some("mocked-app"));
    show.assert_async().await;
}

/// Without a token, an emulator is started and the client points at it; with one, the client
/// points at the API named by the environment and no emulator runs.
#[tokio::test]
async fn from_env_or_emulator_picks_by_the_token() {
    let local = fly_machines::Client::from_env_or_emulator_with(|_| None)
        .await
        .unwrap();
    let sim = local.emulator().expect("an emulator started").base_url();
    assert_eq!(local.client.base_url(), sim);
    local
        .client
        .apps()
        .create("from-env-or-emulator", "personal")
        .send()
        .await
        .unwrap();
    local.shutdown().await;

    let fly = fly_machines::Client::from_env_or_emulator_with(|name| match name {
        "FLY_API_TOKEN" => Some("fo1_token".into()),
        "FLY_API_HOSTNAME" => Some("http://127.0.0.1:4999".into()),
        _ => None,
    })
    .await
    .unwrap();
    assert!(fly.emulator().is_none());
    assert_eq!(fly.client.base_url(), "http://127.0.0.1:4999/v1");
}

/// The emulator's capacity fault reaches the client as `is_capacity()`, so region fallback can
/// be tested without mocks: the first region refuses, the next one takes the machine.
#[tokio::test]
async fn region_fallback_on_the_emulators_capacity_fault() {
    let sim = fly_machines_sim::Sim::builder()
        .faults(fly_machines_sim::Faults::seeded(1).capacity_regions(["ord"]))
        .start()
        .await
        .unwrap();
    let client = sim.client();
    client
        .apps()
        .ensure("fallback", "personal")
        .send()
        .await
        .unwrap();
    let app = client.app("fallback");
    let config = fly_machines::types::MachineConfig {
        image: Some("nginx:1.27".into()),
        ..Default::default()
    };
    let mut placed = None;
    let mut refused = Vec::new();
    for region in ["ord", "iad"] {
        match app.machines().create(config.clone()).region(region).await {
            Ok(m) => {
                placed = Some(m.region().to_string());
                break;
            }
            Err(e) if e.is_capacity() => refused.push(region),
            Err(e) => panic!("{region}: {e}"),
        }
    }
    assert_eq!(refused, ["ord"]);
    assert_eq!(placed.as_deref(), Some("iad"));
    assert_eq!(app.machines().list().await.unwrap().len(), 1);
    sim.shutdown().await;
}
