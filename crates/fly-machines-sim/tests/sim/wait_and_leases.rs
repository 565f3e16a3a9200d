//! `/wait` long-polls and leases, over raw HTTP, on the manual clock.

use std::time::Duration;

use crate::common::*;
use fly_machines_sim::types;
use serde_json::json;

async fn started_machine(sim: &fly_machines_sim::SimHandle, http: &Http) -> String {
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    settle(sim);
    id
}

#[tokio::test]
async fn wait_returns_state_version_and_event() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m = http.machine("a", json!({})).await;
    let id = m["id"].as_str().unwrap().to_string();
    let version = m["instance_id"].as_str().unwrap().to_string();

    // The wait parks until the clock moves the machine to started.
    let waiter = {
        let http = http.clone();
        let path = format!("/apps/a/machines/{id}/wait?state=started&version={version}&timeout=30");
        tokio::spawn(async move { http.get(&path).await })
    };
    sim.until_parked(1).await;
    sim.advance(STEP);
    assert_eq!(sim.parked_waits(), 1, "still starting");
    sim.advance(STEP);
    let done = waiter.await.unwrap();
    assert_eq!(done.status, 200, "{}", done.text);
    let body: types::WaitMachineResponse = serde_json::from_value(done.body).unwrap();
    assert_eq!(body.ok, Some(true));
    assert_eq!(body.state.as_deref(), Some("started"));
    assert_eq!(body.version.as_deref(), Some(version.as_str()));
    let events = http.get(&format!("/apps/a/machines/{id}/events")).await;
    assert_eq!(
        body.event_id.as_ref().unwrap(),
        events.body[0]["id"].as_str().unwrap()
    );

    // Several states, comma-separated or repeated; settled matches any resting state.
    let multi = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=stopped,started&timeout=1"
        ))
        .await;
    assert_eq!(multi.status, 200);
    let repeated = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=stopped&state=started&timeout=1"
        ))
        .await;
    assert_eq!(repeated.status, 200);
    let settled = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=settled&timeout=1"
        ))
        .await;
    assert_eq!(settled.body["state"], "started");
    sim.shutdown().await;
}

#[tokio::test]
async fn wait_validates_its_parameters() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    for bad in [
        "timeout=61",
        "timeout=0",
        "timeout=abc",
        "state=running",
        "state=launch_failed",
        "state=started,created",
        "version=nope",
    ] {
        let a = http.get(&format!("/apps/a/machines/{id}/wait?{bad}")).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_eq!(a.body["status"], "invalid_argument", "{bad}");
    }
    // A machine state the wait does not take is named with the ones it does.
    let a = http
        .get(&format!("/apps/a/machines/{id}/wait?state=started,created"))
        .await;
    assert_eq!(
        a.body["error"],
        "invalid state \"created\": wait accepts started, stopped, suspended, destroyed, failed, settled"
    );
    assert_eq!(
        http.get(&format!("/apps/a/machines/{id}/wait?timeout=60"))
            .await
            .status,
        200
    );
    assert_eq!(
        http.get("/apps/a/machines/00000000000000/wait")
            .await
            .status,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn wait_times_out_with_408_on_the_clock() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    let waiter = {
        let http = http.clone();
        let path = format!("/apps/a/machines/{id}/wait?state=stopped&timeout=5");
        tokio::spawn(async move { http.get(&path).await })
    };
    sim.until_parked(1).await;
    sim.advance(Duration::from_secs(4));
    assert_eq!(sim.parked_waits(), 1);
    sim.advance(Duration::from_secs(1));
    let timed_out = waiter.await.unwrap();
    assert_eq!(timed_out.status, 408);
    assert_eq!(timed_out.body["status"], "deadline_exceeded");
    assert!(
        timed_out.text.contains("currently started"),
        "{}",
        timed_out.text
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn from_event_id_skips_earlier_transitions_and_destroyed_waits_succeed() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    let first = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=started&timeout=1"
        ))
        .await;
    let event = first.body["event_id"].as_str().unwrap().to_string();
    // Already started, but only later events count: this wait parks until a new start.
    let waiter = {
        let http = http.clone();
        let path =
            format!("/apps/a/machines/{id}/wait?state=started&from_event_id={event}&timeout=60");
        tokio::spawn(async move { http.get(&path).await })
    };
    sim.until_parked(1).await;
    http.post_empty(&format!("/apps/a/machines/{id}/restart"))
        .await;
    settle(&sim);
    let again = waiter.await.unwrap();
    assert_eq!(again.status, 200);
    assert_ne!(again.body["event_id"].as_str().unwrap(), event);

    http.delete(&format!("/apps/a/machines/{id}?force=true"))
        .await;
    settle(&sim);
    let destroyed = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=destroyed&timeout=1"
        ))
        .await;
    assert_eq!(destroyed.status, 200);
    assert_eq!(destroyed.body["state"], "destroyed");
    let started = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=started&timeout=1"
        ))
        .await;
    assert_eq!(started.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_pending_waits() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    let waiter = {
        let http = http.clone();
        let path = format!("/apps/a/machines/{id}/wait?state=stopped");
        tokio::spawn(async move {
            http.client
                .get(format!("{}{}", http.base, path))
                .bearer_auth(&http.token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    sim.until_parked(1).await;
    sim.shutdown().await;
    let status = waiter.await.unwrap();
    assert!(matches!(status, Ok(503) | Err(_)), "{status:?}");
}

#[tokio::test]
async fn leases_gate_mutations_and_expire() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    let lease_path = format!("/apps/a/machines/{id}/lease");

    assert_eq!(http.get(&lease_path).await.status, 404);
    let acquired = http
        .post(&lease_path, json!({ "ttl": 10, "description": "deploy" }))
        .await;
    assert_eq!(acquired.status, 201);
    let env: types::LeaseEnvelope = serde_json::from_value(acquired.body).unwrap();
    assert_eq!(env.status.as_deref(), Some("success"));
    let lease = env.data.unwrap();
    let nonce = lease.nonce.unwrap();
    assert_eq!(
        lease.expires_at,
        Some((fly_machines_sim::MANUAL_EPOCH_MS / 1000) as i64 + 10)
    );

    // A second acquire without the nonce conflicts, in the envelope shape, without the nonce.
    let second = http.post(&lease_path, json!({ "ttl": 10 })).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body["status"], "error");
    assert!(!second.text.contains(&nonce));

    // Mutations need the nonce.
    let stop = format!("/apps/a/machines/{id}/stop");
    let refused = http.post_empty(&stop).await;
    assert_eq!(refused.status, 409);
    assert!(refused.text.contains("fly-machine-lease-nonce"));
    let wrong = http.post_nonce(&stop, None, "deadbeef").await;
    assert_eq!(wrong.status, 409);
    let ok = http.post_nonce(&stop, None, &nonce).await;
    assert_eq!(ok.status, 200);

    // GET shows the lease; the nonce only to its holder.
    let shown = http.get(&lease_path).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body["data"].get("nonce").is_none());
    let mine = http
        .send(reqwest::Method::GET, &lease_path, None, Some(&nonce))
        .await;
    assert_eq!(mine.body["data"]["nonce"], nonce.as_str());

    // Refresh with the nonce keeps it and extends the expiry.
    sim.advance(std::time::Duration::from_secs(5));
    let refreshed = http
        .post_nonce(&lease_path, Some(json!({ "ttl": 10 })), &nonce)
        .await;
    assert_eq!(refreshed.status, 201);
    assert_eq!(refreshed.body["data"]["nonce"], nonce.as_str());
    assert_eq!(
        refreshed.body["data"]["expires_at"],
        (fly_machines_sim::MANUAL_EPOCH_MS / 1000) as i64 + 15
    );

    // Expiry frees the machine.
    sim.advance(std::time::Duration::from_secs(11));
    assert_eq!(http.get(&lease_path).await.status, 404);
    settle(&sim);
    assert_eq!(
        http.post_empty(&format!("/apps/a/machines/{id}/start"))
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn release_needs_the_right_nonce() {
    let sim = start().await;
    let http = Http::new(&sim);
    let id = started_machine(&sim, &http).await;
    let lease_path = format!("/apps/a/machines/{id}/lease");
    // An absurd ttl is refused as Fly refuses it, in the lease envelope, and takes no lease.
    let huge = http.post(&lease_path, json!({ "ttl": i64::MAX })).await;
    assert_eq!(huge.status, 400);
    assert_eq!(huge.body["status"], "error");
    assert!(huge.body["message"].as_str().unwrap().contains("86400"));
    assert!(sim.lease("a", &id).is_none());
    let zero = http.post(&lease_path, json!({ "ttl": 0 })).await;
    assert_eq!(zero.status, 400);
    assert_eq!(zero.body["status"], "error");
    // fly-go sends the ttl as a query parameter.
    let acquired = http.post_empty(&format!("{lease_path}?ttl=60")).await;
    assert_eq!(acquired.status, 201);
    let nonce = acquired.body["data"]["nonce"].as_str().unwrap().to_string();
    assert_eq!(http.delete(&lease_path).await.status, 400);
    let wrong = http
        .send(reqwest::Method::DELETE, &lease_path, None, Some("nope"))
        .await;
    assert_eq!(wrong.status, 409);
    let released = http
        .send(reqwest::Method::DELETE, &lease_path, None, Some(&nonce))
        .await;
    assert_eq!(released.status, 200);
    let env: types::LeaseReleaseEnvelope = serde_json::from_value(released.body).unwrap();
    assert_eq!(env.data.unwrap().ok, Some(true));
    let again = http
        .send(reqwest::Method::DELETE, &lease_path, None, Some(&nonce))
        .await;
    assert_eq!(again.status, 404);
    assert!(again.text.contains("lease not found"));
    sim.shutdown().await;
}

#[tokio::test]
async fn create_with_lease_ttl_returns_the_nonce() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let m = http.machine("a", json!({ "lease_ttl": 30 })).await;
    let nonce = m["nonce"].as_str().unwrap().to_string();
    let id = m["id"].as_str().unwrap().to_string();
    settle(&sim);
    let upd = format!("/apps/a/machines/{id}");
    let body = json!({ "config": { "image": "nginx:2" } });
    assert_eq!(http.post(&upd, body.clone()).await.status, 409);
    assert_eq!(http.post_nonce(&upd, Some(body), &nonce).await.status, 200);
    assert_eq!(sim.lease("a", &id).unwrap().nonce.unwrap(), nonce);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_real_clock_completes_transitions_by_itself() {
    // Default clock and 30 ms steps: the long-poll returns once the machine has booted.
    let sim = fly_machines_sim::Sim::builder()
        .token("t")
        .no_rate_limits()
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    let before = std::time::Instant::now();
    let waited = http
        .get(&format!(
            "/apps/a/machines/{id}/wait?state=started&timeout=10"
        ))
        .await;
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert!(before.elapsed() < Duration::from_secs(5));
    assert_eq!(http.state("a", &id).await, "started");
    sim.shutdown().await;
}
