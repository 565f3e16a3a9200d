//! Each typed body matcher lets the request it describes through and keeps out one that differs
//! only in that field.

use fly_machines_api::reqwest;
use fly_machines_httpmock::MockServerExt;
use httpmock::{Mock, MockServer};
use serde_json::{Value, json};

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";

/// Sends `body` to `path` (under `/v1`) and returns the status.
async fn send(server: &MockServer, method: reqwest::Method, path: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .request(method, server.url(format!("/v1{path}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the mock server answers")
        .status()
        .as_u16()
}

/// `other` must not reach `mock` (httpmock answers 404 for a request no mock matches); `matching`
/// must, once.
async fn only_matching(
    server: &MockServer,
    mock: &Mock<'_>,
    (method, path): (reqwest::Method, &str),
    matching: Value,
    other: Value,
) {
    assert_eq!(
        send(server, method.clone(), path, &other).await,
        404,
        "{other}"
    );
    mock.assert_calls_async(0).await;
    let status = send(server, method, path, &matching).await;
    assert!((200..300).contains(&status), "{status} for {matching}");
    mock.assert_calls_async(1).await;
}

fn create_machine() -> (reqwest::Method, &'static str) {
    (reqwest::Method::POST, "/apps/my-app-name/machines")
}

fn update_machine() -> (reqwest::Method, &'static str) {
    (
        reqwest::Method::POST,
        "/apps/my-app-name/machines/3d8d413b29d089",
    )
}

fn machine_body(region: &str, name: &str, image: &str, volumes: &[&str], role: &str) -> Value {
    let mounts: Vec<Value> = volumes
        .iter()
        .map(|v| json!({"volume": v, "path": "/data"}))
        .collect();
    json!({
        "region": region,
        "name": name,
        "config": {"image": image, "mounts": mounts, "metadata": {"role": role, "tier": "free"}}
    })
}

#[tokio::test]
async fn machine_create_matches_region() {
    let server = MockServer::start_async().await;
    let mock = server.machines_create(|when, then| {
        when.app_name(APP).region("ord");
        then.ok(&Default::default());
    });
    let body = |region| machine_body(region, "web-1", "nginx:1", &["vol_a"], "web");
    only_matching(&server, &mock, create_machine(), body("ord"), body("ams")).await;
}

#[tokio::test]
async fn machine_create_matches_name() {
    let server = MockServer::start_async().await;
    let mock = server.machines_create(|when, then| {
        when.name("web-1");
        then.ok(&Default::default());
    });
    let body = |name| machine_body("ord", name, "nginx:1", &["vol_a"], "web");
    only_matching(
        &server,
        &mock,
        create_machine(),
        body("web-1"),
        body("web-2"),
    )
    .await;
}

#[tokio::test]
async fn machine_create_matches_the_image_in_the_config() {
    let server = MockServer::start_async().await;
    let mock = server.machines_create(|when, then| {
        when.image("nginx:1");
        then.ok(&Default::default());
    });
    let body = |image| machine_body("ord", "web-1", image, &["vol_a"], "web");
    only_matching(
        &server,
        &mock,
        create_machine(),
        body("nginx:1"),
        body("nginx:2"),
    )
    .await;
}

#[tokio::test]
async fn machine_create_matches_a_mounted_volume_in_any_position() {
    let server = MockServer::start_async().await;
    let mock = server.machines_create(|when, then| {
        when.mounts_volume("vol_b");
        then.ok(&Default::default());
    });
    let body = |volumes: &[&str]| machine_body("ord", "web-1", "nginx:1", volumes, "web");
    only_matching(
        &server,
        &mock,
        create_machine(),
        body(&["vol_a", "vol_b"]),
        body(&["vol_a", "vol_c"]),
    )
    .await;
}

#[tokio::test]
async fn machine_create_matches_one_metadata_entry() {
    let server = MockServer::start_async().await;
    let mock = server.machines_create(|when, then| {
        when.metadata("role", "web");
        then.ok(&Default::default());
    });
    let body = |role| machine_body("ord", "web-1", "nginx:1", &["vol_a"], role);
    only_matching(
        &server,
        &mock,
        create_machine(),
        body("web"),
        body("worker"),
    )
    .await;
}

#[tokio::test]
async fn machine_update_has_the_same_matchers() {
    let server = MockServer::start_async().await;
    let mock = server.machines_update(|when, then| {
        when.machine_id(MACHINE)
            .region("ord")
            .name("web-1")
            .image("nginx:2")
            .mounts_volume("vol_a")
            .metadata("tier", "free");
        then.ok(&Default::default());
    });
    let body = |image| machine_body("ord", "web-1", image, &["vol_a"], "web");
    only_matching(
        &server,
        &mock,
        update_machine(),
        body("nginx:2"),
        body("nginx:1"),
    )
    .await;
}

#[tokio::test]
async fn volume_create_matches_name_region_and_size() {
    let volumes = (reqwest::Method::POST, "/apps/my-app-name/volumes");
    let body = |name: &str, region: &str, size: i64| {
        let mut body = json!({"name": name, "region": region, "size_gb": size});
        body["encrypted"] = json!(true);
        body
    };
    let server = MockServer::start_async().await;
    let by_name = server.volumes_create(|when, then| {
        when.app_name(APP).name("data");
        then.ok(&Default::default());
    });
    only_matching(
        &server,
        &by_name,
        volumes.clone(),
        body("data", "ord", 1),
        body("logs", "ord", 1),
    )
    .await;
    let server = MockServer::start_async().await;
    let by_region = server.volumes_create(|when, then| {
        when.region("ams");
        then.ok(&Default::default());
    });
    only_matching(
        &server,
        &by_region,
        volumes.clone(),
        body("data", "ams", 1),
        body("data", "ord", 1),
    )
    .await;
    let server = MockServer::start_async().await;
    let by_size = server.volumes_create(|when, then| {
        when.size_gb(10);
        then.ok(&Default::default());
    });
    only_matching(
        &server,
        &by_size,
        volumes,
        body("data", "ord", 10),
        body("data", "ord", 1),
    )
    .await;
}

#[tokio::test]
async fn app_create_matches_name_and_org() {
    let apps = (reqwest::Method::POST, "/apps");
    let body = |name: &str, org: &str| json!({"app_name": name, "name": name, "org_slug": org});
    let server = MockServer::start_async().await;
    let by_name = server.apps_create(|when, then| {
        when.name("shop");
        then.created(&Default::default());
    });
    only_matching(
        &server,
        &by_name,
        apps.clone(),
        body("shop", "personal"),
        body("blog", "personal"),
    )
    .await;
    let server = MockServer::start_async().await;
    let by_org = server.apps_create(|when, then| {
        when.org_slug("acme");
        then.created(&Default::default());
    });
    only_matching(
        &server,
        &by_org,
        apps,
        body("shop", "acme"),
        body("shop", "personal"),
    )
    .await;
}

#[tokio::test]
async fn secrets_update_matches_the_names_it_sets() {
    let server = MockServer::start_async().await;
    let mock = server.secrets_update(|when, then| {
        when.app_name(APP).secret_name("DATABASE_URL");
        then.ok(&Default::default());
    });
    only_matching(
        &server,
        &mock,
        (reqwest::Method::POST, "/apps/my-app-name/secrets"),
        json!({"values": {"API_KEY": "k", "DATABASE_URL": "postgres://db"}}),
        json!({"values": {"API_KEY": "k"}}),
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_matches_no_typed_matcher() {
    let server = MockServer::start_async().await;
    let mock = server.secrets_update(|when, then| {
        when.secret_name("DATABASE_URL");
        then.ok(&Default::default());
    });
    let status = reqwest::Client::new()
        .post(server.url("/v1/apps/my-app-name/secrets"))
        .body("DATABASE_URL=x")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 404);
    mock.assert_calls_async(0).await;
}
