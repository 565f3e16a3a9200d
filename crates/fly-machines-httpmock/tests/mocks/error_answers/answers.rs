//! Success answers take what the client returns and go on the wire inside Fly's envelope; the
//! new error answers carry Fly's status and code.

use fly_machines_api::{reqwest, types};
use fly_machines_httpmock::{Capacity, FlyErrors, MockServerExt, NotFound, Unprocessable};
use httpmock::MockServer;
use serde_json::json;

use super::{APP, MACHINE, send};

fn lease() -> types::Lease {
    types::Lease {
        nonce: Some("5c35f65c9f95".into()),
        owner: Some("deploy@example.com".into()),
        expires_at: Some(1_708_569_778),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_lease_answer_is_the_lease_inside_its_envelope() {
    let server = MockServer::start_async().await;
    let current = server.machines_current_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&lease());
    });
    let taken = server.machines_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.created(&lease());
    });
    let raw = fly_machines_httpmock::raw_client(&server);
    let shown = raw.machines_show_lease(APP, MACHINE).await.unwrap();
    assert_eq!(shown.into_inner().data, Some(lease()));
    let body = types::CreateLeaseRequest {
        ttl: Some(30),
        ..Default::default()
    };
    let created = raw
        .machines_create_lease(APP, MACHINE, None, &body)
        .await
        .unwrap();
    assert_eq!(created.into_inner().data, Some(lease()));
    current.assert_calls_async(1).await;
    taken.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_page_answer_is_the_items_and_the_next_cursor() {
    let server = MockServer::start_async().await;
    let app = |name: &str| types::App {
        name: Some(name.into()),
        ..Default::default()
    };
    server.apps_list(|when, then| {
        when.org_slug("personal").cursor(None);
        then.ok_page(&[app("shop"), app("blog")], Some("c-2"));
    });
    server.apps_list(|when, then| {
        when.org_slug("personal").cursor("c-2");
        then.ok(&[app("wiki")]);
    });
    let raw = fly_machines_httpmock::raw_client(&server);
    let first = raw
        .apps_list(None, None, None, "personal")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.apps, Some(vec![app("shop"), app("blog")]));
    assert_eq!(first.next_cursor.as_deref(), Some("c-2"));
    let last = raw
        .apps_list(None, Some("c-2"), None, "personal")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(last.apps, Some(vec![app("wiki")]));
    assert_eq!(last.next_cursor, None);
}

#[tokio::test]
async fn org_lists_metadata_values_and_postgres_answers_are_unwrapped_too() {
    let server = MockServer::start_async().await;
    let machine = types::OrgMachine {
        id: Some(MACHINE.into()),
        ..Default::default()
    };
    server.orgs_machines(|when, then| {
        when.org_slug("personal");
        then.ok(std::slice::from_ref(&machine));
    });
    server.metadata_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE).key("role");
        then.ok("web");
    });
    let cluster = types::PostgresCluster {
        id: Some("pg-1".into()),
        ..Default::default()
    };
    server.postgres_get(|when, then| {
        when.postgres_cluster_id("pg-1");
        then.ok(&cluster);
    });
    let raw = fly_machines_httpmock::raw_client(&server);
    let org = raw
        .machines_org_list("personal", None, None, None, None, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(org.machines, Some(vec![machine]));
    let value = raw
        .machines_get_metadata_key(APP, MACHINE, "role")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(value.value.as_deref(), Some("web"));
    let shown = raw.postgres_show("pg-1").await.unwrap().into_inner();
    assert_eq!(shown.data, Some(cluster));
}

#[tokio::test]
async fn the_wire_form_stays_available_as_envelope() {
    let server = MockServer::start_async().await;
    server.machines_current_lease(|when, then| {
        when.app_name(APP);
        then.ok_envelope(&types::LeaseEnvelope {
            status: Some("success".into()),
            data: Some(lease()),
            ..Default::default()
        });
    });
    let raw = fly_machines_httpmock::raw_client(&server);
    let envelope = raw
        .machines_show_lease(APP, MACHINE)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(envelope.status.as_deref(), Some("success"));
    assert_eq!(envelope.data, Some(lease()));
}

#[tokio::test]
async fn coded_error_answers_carry_fly_s_status_and_code() {
    let server = MockServer::start_async().await;
    let base = server.url("/v1/apps/my-app-name");
    server.machines_create(|when, then| {
        when.region("ord");
        then.fly_insufficient_capacity();
    });
    server.machines_start(|when, then| {
        when.machine_id(MACHINE);
        then.fly_volume_placement_capacity();
    });
    server.volumes_create(|_, then| {
        then.fly_name_taken();
    });
    server.machines_get(|when, then| {
        when.machine_id(MACHINE);
        then.fly_not_found_coded("machine not found");
    });
    server.machines_list(|_, then| {
        then.fly_invalid_argument("invalid state filter");
    });
    server.volumes_list(|_, then| {
        then.fly_unknown("something broke");
    });
    let post_ord = reqwest::Client::new()
        .post(format!("{base}/machines"))
        .body(json!({"region": "ord"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(post_ord.status().as_u16(), 503);
    let body: serde_json::Value = post_ord.json().await.unwrap();
    assert_eq!(body["status"], "insufficient_capacity");
    let cases = [
        (
            reqwest::Method::POST,
            format!("{base}/machines/{MACHINE}/start"),
            503,
            "volume_placement_capacity",
        ),
        (
            reqwest::Method::POST,
            format!("{base}/volumes"),
            422,
            "name_taken",
        ),
        (
            reqwest::Method::GET,
            format!("{base}/machines/{MACHINE}"),
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            format!("{base}/machines"),
            400,
            "invalid_argument",
        ),
        (
            reqwest::Method::GET,
            format!("{base}/volumes"),
            500,
            "unknown",
        ),
    ];
    for (method, url, status, code) in cases {
        let answer = send(method, url.clone()).await;
        assert_eq!(answer.status, status, "{url}");
        assert_eq!(answer.body["status"], code, "{url}");
        assert!(
            answer.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{url}"
        );
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/json"),
            "{url}"
        );
    }
}
