//! The emulator's defences, each proven over real HTTP on loopback: validation before
//! mutation, Fly's value rules, statuses for oversize input, bounded memory, saturating time
//! and connection limits. Connection timeouts run on tokio's paused clock: nothing sleeps.

use std::time::Duration;

use crate::common::{Http, manual, settle, start};
use fly_machines_sim::SimHandle;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection, returning what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_refused_update_changes_nothing() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let created = http.machine("a", json!({ "name": "web" })).await;
    let id = created["id"].as_str().unwrap().to_string();
    settle(&sim);
    let before = sim.machine("a", &id).unwrap();
    let path = format!("/apps/a/machines/{id}");
    for bad in [
        json!({ "config": { "image": "nginx:2" }, "name": "renamed", "lease_ttl": 0 }),
        json!({ "config": { "image": "nginx:2", "guest": { "cpus": 3 } }, "name": "renamed" }),
        json!({ "config": { "image": "nginx:2", "files": [{ "guest_path": "/x", "mode": -1 }] } }),
    ] {
        let answer = http.post(&path, bad).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        let after = sim.machine("a", &id).unwrap();
        assert_eq!(after.instance_id, before.instance_id);
        assert_eq!(after.name.as_deref(), Some("web"));
        assert_eq!(after.state.as_deref(), Some("started"));
        assert_eq!(
            after.config.as_ref().unwrap().image.as_deref(),
            Some("nginx:1.27")
        );
    }
    let versions = http.get(&format!("{path}/versions")).await;
    assert_eq!(versions.body.as_array().unwrap().len(), 1);
    // The name is still free for its owner and taken for others.
    let other = http
        .post(
            "/apps/a/machines",
            json!({ "name": "renamed", "config": { "image": "nginx:1" } }),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn values_fly_refuses_are_refused_by_name() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let huge = 1_i64 << 62;
    let long_name = format!("a/{}", "x".repeat(1 << 20));
    let cases = [
        (json!({ "guest": { "cpus": huge } }), "cpus"),
        (json!({ "guest": { "memory_mb": huge } }), "memory_mb"),
        (
            json!({ "services": [{ "internal_port": -5, "protocol": "tcp" }] }),
            "internal_port",
        ),
        (
            json!({ "files": [{ "guest_path": "/etc/x", "mode": -1 }] }),
            "file mode",
        ),
        (
            json!({ "stop_config": { "signal": "SIGBOGUS" } }),
            "stop signal",
        ),
    ];
    for (extra, named) in cases {
        let mut config = json!({ "image": "nginx:1" });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let answer = http
            .post("/apps/a/machines", json!({ "config": config }))
            .await;
        assert_eq!(answer.status, 400, "{named}: {}", answer.text);
        assert!(answer.text.contains(named), "{named}: {}", answer.text);
    }
    let named = http
        .post(
            "/apps/a/machines",
            json!({ "name": long_name, "config": { "image": "nginx:1" } }),
        )
        .await;
    assert_eq!(named.status, 400);
    assert!(named.text.len() < 1024, "the error does not echo 1 MB");
    let ttl = http
        .post(
            "/apps/a/machines",
            json!({ "lease_ttl": i64::MAX, "config": { "image": "nginx:1" } }),
        )
        .await;
    assert_eq!(ttl.status, 400);
    assert!(ttl.text.contains("lease ttl"), "{}", ttl.text);
    assert_eq!(sim.all_machines("a").len(), 0, "nothing was created");
    sim.shutdown().await;
}

#[tokio::test]
async fn oversize_bodies_get_413_and_long_uris_414_both_as_json() {
    let sim = start().await;
    let addr = sim.addr();
    // A declared length over 16 MiB is refused before the body is read.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 17000000\r\nconnection: close\r\n\r\n",
            sim.token()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["status"], "request_entity_too_large");

    // A chunked body (no declared length) that grows past the limit gets the same answer.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let size = 16 * 1024 * 1024 + 1;
    s.write_all(
        format!(
            "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{size:x}\r\n",
            sim.token()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // The server may answer and close before taking all of it.
    let _ = s.write_all(&vec![b' '; size]).await;
    let _ = s.write_all(b"\r\n0\r\n\r\n").await;
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["status"], "request_entity_too_large");

    // A URI over 64 KiB: hyper refuses it before routing; the answer is still JSON.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let uri = format!("/v1/apps?q={}", "a".repeat(70_000));
    s.write_all(format!("GET {uri} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    assert_eq!(json_body(&answer)["status"], "uri_too_long");
    sim.shutdown().await;
}

#[tokio::test]
async fn versions_are_capped_and_destroyed_machines_are_reaped() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    let path = format!("/apps/a/machines/{id}");
    update_images(&sim, &http, &path, 20).await;
    let versions = http.get(&format!("{path}/versions")).await;
    let versions = versions.body.as_array().unwrap();
    assert_eq!(versions.len(), 10, "only the newest ten versions are kept");
    assert_eq!(
        versions[0]["user_config"]["image"], "nginx:19",
        "newest first"
    );
    settle(&sim);
    assert_eq!(http.delete(&format!("{path}?force=true")).await.status, 200);
    settle(&sim);
    // Hidden at once (no visible window), still listed with include_deleted, compacted.
    assert_eq!(http.get(&path).await.status, 404);
    let listed = http.get("/apps/a/machines?include_deleted=true").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(listed.body[0]["config"]["files"].is_null());
    // An hour later it is forgotten.
    sim.advance(Duration::from_secs(3601));
    let listed = http.get("/apps/a/machines?include_deleted=true").await;
    assert!(
        listed.body.as_array().unwrap().is_empty(),
        "{}",
        listed.text
    );
    assert!(sim.all_machines("a").is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_request_log_is_bounded_in_bytes_and_keeps_no_unauthenticated_nonce() {
    let sim = manual().request_log_bytes(64 * 1024).start().await.unwrap();
    let client = reqwest::Client::new();
    let long = "p".repeat(8 * 1024);
    for _ in 0..200 {
        let resp = client
            .get(format!("{}/apps/{long}?q={long}", sim.base_url()))
            .header("fly-machine-lease-nonce", "secret-nonce")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    assert!(
        sim.request_log_bytes() <= 64 * 1024,
        "{}",
        sim.request_log_bytes()
    );
    let log = sim.requests();
    assert!(!log.is_empty() && log.len() < 200, "{}", log.len());
    assert!(log.iter().all(|r| r.path.len() <= 512));
    assert!(
        log.iter()
            .all(|r| r.query.as_ref().is_some_and(|q| q.len() <= 512))
    );
    assert!(log.iter().all(|r| r.lease_nonce.is_none()));
    sim.shutdown().await;
}

#[tokio::test]
async fn huge_durations_saturate_instead_of_panicking() {
    let sim = manual()
        .transition_time(Duration::MAX)
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    http.app("a").await;
    let created = http.machine("a", json!({})).await;
    assert_eq!(created["state"], "created");
    sim.advance(Duration::MAX);
    sim.advance(Duration::MAX);
    let id = created["id"].as_str().unwrap();
    // The end of time is reached and stays put; the machine finishes booting there.
    assert_eq!(sim.clock().now_ms(), u64::MAX);
    assert_eq!(http.state("a", id).await, "started");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn slow_heads_and_idle_connections_are_closed() {
    let sim = manual()
        .header_read_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    // Half a request line, then nothing.
    let mut slow = TcpStream::connect(sim.addr()).await.unwrap();
    slow.write_all(b"GET /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = read_to_close(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(5));

    // A kept-alive connection that goes quiet after one request.
    let mut idle = TcpStream::connect(sim.addr()).await.unwrap();
    idle.write_all(
        format!(
            "GET /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\r\n",
            sim.token()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for _ in 0..1000 {
        if sim.open_connections() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        sim.open_connections(),
        0,
        "both connections released their slot"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn slow_bodies_get_408() {
    let sim = manual()
        .body_read_timeout(Duration::from_secs(3))
        .no_rate_limits()
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(
        format!(
            "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\"",
            sim.token()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(json_body(&answer)["status"], "deadline_exceeded");
    assert!(sim.apps().is_empty());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let sim = manual()
        .max_connections(2)
        .header_read_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(TcpStream::connect(sim.addr()).await.unwrap());
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(sim.open_connections(), 2, "only two are served at once");
    // The idle ones time out one pair after another, and a real request gets through.
    let resp = reqwest::Client::new()
        .get(format!("{}/apps", sim.base_url()))
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for mut s in idle {
        let _ = read_to_close(&mut s).await;
    }
    assert!(sim.open_connections() <= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_version_count_kept_is_configurable() {
    let sim = manual().versions_kept(3).start().await.unwrap();
    let http = Http::new(&sim);
    http.app("a").await;
    let id = http.machine_id("a", json!({})).await;
    let path = format!("/apps/a/machines/{id}");
    update_images(&sim, &http, &path, 5).await;
    let versions = http.get(&format!("{path}/versions")).await;
    let images: Vec<&str> = versions
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["user_config"]["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["nginx:4", "nginx:3", "nginx:2"]);
    sim.shutdown().await;
}

/// Updates the machine at `path` `count` times, to images `nginx:0`, `nginx:1`, ..., each one
/// after the previous update has settled.
async fn update_images(sim: &SimHandle, http: &Http, path: &str, count: usize) {
    for i in 0..count {
        settle(sim);
        let answer = http
            .post(path, json!({ "config": { "image": format!("nginx:{i}") } }))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
}

/// An unpaged listing of 100,000 machines lets other requests through while it is written.
/// The listing is held after its first slice (the slice hook blocks it, with the world lock
/// released) until a Get App sent meanwhile has been answered; the listing then finishes with
/// every machine. Before, the whole listing was built under the world lock: the Get App could
/// not be answered until it was done, and this test times out waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_listing_lets_other_requests_through() {
    const MACHINES: usize = 100_000;
    let (written, written_seen) = std::sync::mpsc::sync_channel::<()>(1);
    let (go, go_seen) = std::sync::mpsc::channel::<()>();
    let go_seen = std::sync::Mutex::new(go_seen);
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let armed_in_hook = armed.clone();
    let sim = manual()
        .on_list_slice(move |slice| {
            if slice == 1 && armed_in_hook.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let _ = written.send(());
                // Bounded: a test that fails must not hang the suite.
                let _ = go_seen
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(120));
            }
        })
        .start()
        .await
        .unwrap();
    let http = Http::new(&sim);
    http.app("big").await;
    let request: fly_machines_sim::types::CreateMachineRequest =
        serde_json::from_value(json!({ "config": { "image": "nginx" } })).unwrap();
    sim.create_machines("big", MACHINES, &request).unwrap();
    assert_eq!(sim.machine_count("big"), MACHINES);

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    // The summary view and a count of the entries keep the test quick in a debug build; the
    // listing takes the same path with full views.
    let lister = http.clone();
    let listing = tokio::spawn(async move {
        lister
            .client
            .get(format!("{}/apps/big/machines?summary=true", lister.base))
            .bearer_auth(&lister.token)
            .send()
            .await
            .expect("the listing is answered")
    });
    tokio::task::spawn_blocking(move || written_seen.recv_timeout(Duration::from_secs(120)))
        .await
        .unwrap()
        .expect("the listing wrote its first slice");
    let other = tokio::time::timeout(Duration::from_secs(30), http.get("/apps/big"))
        .await
        .expect("a Get App is answered while the listing is held mid-way");
    assert_eq!(other.status, 200, "{}", other.text);
    go.send(()).unwrap();
    let listed = listing.await.unwrap();
    assert_eq!(listed.status(), 200);
    let bytes = listed.bytes().await.unwrap();
    let machines = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&bytes)
        .unwrap()
        .len();
    assert_eq!(machines, MACHINES);
    println!(
        "unpaged listing: {machines} machines, {} bytes, {} slices; a Get App answered mid-way",
        bytes.len(),
        MACHINES.div_ceil(fly_machines_sim::LIST_SLICE)
    );
}
