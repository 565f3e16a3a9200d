//! App creates with `idempotency_key`: a repeat answers the first app, a key reused for
//! another name is refused, and names stay unique without a key.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn a_repeat_with_the_same_key_and_name_answers_the_same_app() {
    let sim = start().await;
    let http = Http::new(&sim);
    let body = json!({ "name": "payments", "org_slug": "personal", "idempotency_key": "k-1" });
    let first = http.post("/apps", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    sim.advance(STEP);

    let repeat = http.post("/apps", body).await;
    assert_eq!(repeat.status, 201, "{}", repeat.text);
    assert_eq!(repeat.body["id"], first.body["id"]);
    assert_eq!(repeat.body["created_at"], first.body["created_at"]);

    // The key alone (no name) also finds the app.
    let nameless = http
        .post("/apps", json!({ "idempotency_key": "k-1" }))
        .await;
    assert_eq!(nameless.status, 201, "{}", nameless.text);
    assert_eq!(nameless.body["id"], first.body["id"]);

    let apps = http.get("/apps?org_slug=personal").await;
    assert_eq!(apps.body["total_apps"], 1, "no duplicate was created");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_reused_for_another_name_is_refused() {
    let sim = start().await;
    let http = Http::new(&sim);
    let first = http
        .post(
            "/apps",
            json!({ "name": "one", "idempotency_key": "shared" }),
        )
        .await;
    assert_eq!(first.status, 201);

    let other = http
        .post(
            "/apps",
            json!({ "name": "two", "idempotency_key": "shared" }),
        )
        .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.body["status"], "idempotency_key_reused");
    let message = other.body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("one") && message.contains("two"),
        "{message}"
    );
    assert_eq!(
        http.get("/apps/two").await.status,
        404,
        "nothing was created"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn without_a_key_a_taken_name_is_name_taken() {
    let sim = start().await;
    let http = Http::new(&sim);
    let first = http
        .post("/apps", json!({ "name": "taken", "idempotency_key": "a" }))
        .await;
    assert_eq!(first.status, 201);

    let plain = http.post("/apps", json!({ "name": "taken" })).await;
    assert_eq!(plain.status, 422);
    assert_eq!(plain.body["status"], "name_taken");

    // A different key does not make a taken name free either.
    let other_key = http
        .post("/apps", json!({ "name": "taken", "idempotency_key": "b" }))
        .await;
    assert_eq!(other_key.status, 422);
    assert_eq!(other_key.body["status"], "name_taken");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_is_forgotten_with_its_app_and_bad_keys_are_refused() {
    let sim = start().await;
    let http = Http::new(&sim);
    let body = json!({ "name": "short-lived", "idempotency_key": "again" });
    let first = http.post("/apps", body.clone()).await;
    assert_eq!(first.status, 201);
    assert_eq!(http.delete("/apps/short-lived").await.status, 202);

    let second = http.post("/apps", body).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_ne!(
        second.body["id"], first.body["id"],
        "a new app, not the deleted one"
    );

    let long = http
        .post(
            "/apps",
            json!({ "name": "x", "idempotency_key": "k".repeat(257) }),
        )
        .await;
    assert_eq!(long.status, 400);
    assert!(
        long.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("idempotency_key")
    );
    let unknown = http
        .post("/apps", json!({ "idempotency_key": "never-used" }))
        .await;
    assert_eq!(unknown.status, 400, "a new key still needs a name");
    sim.shutdown().await;
}
