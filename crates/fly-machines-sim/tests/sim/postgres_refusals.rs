//! Managed Postgres under hostile input: every refusal is a 4xx `{error}` naming the problem,
//! nothing is changed by a refused request, and extreme durations saturate.

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Bodies that are wrong in shape or value.
fn hostile_bodies() -> Vec<Value> {
    vec![
        json!([]),
        json!("text"),
        json!(42),
        json!({ "name": ["a"], "username": { "x": 1 }, "role": 7, "type": false }),
        json!({ "org_slug": "personal", "plan": "basic", "region": "iad",
                "disk_size_gb": 1e300 }),
        json!({ "org_slug": "personal", "plan": "basic", "region": "iad",
                "disk_size_gb": i64::MAX }),
        json!({ "name": "n".repeat(10_000), "username": "ü", "role": "superuser" }),
        json!({ "backup_id": "x", "pitr_time": "9999-99-99T99:99:99Z" }),
        json!({ "pitr_time": "2025-01-01T00:00:00" }),
        json!({ "app_name": 3 }),
        json!({ "name": "citext!", "schema": "Bad Schema" }),
    ]
}

#[tokio::test]
async fn hostile_bodies_are_refused_by_name_and_change_nothing() {
    let sim = manual().start().await.expect("sim starts");
    let http = Http::new(&sim);
    let created = http
        .post(
            "/postgres",
            json!({ "org_slug": "personal", "plan": "basic", "region": "iad" }),
        )
        .await;
    let id = created.body["data"]["id"].as_str().unwrap().to_string();
    sim.advance(Duration::from_secs(2));
    let snapshot = |http: Http, id: String| async move {
        let mut seen = Vec::new();
        for path in [
            "",
            "/users",
            "/databases",
            "/backups",
            "/databases/fly-db/extensions",
        ] {
            seen.push(http.get(&format!("/postgres/{id}{path}")).await.text);
        }
        seen.push(http.get("/postgres?org_slug=personal").await.text);
        seen
    };
    let before = snapshot(http.clone(), id.clone()).await;
    let before_creds = http
        .get(&format!("/postgres/{id}/users/fly-user/credentials"))
        .await
        .text;

    let targets: Vec<(Method, String)> = vec![
        (Method::POST, "/postgres".to_string()),
        (Method::POST, format!("/postgres/{id}/attachments")),
        (Method::POST, format!("/postgres/{id}/backups")),
        (Method::POST, format!("/postgres/{id}/databases")),
        (
            Method::POST,
            format!("/postgres/{id}/databases/fly-db/extensions"),
        ),
        (Method::POST, format!("/postgres/{id}/restore")),
        (Method::POST, format!("/postgres/{id}/users")),
        (Method::PATCH, format!("/postgres/{id}/users/fly-user")),
    ];
    for (method, path) in &targets {
        for body in hostile_bodies() {
            let a = http
                .send(method.clone(), path, Some(body.clone()), None)
                .await;
            assert!(
                (400..500).contains(&a.status),
                "{method} {path} {body}: {}",
                a.text
            );
            let error = a.body["error"].as_str().unwrap_or_default();
            assert!(!error.is_empty(), "{method} {path}: {}", a.text);
        }
    }
    // Rotation takes any object; only its one field and the body's shape are checked.
    let rotate = format!("/postgres/{id}/users/fly-user/rotate_password");
    for body in [
        json!({ "kill_sessions": "true" }),
        json!({ "kill_sessions": 1 }),
        json!([1]),
    ] {
        let a = http.post(&rotate, body.clone()).await;
        assert!((400..500).contains(&a.status), "{body}: {}", a.text);
        assert!(a.body["error"].is_string(), "{}", a.text);
    }
    let creds = format!("/postgres/{id}/users/fly-user/credentials");
    assert_eq!(
        http.get(&creds).await.text,
        before_creds,
        "the password did not change"
    );

    let after = snapshot(http.clone(), id.clone()).await;
    let creds_before = &before[1];
    assert_eq!(&after[1], creds_before, "users unchanged");
    assert_eq!(after[2], before[2], "databases unchanged");
    assert_eq!(after[3], before[3], "no backup started");
    assert_eq!(after[4], before[4], "extensions unchanged");
    assert_eq!(after[5], before[5], "no cluster created");

    // Path parameters that cannot be names are refused too.
    for path in [
        format!("/postgres/{id}/users/%C3%BC/credentials"),
        format!("/postgres/{id}/databases/{}/extensions", "d".repeat(64)),
        format!("/postgres/{id}/databases/fly-db/extensions/%00"),
    ] {
        let a = http.get(&path).await;
        let a = if a.status == 405 {
            http.delete(&path).await
        } else {
            a
        };
        assert!((400..500).contains(&a.status), "{path}: {}", a.text);
        assert!(a.body["error"].is_string(), "{path}: {}", a.text);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_endless_provisioning_step_saturates() {
    let sim = manual()
        .postgres_step(Duration::MAX)
        .start()
        .await
        .expect("sim starts");
    let http = Http::new(&sim);
    let created = http
        .post(
            "/postgres",
            json!({ "org_slug": "personal", "plan": "basic", "region": "iad" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["data"]["id"].as_str().unwrap().to_string();
    // A century later the first phase has still not ended.
    sim.advance(Duration::from_secs(100 * 365 * 86_400));
    let shown = http.get(&format!("/postgres/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["data"]["status"], "creating", "{}", shown.text);
    let users = http.get(&format!("/postgres/{id}/users")).await;
    assert_eq!(users.status, 503);
    let retry: u64 = users.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    sim.shutdown().await;
}
