//! Auth, rate limits, fault injection and the request log.

use std::time::Duration;

use crate::common::*;
use fly_machines_api::OperationId;
use fly_machines_sim::{FaultKind, Faults, Limit, RateLimits, Sim};
use serde_json::json;

#[tokio::test]
async fn auth_accepts_bearer_and_flyv1_and_rejects_the_rest() {
    let sim = start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/apps", sim.base_url());
    let send = |auth: Option<&'static str>| {
        let mut req = client.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    assert_eq!(send(Some("Bearer test-token")).await.unwrap().status(), 200);
    assert_eq!(send(Some("FlyV1 test-token")).await.unwrap().status(), 200);
    assert_eq!(
        send(Some("FlyV1 fm2_other,test-token"))
            .await
            .unwrap()
            .status(),
        200
    );
    for bad in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some("test-token"),
    ] {
        let resp = send(bad).await.unwrap();
        assert_eq!(resp.status(), 401, "{bad:?}");
        assert!(resp.headers().contains_key("fly-request-id"));
        let body: fly_machines_sim::types::ErrorResponse = resp.json().await.unwrap();
        assert_eq!(body.status.unwrap().0, "unauthorized");
        assert!(body.error.is_some());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn accept_any_token_turns_auth_off() {
    let sim = Sim::builder().accept_any_token().start().await.unwrap();
    let resp = reqwest::get(format!("{}/apps", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_follow_fly_defaults_per_action_and_machine() {
    let sim = manual()
        .rate_limits(RateLimits::fly())
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    // Create Machine: per app, burst 3.
    http.app("a").await;
    http.app("b").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(http.machine_id("a", json!({})).await);
    }
    let limited = http
        .post("/apps/a/machines", json!({ "config": { "image": "x" } }))
        .await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["status"], "resource_exhausted");
    assert_eq!(limited.headers["retry-after"], "1");
    // Another app has its own bucket.
    http.machine("b", json!({})).await;
    // One second refills one token.
    sim.advance(Duration::from_secs(1));
    http.machine("a", json!({})).await;

    // Get Machine: 5/s, burst 10, per machine.
    let id = &ids[0];
    for _ in 0..10 {
        assert_eq!(
            http.get(&format!("/apps/a/machines/{id}")).await.status,
            200
        );
    }
    assert_eq!(
        http.get(&format!("/apps/a/machines/{id}")).await.status,
        429
    );
    assert_eq!(
        http.get(&format!("/apps/a/machines/{}", ids[1]))
            .await
            .status,
        200
    );
    sim.advance(Duration::from_millis(200));
    assert_eq!(
        http.get(&format!("/apps/a/machines/{id}")).await.status,
        200
    );

    // Tunable at run time.
    sim.set_rate_limits(RateLimits::fly().with_get_machine(Limit::new(1.0, 1)));
    assert_eq!(
        http.get(&format!("/apps/a/machines/{id}")).await.status,
        200
    );
    let slow = http.get(&format!("/apps/a/machines/{id}")).await;
    assert_eq!(slow.status, 429);
    sim.set_rate_limits(RateLimits::off());
    for _ in 0..20 {
        assert_eq!(
            http.get(&format!("/apps/a/machines/{id}")).await.status,
            200
        );
    }
    let r429 = sim.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(r429, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn request_log_records_method_path_status_nonce_and_time() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    sim.advance(Duration::from_secs(3));
    http.post_nonce(&format!("/apps/a/machines/{id}/stop"), None, "n1")
        .await;
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/v1/apps");
    assert_eq!(log[0].operation, Some("Apps_create"));
    assert_eq!(log[0].status, 201);
    assert_eq!(log[2].operation, Some("Machines_stop"));
    assert_eq!(log[2].lease_nonce.as_deref(), Some("n1"));
    assert_eq!(
        log[2].at.duration_since(log[0].at).unwrap(),
        Duration::from_secs(3)
    );
    assert!(log.iter().all(|r| r.request_id.len() > 26));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

async fn statuses_with_faults(seed: u64) -> Vec<u16> {
    let sim = manual()
        .faults(
            Faults::seeded(seed)
                .error_rate(0.5)
                .only_operations([OperationId::AppsList]),
        )
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(http.get("/apps").await.status);
    }
    // Operations outside the filter are untouched.
    for _ in 0..10 {
        assert_eq!(http.get("/platform/regions").await.status, 200);
    }
    assert!(
        sim.requests()
            .iter()
            .filter(|r| r.status >= 500)
            .all(|r| r.fault == Some(FaultKind::ServerError))
    );
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn server_errors_are_seeded_and_reproducible() {
    let a = statuses_with_faults(42).await;
    let b = statuses_with_faults(42).await;
    let c = statuses_with_faults(43).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let errors: Vec<_> = a.iter().filter(|s| **s != 200).collect();
    assert!(errors.len() > 5 && errors.len() < 35, "{a:?}");
    assert!(errors.iter().all(|s| [500, 502, 503].contains(s)));
}

#[tokio::test]
async fn dropped_connections_close_without_an_answer() {
    let sim = start().await;
    sim.set_faults(
        Faults::seeded(1)
            .drop_rate(1.0)
            .only_operations([OperationId::AppsList]),
    );
    let http = Http::new(&sim);
    let err = http
        .client
        .get(format!("{}/apps", http.base))
        .bearer_auth(&http.token)
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    let log = sim.requests();
    assert_eq!(log[0].status, 0);
    assert_eq!(log[0].fault, Some(FaultKind::Dropped));
    sim.set_faults(Faults::none());
    assert_eq!(http.get("/apps").await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn new_machines_are_invisible_for_a_window_and_destroyed_ones_linger() {
    let sim = start().await;
    sim.set_faults(
        Faults::seeded(1)
            .not_found_after_create(Duration::from_secs(2))
            .destroyed_visible_for(Duration::from_secs(3)),
    );
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    let path = format!("/apps/a/machines/{id}");
    assert_eq!(http.get(&path).await.status, 404);
    assert_eq!(
        http.get(&format!("{path}/wait?timeout=1")).await.status,
        404
    );
    assert!(
        http.get("/apps/a/machines")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(sim.machine_count("a"), 1, "the handle sees it");
    sim.advance(Duration::from_secs(2));
    assert_eq!(http.state("a", &id).await, "started");

    http.delete(&format!("{path}?force=true")).await;
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "destroyed");
    sim.advance(Duration::from_secs(3));
    assert_eq!(http.get(&path).await.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn ambiguous_creates_create_the_machine_but_answer_an_error() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    sim.set_faults(
        Faults::seeded(9)
            .ambiguous_create_rate(1.0)
            .ambiguous_statuses([408]),
    );
    // An app create takes effect and answers the error too.
    let app = http
        .post("/apps", json!({ "name": "b", "org_slug": "personal" }))
        .await;
    assert_eq!(app.status, 408);
    assert!(sim.apps().contains(&"b".to_string()), "{:?}", sim.apps());
    let a = http
        .post(
            "/apps/a/machines",
            json!({ "config": { "image": "x", "metadata": { "launch": "L1" } } }),
        )
        .await;
    assert_eq!(a.status, 408);
    assert_eq!(a.body["status"], "deadline_exceeded");
    assert_eq!(sim.machine_count("a"), 1);
    // The idempotent-create recipe finds it by metadata.
    let found = http.get("/apps/a/machines?metadata.launch=L1").await;
    assert_eq!(found.body.as_array().unwrap().len(), 1);
    assert_eq!(sim.requests().last().unwrap().fault, None);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.fault == Some(FaultKind::AmbiguousCreate) && r.status == 408)
    );

    sim.set_faults(Faults::seeded(9).ambiguous_create_rate(1.0));
    let b = http
        .post("/apps/a/machines", json!({ "config": { "image": "x" } }))
        .await;
    assert!([408, 500, 502, 503].contains(&b.status));
    assert_eq!(sim.machine_count("a"), 2);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn latency_is_added_on_tokio_time() {
    let sim = start().await;
    sim.set_faults(Faults::seeded(3).latency(Duration::from_secs(2), Duration::ZERO));
    let http = Http::new(&sim);
    let before = tokio::time::Instant::now();
    assert_eq!(http.get("/apps").await.status, 200);
    assert!(before.elapsed() >= Duration::from_secs(2));
    assert_eq!(sim.requests()[0].fault, Some(FaultKind::Latency));
    sim.shutdown().await;
}

/// Regions out of capacity refuse machine and volume creates with Fly's capacity error and
/// make nothing; other regions are served; the request log names the fault.
#[tokio::test]
async fn creates_in_a_region_without_capacity_answer_the_capacity_error() {
    let sim = manual()
        .faults(Faults::seeded(1).capacity_regions(["ord"]))
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    http.app("cap").await;
    let refused = http
        .post(
            "/apps/cap/machines",
            json!({ "region": "ord", "config": { "image": "nginx:1.27" } }),
        )
        .await;
    assert_eq!(refused.status, 412, "{}", refused.text);
    assert_eq!(refused.body["status"], "insufficient_capacity");
    let volume = http
        .post(
            "/apps/cap/volumes",
            json!({ "name": "data", "region": "ord", "size_gb": 1 }),
        )
        .await;
    assert_eq!(volume.status, 412, "{}", volume.text);
    assert_eq!(volume.body["status"], "insufficient_capacity");
    assert_eq!(http.get("/apps/cap/machines").await.body, json!([]));
    assert_eq!(http.get("/apps/cap/volumes").await.body, json!([]));
    let elsewhere = http
        .post(
            "/apps/cap/machines",
            json!({ "region": "iad", "config": { "image": "nginx:1.27" } }),
        )
        .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    let log = sim.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.fault == Some(FaultKind::Capacity))
            .count(),
        2
    );
    sim.shutdown().await;
}

/// A seeded capacity rate refuses about that share of creates, the same ones on every run.
#[tokio::test]
async fn a_capacity_rate_is_seeded() {
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let sim = manual()
            .faults(Faults::seeded(9).capacity_rate(0.5))
            .start()
            .await
            .unwrap();
        let http = Http::new(&sim);
        http.app("cap").await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let a = http
                .post(
                    "/apps/cap/machines",
                    json!({ "config": { "image": "nginx:1.27" } }),
                )
                .await;
            statuses.push(a.status);
        }
        sim.shutdown().await;
        outcomes.push(statuses);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let refused = outcomes[0].iter().filter(|s| **s == 412).count();
    assert!((4..=16).contains(&refused), "{refused}");
}

/// The token endpoints that answer text (`/tokens/kms`, `/tokens/oidc`) refuse in text too, as
/// the document declares, while every other endpoint keeps Fly's JSON error shape.
#[tokio::test]
async fn text_endpoints_refuse_in_text() {
    let sim = start().await;
    let anonymous = reqwest::Client::new();
    for path in ["/tokens/kms", "/tokens/oidc"] {
        let answer = anonymous
            .post(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/plain"),
            "{path}: {content_type}"
        );
        let text = answer.text().await.unwrap();
        assert!(text.contains("authenticated"), "{path}: {text}");
        assert!(!text.starts_with('{'), "{path}: {text}");
    }
    let json = anonymous
        .get(format!("{}/apps/a", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    assert!(
        json.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    sim.shutdown().await;
}
