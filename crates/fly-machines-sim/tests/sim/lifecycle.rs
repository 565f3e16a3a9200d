//! Apps and the machine state machine, over raw HTTP.

use crate::common::*;
use fly_machines_sim::types;
use serde_json::json;

#[tokio::test]
async fn apps_are_unique_and_answer_fly_shapes() {
    let sim = start().await;
    let http = Http::new(&sim);
    let created = http
        .post("/apps", json!({ "name": "alpha", "org_slug": "acme" }))
        .await;
    assert_eq!(created.status, 201);
    let body: types::CreateAppResponse = serde_json::from_value(created.body).unwrap();
    assert!(body.id.is_some() && body.created_at.is_some());
    assert!(created.headers.contains_key("fly-request-id"));

    let dup = http.post("/apps", json!({ "name": "alpha" })).await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["status"], "name_taken");
    assert!(dup.body["error"].as_str().unwrap().contains("alpha"));

    // The docs' spelling of the field is accepted too.
    let legacy = http.post("/apps", json!({ "app_name": "beta" })).await;
    assert_eq!(legacy.status, 201);

    let list: types::ListAppsResponse =
        serde_json::from_value(http.get("/apps?org_slug=acme").await.body).unwrap();
    assert_eq!(list.total_apps, Some(1));
    let show: types::App = serde_json::from_value(http.get("/apps/alpha").await.body).unwrap();
    assert_eq!(show.organization.unwrap().slug.as_deref(), Some("acme"));

    assert_eq!(http.delete("/apps/alpha").await.status, 202);
    let gone = http.get("/apps/alpha").await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["status"], "not_found");
    sim.shutdown().await;
}

#[tokio::test]
async fn create_boots_through_created_and_starting() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m = http.machine("a", json!({ "region": "ams" })).await;
    let m: types::Machine = serde_json::from_value(m).unwrap();
    let id = m.id.unwrap();
    assert_eq!(m.state.as_deref(), Some("created"));
    assert_eq!(id.len(), 14);
    assert_eq!(m.instance_id.as_ref().unwrap().len(), 26);
    assert_eq!(m.region.as_deref(), Some("ams"));
    sim.advance(STEP);
    assert_eq!(http.state("a", &id).await, "starting");
    sim.advance(STEP);
    assert_eq!(http.state("a", &id).await, "started");

    // Events: one per state entered, newest first, ULID ids and millisecond timestamps.
    let events: Vec<types::MachineEvent> = serde_json::from_value(
        http.get(&format!("/apps/a/machines/{id}/events"))
            .await
            .body,
    )
    .unwrap();
    let statuses: Vec<_> = events.iter().map(|e| e.status.clone().unwrap()).collect();
    assert_eq!(statuses, ["started", "starting", "created"]);
    assert!(events.iter().all(|e| e.id.as_ref().unwrap().len() == 26));
    let t0 = fly_machines_sim::MANUAL_EPOCH_MS as i64;
    assert_eq!(events[2].timestamp, Some(t0));
    assert_eq!(events[0].timestamp, Some(t0 + 200));
    assert_eq!(events[0].source.as_deref(), Some("flyd"));
    assert_eq!(events[2].source.as_deref(), Some("user"));

    let skip = http.machine("a", json!({ "skip_launch": true })).await;
    settle(&sim);
    assert_eq!(
        http.state("a", skip["id"].as_str().unwrap()).await,
        "created"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn lifecycle_calls_follow_the_state_machine() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    let path = |p: &str| format!("/apps/a/machines/{id}{p}");

    // Start while still launching: 412.
    let early = http.post_empty(&path("/start")).await;
    assert_eq!(early.status, 412);
    assert_eq!(early.body["status"], "failed_precondition");
    settle(&sim);

    // Start from started: 412 with Fly's wording.
    let again = http.post_empty(&path("/start")).await;
    assert_eq!(again.status, 412);
    assert!(
        again
            .text
            .contains("unable to start machine from current state started")
    );

    // Stop with a body, then start: previous_state reported.
    let stop = http
        .post(
            &path("/stop"),
            json!({ "signal": "SIGTERM", "timeout": "10s" }),
        )
        .await;
    assert_eq!(stop.status, 200);
    assert_eq!(http.state("a", &id).await, "stopping");
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "stopped");
    let start = http.post_empty(&path("/start")).await;
    assert_eq!(start.status, 200);
    let start: types::StartMachineResponse = serde_json::from_value(start.body).unwrap();
    assert_eq!(start.previous_state.as_deref(), Some("stopped"));
    settle(&sim);

    // Suspend and resume.
    assert_eq!(http.post_empty(&path("/suspend")).await.status, 200);
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "suspended");
    let resumed = http.post_empty(&path("/start")).await;
    assert_eq!(resumed.body["previous_state"], "suspended");
    settle(&sim);

    // Restart goes through restarting.
    assert_eq!(
        http.post_empty(&path("/restart?signal=SIGINT&timeout=5s"))
            .await
            .status,
        200
    );
    assert_eq!(http.state("a", &id).await, "restarting");
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "started");

    // A bad stop body answers 400 naming the problem.
    let bad = http
        .post(&path("/stop"), json!({ "signal": "SIGNOPE" }))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("SIGNOPE"), "{}", bad.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_creates_a_version_and_replaces_the_old_one() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let first = http.machine("a", json!({})).await;
    let id = first["id"].as_str().unwrap().to_string();
    let v1 = first["instance_id"].as_str().unwrap().to_string();
    settle(&sim);

    let upd = http
        .post(
            &format!("/apps/a/machines/{id}"),
            json!({ "config": { "image": "nginx:1.28" }, "current_version": v1 }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    let v2 = upd.body["instance_id"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    assert_eq!(upd.body["state"], "replacing");
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "started");

    let versions: Vec<types::MachineVersion> = serde_json::from_value(
        http.get(&format!("/apps/a/machines/{id}/versions"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version.as_deref(), Some(v2.as_str()));
    assert_eq!(
        versions[0].user_config.as_ref().unwrap().image.as_deref(),
        Some("nginx:1.28")
    );

    // The old version is replaced: waiting on it is refused.
    let stale = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?version={v1}&timeout=1"
        ))
        .await;
    assert_eq!(stale.status, 400);
    assert!(stale.text.contains("replaced"));

    // A stale current_version is a conflict.
    let conflict = http
        .post(
            &format!("/apps/a/machines/{id}"),
            json!({ "config": { "image": "nginx:1.29" }, "current_version": v1 }),
        )
        .await;
    assert_eq!(conflict.status, 409);
    // ... and it changed nothing: same version, same config.
    let now = http.get(&format!("/apps/a/machines/{id}")).await;
    assert_eq!(now.body["version"], v2.as_str());
    assert_eq!(now.body["instance_id"], v2.as_str());
    assert_eq!(now.body["config"]["image"], "nginx:1.28");
    // An earlier version is still there to read, and an unknown one is a 404.
    let old = http
        .get(&format!("/apps/a/machines/{id}?version={v1}"))
        .await;
    assert_eq!(old.status, 200, "{}", old.text);
    assert_eq!(old.body["version"], v1.as_str());
    assert_ne!(old.body["config"]["image"], "nginx:1.28");
    let unknown = http
        .get(&format!(
            "/apps/a/machines/{id}?version=01ZZZZZZZZZZZZZZZZZZZZZZZZ"
        ))
        .await;
    assert_eq!(unknown.status, 404);

    // Updating a stopped machine leaves it stopped.
    http.post_empty(&format!("/apps/a/machines/{id}/stop"))
        .await;
    settle(&sim);
    http.post(
        &format!("/apps/a/machines/{id}"),
        json!({ "config": { "image": "nginx:1.30" } }),
    )
    .await;
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "stopped");

    // A missing config is a 400.
    let empty = http
        .post(&format!("/apps/a/machines/{id}"), json!({}))
        .await;
    assert_eq!(empty.status, 400);
    assert!(empty.text.contains("config"));
    sim.shutdown().await;
}

#[tokio::test]
async fn destroy_needs_force_when_running_and_then_answers_404() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    settle(&sim);
    let path = format!("/apps/a/machines/{id}");
    let refused = http.delete(&path).await;
    assert_eq!(refused.status, 412);
    let forced = http.delete(&format!("{path}?force=true")).await;
    assert_eq!(forced.status, 200);
    assert_eq!(forced.body["ok"], true);
    assert_eq!(http.state("a", &id).await, "destroying");
    settle(&sim);
    assert_eq!(http.get(&path).await.status, 404);
    assert_eq!(sim.machine_count("a"), 0);

    // Listed again with include_deleted.
    let all = http.get("/apps/a/machines?include_deleted=true").await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    assert_eq!(all.body[0]["state"], "destroyed");
    let live = http.get("/apps/a/machines").await;
    assert!(live.body.as_array().unwrap().is_empty());

    // A stopped machine is destroyed without force.
    let id2 = http.machine_id("a", json!({ "skip_launch": true })).await;
    assert_eq!(
        http.delete(&format!("/apps/a/machines/{id2}")).await.status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_filters_by_region_state_metadata_and_summary() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m1 = http
        .machine(
            "a",
            json!({ "region": "ams", "config": { "image": "x:1", "metadata": { "role": "web" } } }),
        )
        .await;
    http.machine(
        "a",
        json!({ "region": "ord", "skip_launch": true, "config": { "image": "x:1", "metadata": { "role": "worker" } } }),
    )
    .await;
    settle(&sim);
    let by_region = http.get("/apps/a/machines?region=ams").await;
    assert_eq!(by_region.body.as_array().unwrap().len(), 1);
    assert_eq!(by_region.body[0]["id"], m1["id"]);
    let by_state = http.get("/apps/a/machines?state=created,stopped").await;
    assert_eq!(by_state.body.as_array().unwrap().len(), 1);
    assert_eq!(by_state.body[0]["region"], "ord");
    let by_meta = http.get("/apps/a/machines?metadata.role=web").await;
    assert_eq!(by_meta.body.as_array().unwrap().len(), 1);
    let summary = http.get("/apps/a/machines?summary=true").await;
    assert!(summary.body[0].get("config").is_none());
    assert!(summary.body[0].get("events").is_none());
    let bad = http.get("/apps/a/machines?state=dancing").await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_cordon_and_signal() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m = http.machine("a", json!({})).await;
    let id = m["id"].as_str().unwrap();
    let version = m["instance_id"].as_str().unwrap();
    let md = format!("/apps/a/machines/{id}/metadata");
    assert_eq!(
        http.post(&format!("{md}/team"), json!({ "value": "infra" }))
            .await
            .status,
        204
    );
    let key = http.get(&format!("{md}/team")).await;
    assert_eq!(key.body["value"], "infra");
    assert_eq!(http.get(&format!("{md}/nope")).await.status, 404);

    let put = http
        .put(
            &md,
            json!({ "metadata": { "a": "1", "team": null }, "machine_version": version }),
        )
        .await;
    assert_eq!(put.status, 204);
    let all = http.get(&md).await;
    assert_eq!(all.body, json!({ "a": "1" }));
    let stale = http
        .patch(
            &md,
            json!({ "metadata": { "b": "2" }, "machine_version": "01XXXXXXXXXXXXXXXXXXXXXXXX" }),
        )
        .await;
    assert_eq!(stale.status, 412);
    let current = http.get(&format!("/apps/a/machines/{id}")).await;
    let updated_at = current.body["updated_at"].as_str().unwrap().to_string();
    let patch = http
        .patch(
            &md,
            json!({ "metadata": { "b": "2", "a": "" }, "updated_at": updated_at }),
        )
        .await;
    assert_eq!(patch.status, 204);
    assert_eq!(http.get(&md).await.body, json!({ "b": "2" }));
    assert_eq!(http.delete(&format!("{md}/b")).await.status, 204);

    // Signal needs a running machine.
    let early = http
        .post(
            &format!("/apps/a/machines/{id}/signal"),
            json!({ "signal": "SIGHUP" }),
        )
        .await;
    assert_eq!(early.status, 412);
    settle(&sim);
    let sig = http
        .post(
            &format!("/apps/a/machines/{id}/signal"),
            json!({ "signal": "SIGHUP" }),
        )
        .await;
    assert_eq!(sig.status, 200);
    let bad = http
        .post(
            &format!("/apps/a/machines/{id}/signal"),
            json!({ "signal": 9 }),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        http.post_empty(&format!("/apps/a/machines/{id}/cordon"))
            .await
            .status,
        200
    );
    assert_eq!(
        http.post_empty(&format!("/apps/a/machines/{id}/uncordon"))
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_answers_400_in_flys_shape() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let resp = http
        .client
        .post(format!("{}/apps/a/machines", http.base))
        .bearer_auth(&http.token)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: types::ErrorResponse = resp.json().await.unwrap();
    assert!(body.error.unwrap().contains("Machines_create"));
    assert_eq!(body.status.unwrap().0, "invalid_argument");

    let no_image = http.post("/apps/a/machines", json!({ "config": {} })).await;
    assert_eq!(no_image.status, 400);
    assert!(no_image.text.contains("image"));
    let bad_region = http
        .post(
            "/apps/a/machines",
            json!({ "region": "xyz", "config": { "image": "a" } }),
        )
        .await;
    assert_eq!(bad_region.status, 400);
    let wrong_type = http
        .post("/apps/a/machines", json!({ "config": { "image": 5 } }))
        .await;
    assert_eq!(wrong_type.status, 400);
    let unknown = http.get("/nope").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["status"], "not_found");
    let method = http.send(reqwest::Method::PATCH, "/apps", None, None).await;
    assert_eq!(method.status, 405);
    let missing_app = http.get("/apps/ghost/machines").await;
    assert_eq!(missing_app.status, 404);
    assert!(missing_app.text.contains("ghost"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unpullable_images_end_in_failed() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http
        .machine(
            "a",
            json!({ "config": { "image": "example/unpullable:1" } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "failed");
    // Fixed by an update to a good image.
    http.post(
        &format!("/apps/a/machines/{id}"),
        json!({ "config": { "image": "example/app:1" } }),
    )
    .await;
    settle(&sim);
    assert_eq!(http.state("a", &id).await, "started");
    sim.shutdown().await;
}

/// Every check a config declares is listed in the machine's `checks`: `critical` until the
/// machine has been `started` for the check delay, then `passing`; an `unhealthy` image never
/// passes.
#[tokio::test]
async fn declared_checks_pass_after_the_check_delay() {
    let sim = manual()
        .check_delay(std::time::Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    http.app("checks").await;
    let config = |image: &str| {
        json!({ "config": {
            "image": image,
            "checks": { "alive": { "type": "http", "port": 8080, "path": "/" } },
            "services": [{ "internal_port": 8080, "protocol": "tcp",
                           "checks": [{ "type": "tcp" }] }],
        }})
    };
    let healthy = http.machine("checks", config("nginx:1.27")).await;
    let plain = http.machine_id("checks", json!({})).await;
    let sick = http.machine("checks", config("example/unhealthy:1")).await;
    let statuses = |m: &serde_json::Value| {
        m["checks"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap().to_string(),
                            c["status"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let names: Vec<String> = statuses(&healthy).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["alive", "servicecheck-00-00"]);
    assert!(statuses(&healthy).iter().all(|(_, s)| s == "critical"));
    settle(&sim); // started now
    let show = |id: &str| {
        let path = format!("/apps/checks/machines/{id}");
        let http = http.clone();
        async move { http.get(&path).await }
    };
    let h = healthy["id"].as_str().unwrap();
    let s = sick["id"].as_str().unwrap();
    assert_eq!(show(h).await.body["state"], "started");
    assert!(
        statuses(&show(h).await.body)
            .iter()
            .all(|(_, s)| s == "critical")
    );
    sim.advance(std::time::Duration::from_secs(3));
    assert!(
        statuses(&show(h).await.body)
            .iter()
            .all(|(_, s)| s == "passing")
    );
    assert!(
        statuses(&show(s).await.body)
            .iter()
            .all(|(_, s)| s == "critical")
    );
    // The list shows them too; a machine that declares none has none.
    let list = http.get("/apps/checks/machines").await.body;
    let listed = list.as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|m| m["id"] == h && statuses(m).len() == 2)
    );
    assert!(show(&plain).await.body["checks"].is_null());
    sim.shutdown().await;
}

/// A `crashloop` image exits a transition after each start and is restarted (an `exit` event
/// each time), five times, then ends in `failed`.
#[tokio::test]
async fn a_crashloop_image_restarts_then_fails() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("crashy").await;
    let id = http
        .machine_id(
            "crashy",
            json!({ "config": { "image": "example/crashloop:1" } }),
        )
        .await;
    sim.advance(STEP * 2);
    assert_eq!(http.state("crashy", &id).await, "started");
    sim.advance(STEP);
    let shown = http.get(&format!("/apps/crashy/machines/{id}")).await.body;
    assert_eq!(shown["state"], "starting");
    assert_eq!(shown["events"][0]["type"], "exit");
    sim.advance(STEP * 20);
    assert_eq!(http.state("crashy", &id).await, "failed");
    let events = http.get(&format!("/apps/crashy/machines/{id}")).await.body["events"].clone();
    let exits = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "exit")
        .count();
    assert!(exits >= 5, "{events}");
    sim.shutdown().await;
}

/// Fly's 2026-12 paging on the wire: the limit is checked, a cursor needs one, machines and
/// volumes carry the next cursor in `fly-next-cursor`, apps in `next_cursor`, cursors expire
/// after 30 minutes of the emulator's clock, and short pages can be forced.
#[tokio::test]
async fn lists_page_with_cursors_that_expire() {
    let sim = crate::common::manual().start().await.unwrap();
    let http = Http::new(&sim);
    http.app("a").await;
    http.app("b").await;
    for _ in 0..5 {
        http.machine("a", json!({})).await;
    }
    for bad in ["0", "1001", "x"] {
        let r = http.get(&format!("/apps/a/machines?limit={bad}")).await;
        assert_eq!(r.status, 400, "limit={bad}: {}", r.text);
    }
    assert_eq!(http.get("/apps/a/machines?cursor=abc").await.status, 400);

    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let page = http.get(&format!("/apps/a/machines{query}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for m in page.body.as_array().unwrap() {
            ids.push(m["id"].as_str().unwrap().to_string());
        }
        cursor = page
            .headers
            .get("fly-next-cursor")
            .map(|v| v.to_str().unwrap().to_string());
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(ids.len(), 5);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);

    // Apps: the cursor is in the body; a cursor of one listing is no good for another.
    let first = http.get("/apps?org_slug=personal&limit=1").await;
    assert_eq!(first.body["apps"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["total_apps"], 2);
    let next = first.body["next_cursor"].as_str().unwrap().to_string();
    let other = http
        .get(&format!("/apps/b/machines?limit=1&cursor={next}"))
        .await;
    assert_eq!(other.status, 400);
    // 30 minutes after the first page, the cursor has expired.
    sim.advance(std::time::Duration::from_secs(30 * 60));
    let expired = http
        .get(&format!("/apps?org_slug=personal&limit=1&cursor={next}"))
        .await;
    assert_eq!(expired.status, 400);
    assert!(expired.text.contains("expired"), "{}", expired.text);

    // Forced short pages: half the limit, every third page empty, yet a cursor until the end.
    sim.set_short_pages(true);
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let page = http.get(&format!("/apps/a/machines{query}")).await;
        sizes.push(page.body.as_array().unwrap().len());
        cursor = page
            .headers
            .get("fly-next-cursor")
            .map(|v| v.to_str().unwrap().to_string());
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), 5);
    assert!(sizes.contains(&0), "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= 1), "{sizes:?}");
    sim.shutdown().await;
}

/// Machines are written as Fly writes them (`null` env, metadata and init fields; autostop
/// `off`/`stop` as booleans), `[]byte` fields are read from arrays of numbers as Go reads them,
/// and the documented-shapes knob answers `/wait` with `{"ok":true}` alone and requires
/// `app_name` on app create.
#[tokio::test]
async fn answers_and_reads_shapes_as_fly_does() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m = http
        .machine(
            "a",
            json!({ "config": { "image": "nginx", "services": [
                { "protocol": "tcp", "internal_port": 8080, "autostop": "off" },
                { "protocol": "tcp", "internal_port": 8081, "autostop": "stop" },
                { "protocol": "tcp", "internal_port": 8082, "autostop": "suspend" }
            ] } }),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let got = http.get(&format!("/apps/a/machines/{id}")).await;
    let config = got.body["config"].as_object().unwrap();
    assert_eq!(config.get("env"), Some(&json!(null)), "{}", got.text);
    assert_eq!(config.get("metadata"), Some(&json!(null)));
    assert_eq!(config["init"]["cmd"], json!(null));
    assert!(config["init"].as_object().unwrap().contains_key("cmd"));
    let autostop: Vec<_> = config["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["autostop"].clone())
        .collect();
    assert_eq!(autostop, [json!(false), json!(true), json!("suspend")]);
    assert_eq!(got.body["version"], got.body["instance_id"]);

    let key = http
        .post(
            "/apps/a/secretkeys/sealer/generate",
            json!({ "type": "SECRET_TYPE_KMS_XAES256GCM" }),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let as_numbers = http
        .post(
            "/apps/a/secretkeys/sealer/encrypt",
            json!({ "plaintext": [104, 101, 108, 108, 111], "associated_data": [97, 100] }),
        )
        .await;
    assert_eq!(as_numbers.status, 200, "{}", as_numbers.text);
    let decrypted = http
        .post(
            "/apps/a/secretkeys/sealer/decrypt",
            json!({ "ciphertext": as_numbers.body["ciphertext"], "associated_data": "YWQ=" }),
        )
        .await;
    assert_eq!(decrypted.body["plaintext"], "aGVsbG8=");

    sim.set_documented_shapes(true);
    settle(&sim);
    let waited = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=started&timeout=1"
        ))
        .await;
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert_eq!(waited.body, json!({ "ok": true }));
    let by_name = http
        .post(
            "/apps",
            json!({ "name": "new-app", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(by_name.status, 400);
    assert!(by_name.text.contains("app_name"), "{}", by_name.text);
    let documented = http
        .post(
            "/apps",
            json!({ "app_name": "new-app", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(documented.status, 201, "{}", documented.text);
    sim.shutdown().await;
}

/// The image tags that script a machine's behaviour (`:never-healthy`, `:crashloop`,
/// `:unpullable`, `:reverted`) work on any repository, as the repository names do.
#[tokio::test]
async fn image_tags_script_how_a_machine_behaves() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("tags").await;
    let with_check = |image: &str| {
        json!({ "config": {
            "image": image,
            "checks": { "alive": { "type": "tcp", "port": 8080 } },
        }})
    };
    let sick = http
        .machine_id("tags", with_check("example/app:never-healthy"))
        .await;
    let crashy = http
        .machine_id("tags", with_check("example/app:crashloop"))
        .await;
    let broken = http
        .machine_id("tags", with_check("example/app:unpullable"))
        .await;
    let fine = http.machine_id("tags", with_check("example/app:1")).await;
    sim.advance(STEP * 2);
    let sick_view = http.get(&format!("/apps/tags/machines/{sick}")).await.body;
    assert_eq!(sick_view["state"], "started");
    sim.advance(STEP * 40);
    let sick_view = http.get(&format!("/apps/tags/machines/{sick}")).await.body;
    assert_eq!(sick_view["checks"][0]["status"], "critical", "{sick_view}");
    let fine_view = http.get(&format!("/apps/tags/machines/{fine}")).await.body;
    assert_eq!(fine_view["checks"][0]["status"], "passing", "{fine_view}");
    assert_eq!(http.state("tags", &crashy).await, "failed");
    assert_eq!(http.state("tags", &broken).await, "failed");

    // `:reverted`: the update answers a new version with the new image, then the machine is
    // silently put back on the old config, under yet another version, and runs it.
    let path = format!("/apps/tags/machines/{fine}");
    let before = http.get(&path).await.body;
    let answered = http
        .post(
            &path,
            json!({ "config": { "image": "example/app:reverted",
                                "checks": { "alive": { "type": "tcp", "port": 8080 } } } }),
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(answered.body["config"]["image"], "example/app:reverted");
    let updated_version = answered.body["version"].as_str().unwrap().to_owned();
    assert_ne!(Some(updated_version.as_str()), before["version"].as_str());
    settle(&sim);
    let after = http.get(&path).await.body;
    assert_eq!(after["state"], "started");
    assert_eq!(after["config"]["image"], "example/app:1", "{after}");
    let now_version = after["version"].as_str().unwrap();
    assert_ne!(now_version, updated_version, "the update's version is gone");
    assert_ne!(Some(now_version), before["version"].as_str());
    let versions = http.get(&format!("{path}/versions")).await.body;
    assert_eq!(versions[0]["version"], now_version, "{versions}");
    assert_eq!(
        versions[0]["user_config"]["image"], "example/app:1",
        "{versions}"
    );
    // A wait on the update's version hears that it was replaced.
    let wait = http
        .get(&format!(
            "{path}/wait?state=started&version={updated_version}"
        ))
        .await;
    assert_eq!(wait.status, 400, "{}", wait.body);
    sim.shutdown().await;
}

/// `serving_changes` counts what Fly's proxy would route to: `started` and not cordoned, in
/// the order the changes were applied.
#[tokio::test]
async fn serving_changes_follow_starts_and_cordons() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("serve").await;
    let a = http.machine_id("serve", json!({})).await;
    let b = http.machine_id("serve", json!({})).await;
    settle(&sim);
    assert_eq!(http.state("serve", &b).await, "started");
    let mark = sim.serving_changes("serve").last().unwrap().seq;
    http.post_empty(&format!("/apps/serve/machines/{a}/cordon"))
        .await;
    http.post(&format!("/apps/serve/machines/{b}/stop"), json!({}))
        .await;
    settle(&sim);
    http.post_empty(&format!("/apps/serve/machines/{a}/uncordon"))
        .await;
    let changes: Vec<(String, bool, usize)> = sim
        .serving_changes("serve")
        .into_iter()
        .filter(|c| c.seq > mark)
        .map(|c| (c.machine, c.serving, c.count))
        .collect();
    assert_eq!(
        changes,
        [(a.clone(), false, 1), (b, false, 0), (a, true, 1)],
        "cordon, stop, uncordon"
    );
    assert!(sim.serving_changes("nope").is_empty());
    sim.shutdown().await;
}
