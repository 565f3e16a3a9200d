//! The typed mocks match our client's requests under any base path, and their error answers
//! carry the status, headers and body Fly sends.

use fly_machines_api::reqwest;
use fly_machines_httpmock::{
    FlyErrors, LeaseHeld, MockServerExt, NotFound, PreconditionFailed, ServerError, Unprocessable,
};
use httpmock::MockServer;
use serde_json::{Value, json};

mod answers;
mod matchers;

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";

/// What came back for one request: status, `Retry-After`, `content-type` and the JSON body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Value,
}

async fn send(method: reqwest::Method, url: String) -> Answer {
    let response = reqwest::Client::new()
        .request(method, url)
        .send()
        .await
        .expect("the mock server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (retry_after, content_type) = (header("retry-after"), header("content-type"));
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    Answer {
        status,
        retry_after,
        content_type,
        body,
    }
}

fn json_answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        retry_after: None,
        content_type: Some("application/json".into()),
        body,
    }
}

#[tokio::test]
async fn a_typed_mock_matches_under_any_base_path_but_only_its_own_path() {
    let server = MockServer::start_async().await;
    let start = server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&Default::default());
    });
    for base in ["", "/v1", "/proxy/v1"] {
        let url = server.url(format!("{base}/apps/{APP}/machines/{MACHINE}/start"));
        let response = reqwest::Client::new().post(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "base path {base:?}");
    }
    start.assert_calls_async(3).await;
    // Another machine, a longer path, another method: none of them is this mock's request.
    for (method, path) in [
        ("POST", format!("/v1/apps/{APP}/machines/{MACHINE}x/start")),
        (
            "POST",
            format!("/v1/apps/{APP}/machines/{MACHINE}/start/now"),
        ),
        ("GET", format!("/v1/apps/{APP}/machines/{MACHINE}/start")),
        ("POST", format!("/v1/apps/{APP}/machines/{MACHINE}/stop")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = reqwest::Client::new()
            .request(method, server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    start.assert_calls_async(3).await;
}

#[tokio::test]
async fn pinned_path_values_are_matched_literally() {
    let server = MockServer::start_async().await;
    // `.` would match any character if the value were pasted into the regex as it is.
    let show = server.apps_get(|when, then| {
        when.app_name("a.b");
        then.fly_not_found("Could not find App \"a.b\"");
    });
    let miss = reqwest::get(server.url("/v1/apps/axb")).await.unwrap();
    assert_eq!(miss.status().as_u16(), 404);
    show.assert_calls_async(0).await;
    let hit = send(reqwest::Method::GET, server.url("/v1/apps/a.b")).await;
    assert_eq!(
        hit,
        json_answer(404, json!({"error": "Could not find App \"a.b\""}))
    );
    show.assert_calls_async(1).await;
}

#[tokio::test]
async fn every_kind_of_error_answer_has_fly_s_status_and_body() {
    let server = MockServer::start_async().await;
    let machine = format!("/v1/apps/{APP}/machines/{MACHINE}");
    server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_lease_held();
    });
    server.machines_stop(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_precondition_failed("unable to stop machine from current state");
    });
    server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_not_found("machine not found");
    });
    server.apps_create(|_, then| {
        then.fly_unprocessable(
            "Validation failed: Name has already been taken",
            "name_taken",
        );
    });
    server.apps_list(|_, then| {
        then.fly_rate_limited(7);
    });
    server.machines_list(|when, then| {
        when.app_name(APP);
        then.fly_server_error(ServerError::Unavailable);
    });
    server.volumes_list(|when, then| {
        when.app_name(APP);
        then.fly_error(408, "timed out", Some("deadline_exceeded"));
    });

    use reqwest::Method;
    assert_eq!(
        send(Method::POST, server.url(format!("{machine}/start"))).await,
        json_answer(
            409,
            json!({
                "error": "machine is leased; supply the fly-machine-lease-nonce header of the current lease",
                "status": "lease_currently_held"
            })
        )
    );
    assert_eq!(
        send(Method::POST, server.url(format!("{machine}/stop"))).await,
        json_answer(
            412,
            json!({"error": "unable to stop machine from current state", "status": "failed_precondition"})
        )
    );
    assert_eq!(
        send(Method::GET, server.url(&machine)).await,
        json_answer(404, json!({"error": "machine not found"}))
    );
    assert_eq!(
        send(Method::POST, server.url("/v1/apps")).await,
        json_answer(
            422,
            json!({"error": "Validation failed: Name has already been taken", "status": "name_taken"})
        )
    );
    assert_eq!(
        send(Method::GET, server.url("/v1/apps")).await,
        Answer {
            retry_after: Some("7".into()),
            ..json_answer(
                429,
                json!({"error": "rate limit exceeded", "status": "resource_exhausted"})
            )
        }
    );
    assert_eq!(
        send(Method::GET, server.url(format!("/v1/apps/{APP}/machines"))).await,
        json_answer(503, json!({"error": "service unavailable"}))
    );
    assert_eq!(
        send(Method::GET, server.url(format!("/v1/apps/{APP}/volumes"))).await,
        json_answer(
            408,
            json!({"error": "timed out", "status": "deadline_exceeded"})
        )
    );
}

#[tokio::test]
async fn the_raw_client_from_raw_client_reaches_the_typed_mocks_and_decodes_their_errors() {
    let server = MockServer::start_async().await;
    let busy = server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_lease_held();
    });
    let missing = server.apps_get(|when, then| {
        when.app_name(APP);
        then.fly_not_found("Could not find App \"my-app-name\"");
    });
    let client = fly_machines_httpmock::raw_client(&server);
    let err = client.machines_start(APP, MACHINE, None).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    busy.assert_calls_async(1).await;
    // The document declares the 404, so the raw client decodes Fly's body into its type.
    match client.apps_show(APP).await.unwrap_err() {
        fly_machines_api::Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 404);
            assert_eq!(
                response.error.as_deref(),
                Some("Could not find App \"my-app-name\"")
            );
            assert_eq!(response.status, None);
        }
        other => panic!("expected the 404 answer, got {other:?}"),
    }
    missing.assert_calls_async(1).await;
}

#[test]
fn server_errors_are_5xx() {
    for error in [
        ServerError::Internal,
        ServerError::BadGateway,
        ServerError::Unavailable,
        ServerError::GatewayTimeout,
    ] {
        assert!((500..600).contains(&error.status()), "{error:?}");
    }
    assert_eq!(
        fly_machines_httpmock::error_body("gone", None),
        json!({"error": "gone"})
    );
}

#[tokio::test]
async fn postgres_errors_have_their_own_body_and_503_carries_retry_after() {
    use fly_machines_httpmock::PostgresErrors;
    let server = MockServer::start_async().await;
    let cluster = "kd8x9m2pq7w1l4ev";
    let unavailable = server.postgres_databases_list(|when, then| {
        when.postgres_cluster_id(cluster);
        then.postgres_unavailable(30);
    });
    let gone = server.postgres_delete(|when, then| {
        when.postgres_cluster_id(cluster);
        then.postgres_error(410, "This cluster has been deleted");
    });
    // On the wire: `{"error"}` only, and the Retry-After header with the 503.
    assert_eq!(
        send(
            reqwest::Method::GET,
            server.url(format!("/v1/postgres/{cluster}/databases"))
        )
        .await,
        Answer {
            status: 503,
            retry_after: Some("30".into()),
            content_type: Some("application/json".into()),
            body: json!({"error": "cluster is temporarily unavailable"}),
        }
    );
    unavailable.assert_calls_async(1).await;
    // Through the raw client: both statuses are declared, so the body arrives typed.
    let client = fly_machines_httpmock::raw_client(&server);
    match client.postgres_databases_list(cluster).await.unwrap_err() {
        fly_machines_api::Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 503);
            assert_eq!(response.headers()["retry-after"], "30");
            assert_eq!(
                response.error.as_deref(),
                Some("cluster is temporarily unavailable")
            );
        }
        other => panic!("expected the declared 503, got {other:?}"),
    }
    match client.postgres_delete(cluster).await.unwrap_err() {
        fly_machines_api::Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 410);
            assert_eq!(
                response.into_inner(),
                fly_machines_api::types::PostgresErrorResponse {
                    error: Some("This cluster has been deleted".into())
                }
            );
        }
        other => panic!("expected the declared 410, got {other:?}"),
    }
    gone.assert_calls_async(1).await;
}
