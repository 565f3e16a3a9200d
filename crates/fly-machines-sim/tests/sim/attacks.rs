//! An adversarial suite: the attacks of issue #13 and a few more, run against one emulator on
//! loopback, bounded in count, on tokio's paused clock (timeouts fire without waiting). After
//! every class the server must still answer a normal request.
//!
//! `cargo test -p fly-machines-sim --test sim attacks -- --nocapture` prints `name: value`
//! figures: inputs tried per class, their outcomes, memory before and after, reachability.

use std::collections::BTreeMap;
use std::time::Duration;

use fly_machines_sim::{Sim, SimHandle};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_CONNECTIONS: usize = 16;
const LOG_BUDGET: usize = 256 * 1024;

/// Figures printed at the end, sorted by name.
#[derive(Default)]
struct Figures(BTreeMap<String, String>);

impl Figures {
    fn add(&mut self, name: &str, value: impl ToString) {
        self.0.insert(name.to_string(), value.to_string());
    }

    fn print(&self) {
        for (name, value) in &self.0 {
            println!("{name}: {value}");
        }
    }
}

/// Resident memory of this process, in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn is_json_error(answer: &str) -> bool {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["status"].is_string())
}

/// Sends raw bytes on a fresh connection and reads the answer until the server closes.
async fn raw(sim: &SimHandle, bytes: &[u8]) -> String {
    raw_parts(sim, &[bytes]).await
}

/// Like [`raw`], writing the parts one after another (a head, then its body).
async fn raw_parts(sim: &SimHandle, parts: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(sim.addr()).await.expect("connect");
    for part in parts {
        // The server may answer and close before taking everything.
        if s.write_all(part).await.is_err() {
            break;
        }
    }
    read_to_close(&mut s).await
}

async fn reachable(sim: &SimHandle) -> bool {
    reqwest::Client::new()
        .get(format!("{}/apps", sim.base_url()))
        .bearer_auth(sim.token())
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Counts outcomes by status ("closed" when the server closed without an answer).
fn tally(outcomes: &[String]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for answer in outcomes {
        let key = match status_of(answer) {
            0 => "closed".to_string(),
            code if is_json_error(answer) => format!("{code}_json"),
            code => code.to_string(),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(start_paused = true)]
async fn the_emulator_survives_the_attacks_of_issue_13() {
    let sim = Sim::builder()
        .manual_clock()
        .no_rate_limits()
        .token("adversary-test")
        .max_connections(MAX_CONNECTIONS)
        .header_read_timeout(HEADER_TIMEOUT)
        .body_read_timeout(BODY_TIMEOUT)
        .request_log_bytes(LOG_BUDGET)
        .start()
        .await
        .expect("sim starts");
    let token = sim.token().to_string();
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let mut fig = Figures::default();
    fig.add("rss_kib_before", rss_kib());

    // 1. Idle connections: four times the cap, never sending a byte.
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS * 4 {
        idle.push(TcpStream::connect(sim.addr()).await.expect("connect"));
    }
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    let peak = sim.open_connections();
    let mut closed = 0;
    for mut s in idle {
        if read_to_close(&mut s).await.is_empty() {
            closed += 1;
        }
    }
    fig.add("idle_connections_tried", MAX_CONNECTIONS * 4);
    fig.add("idle_connections_open_at_peak", peak);
    fig.add("idle_connections_closed_by_server", closed);
    assert!(peak <= MAX_CONNECTIONS, "{peak}");
    assert_eq!(closed, MAX_CONNECTIONS * 4);
    assert!(reachable(&sim).await);

    // 2. Slow heads: a request line, then silence.
    let mut outcomes = Vec::new();
    for i in 0..16 {
        let head = format!("GET /v1/apps?i={i} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        outcomes.push(raw(&sim, head.as_bytes()).await);
    }
    fig.add("slow_heads_tried", outcomes.len());
    fig.add("slow_heads_outcomes", tally(&outcomes));
    assert!(outcomes.iter().all(|a| status_of(a) != 200));
    assert!(reachable(&sim).await);

    // 3. Slow bodies: a complete head, a tenth of the body, then silence.
    let mut outcomes = Vec::new();
    for _ in 0..16 {
        let head = format!(
            "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\""
        );
        outcomes.push(raw(&sim, head.as_bytes()).await);
    }
    fig.add("slow_bodies_tried", outcomes.len());
    fig.add("slow_bodies_outcomes", tally(&outcomes));
    assert!(
        outcomes
            .iter()
            .all(|a| status_of(a) == 408 && is_json_error(a))
    );
    assert!(reachable(&sim).await);

    // 4. Oversize input: declared and chunked bodies over 16 MiB, URIs over 64 KiB, heads
    //    over hyper's buffer, and request lines that are not HTTP.
    let mut outcomes = Vec::new();
    for declared in [16 * 1024 * 1024 + 1, 100_000_000, u64::MAX / 2, u64::MAX] {
        let head = format!(
            "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\
             content-length: {declared}\r\n\r\n"
        );
        outcomes.push(raw(&sim, head.as_bytes()).await);
    }
    let size = 16 * 1024 * 1024 + 1;
    let head = format!(
        "POST /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\
         transfer-encoding: chunked\r\n\r\n{size:x}\r\n"
    );
    let chunk = vec![b' '; size];
    outcomes.push(raw_parts(&sim, &[head.as_bytes(), &chunk]).await);
    drop(chunk);
    fig.add("oversize_bodies_tried", outcomes.len());
    fig.add("oversize_bodies_outcomes", tally(&outcomes));
    assert!(
        // hyper itself refuses a length it cannot represent (u64::MAX) with 431.
        outcomes
            .iter()
            .all(|a| matches!(status_of(a), 413 | 431) && is_json_error(a)),
        "{}",
        tally(&outcomes)
    );

    let mut outcomes = Vec::new();
    for len in [65_600, 70_000, 100_000, 300_000] {
        let line = format!(
            "GET /v1/apps?q={} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
            "a".repeat(len)
        );
        outcomes.push(raw(&sim, line.as_bytes()).await);
    }
    fig.add("long_uris_tried", outcomes.len());
    fig.add("long_uris_outcomes", tally(&outcomes));
    assert!(
        outcomes
            .iter()
            .all(|a| matches!(status_of(a), 414 | 431) && is_json_error(a))
    );

    let mut outcomes = Vec::new();
    for len in [500_000, 1_000_000] {
        let head = format!(
            "GET /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: {}\r\n\r\n",
            "b".repeat(len)
        );
        outcomes.push(raw(&sim, head.as_bytes()).await);
    }
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /v1/apps HTTP/9.9\r\n\r\n",
        b"G\x00T /v1/apps HTTP/1.1\r\n\r\n",
        b"GET /v1/apps HTTP/1.1\r\nbad header line\r\n\r\n",
    ] {
        outcomes.push(raw(&sim, garbage).await);
    }
    fig.add("malformed_heads_tried", outcomes.len());
    fig.add("malformed_heads_outcomes", tally(&outcomes));
    assert!(
        outcomes
            .iter()
            .all(|a| status_of(a) == 0 || (status_of(a) >= 400 && is_json_error(a)))
    );
    assert!(reachable(&sim).await);

    // 5. Values Fly refuses: each is 400 and creates nothing.
    let created = http
        .post(format!("{base}/apps"))
        .bearer_auth(&token)
        .json(&json!({ "name": "victim", "org_slug": "personal" }))
        .send()
        .await
        .expect("app");
    assert_eq!(created.status(), 201);
    let huge = 1_i64 << 62;
    let refused: Vec<(&str, Value)> = vec![
        (
            "cpus_2e62",
            json!({ "config": { "image": "a:1", "guest": { "cpus": huge } } }),
        ),
        (
            "memory_2e62",
            json!({ "config": { "image": "a:1", "guest": { "memory_mb": huge } } }),
        ),
        (
            "memory_not_256_step",
            json!({ "config": { "image": "a:1", "guest": { "memory_mb": 300 } } }),
        ),
        (
            "cpu_kind_unknown",
            json!({ "config": { "image": "a:1", "guest": { "cpu_kind": "quantum" } } }),
        ),
        (
            "internal_port_negative",
            json!({ "config": { "image": "a:1", "services": [{ "internal_port": -5 }] } }),
        ),
        (
            "port_70000",
            json!({ "config": { "image": "a:1", "services": [{ "internal_port": 80, "ports": [{ "port": 70000 }] }] } }),
        ),
        (
            "handler_unknown",
            json!({ "config": { "image": "a:1", "services": [{ "internal_port": 80, "ports": [{ "port": 443, "handlers": ["gopher"] }] }] } }),
        ),
        (
            "file_mode_negative",
            json!({ "config": { "image": "a:1", "files": [{ "guest_path": "/x", "mode": -1 }] } }),
        ),
        (
            "file_path_relative",
            json!({ "config": { "image": "a:1", "files": [{ "guest_path": "x", "mode": 420 }] } }),
        ),
        (
            "stop_signal_bogus",
            json!({ "config": { "image": "a:1", "stop_config": { "signal": "SIGBOGUS" } } }),
        ),
        (
            "restart_policy_unknown",
            json!({ "config": { "image": "a:1", "restart": { "policy": "sometimes" } } }),
        ),
        ("image_with_spaces", json!({ "config": { "image": "a b" } })),
        (
            "name_1mb_with_slash",
            json!({ "name": format!("x/{}", "n".repeat(1 << 20)), "config": { "image": "a:1" } }),
        ),
        (
            "lease_ttl_2e63",
            json!({ "lease_ttl": i64::MAX, "config": { "image": "a:1" } }),
        ),
        (
            "lease_ttl_negative",
            json!({ "lease_ttl": -1, "config": { "image": "a:1" } }),
        ),
    ];
    let mut outcomes = BTreeMap::new();
    for (name, body) in &refused {
        let resp = http
            .post(format!("{base}/apps/victim/machines"))
            .bearer_auth(&token)
            .json(body)
            .send()
            .await
            .expect("create");
        outcomes.insert(*name, resp.status().as_u16());
    }
    fig.add("refused_values_tried", refused.len());
    fig.add(
        "refused_values_answered_400",
        outcomes.values().filter(|s| **s == 400).count(),
    );
    fig.add(
        "refused_values_machines_created",
        sim.all_machines("victim").len(),
    );
    assert!(outcomes.values().all(|s| *s == 400), "{outcomes:?}");
    assert!(sim.all_machines("victim").is_empty());

    // 6. A refused update (lease_ttl 0) after a real create changes nothing.
    let m: Value = http
        .post(format!("{base}/apps/victim/machines"))
        .bearer_auth(&token)
        .json(&json!({ "name": "web", "config": { "image": "a:1" } }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = m["id"].as_str().expect("id").to_string();
    sim.advance(Duration::from_secs(1));
    let before = sim.machine("victim", &id).expect("machine");
    let refused_update = http
        .post(format!("{base}/apps/victim/machines/{id}"))
        .bearer_auth(&token)
        .json(&json!({ "name": "renamed", "lease_ttl": 0, "config": { "image": "b:2" } }))
        .send()
        .await
        .expect("update");
    let after = sim.machine("victim", &id).expect("machine");
    fig.add("refused_update_status", refused_update.status().as_u16());
    fig.add(
        "refused_update_changed_machine",
        before.instance_id != after.instance_id || after.name.as_deref() != Some("web"),
    );
    assert_eq!(refused_update.status(), 400);
    assert_eq!(before.instance_id, after.instance_id);

    // 7. An unauthenticated flood with long paths and nonces: the log stays in its budget.
    let long = "p".repeat(8 * 1024);
    let flood = 1_000;
    let mut unauthorized = 0;
    for _ in 0..flood {
        let resp = http
            .get(format!("{base}/apps/{long}?q={long}"))
            .header("fly-machine-lease-nonce", "n".repeat(4096))
            .send()
            .await
            .expect("flood");
        if resp.status() == 401 {
            unauthorized += 1;
        }
    }
    let log = sim.requests();
    fig.add("unauthenticated_flood_tried", flood);
    fig.add("unauthenticated_flood_answered_401", unauthorized);
    fig.add("request_log_bytes", sim.request_log_bytes());
    fig.add("request_log_budget_bytes", LOG_BUDGET);
    fig.add("request_log_records", log.len());
    fig.add(
        "request_log_nonces_kept",
        log.iter().filter(|r| r.lease_nonce.is_some()).count(),
    );
    assert_eq!(unauthorized, flood);
    assert!(sim.request_log_bytes() <= LOG_BUDGET);
    assert!(log.iter().all(|r| r.lease_nonce.is_none()));

    // 8. Version churn: 20 updates of a 1 MiB config, then destroy and let time pass.
    let rss_before_churn = rss_kib();
    let big = "v".repeat(1 << 20);
    for i in 0..20 {
        sim.advance(Duration::from_secs(1));
        let resp = http
            .post(format!("{base}/apps/victim/machines/{id}"))
            .bearer_auth(&token)
            .json(&json!({ "config": { "image": format!("a:{i}"), "env": { "BIG": big } } }))
            .send()
            .await
            .expect("update");
        assert_eq!(resp.status(), 200);
    }
    let versions: Vec<Value> = http
        .get(format!("{base}/apps/victim/machines/{id}/versions"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    fig.add("version_churn_updates", 20);
    fig.add("machine_state_bytes_after_churn", sim.machine_state_bytes());
    fig.add("version_churn_versions_kept", versions.len());
    assert_eq!(versions.len(), 10);
    // Ten versions of about 1 MiB each, plus the current config.
    assert!(
        sim.machine_state_bytes() < 12 << 20,
        "{}",
        sim.machine_state_bytes()
    );
    drop(versions);
    sim.advance(Duration::from_secs(1));
    let destroyed = http
        .delete(format!("{base}/apps/victim/machines/{id}?force=true"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("destroy");
    assert_eq!(destroyed.status(), 200);
    sim.advance(Duration::from_secs(2 * 3600));
    // Any request lets the emulator reap what has fallen due.
    assert!(reachable(&sim).await);
    fig.add(
        "destroyed_machines_kept_after_2h",
        sim.all_machines("victim").len(),
    );
    fig.add("machine_state_bytes_after_reap", sim.machine_state_bytes());
    assert_eq!(sim.machine_state_bytes(), 0);
    assert!(sim.all_machines("victim").is_empty());
    fig.add("rss_kib_before_churn", rss_before_churn);
    fig.add("rss_kib_after", rss_kib());

    // 9. Still serving.
    let ok = reachable(&sim).await;
    fig.add("reachable_after_all_attacks", ok);
    fig.add("open_connections_at_end", sim.open_connections());
    fig.print();
    assert!(ok);
    sim.shutdown().await;
}

/// Tokens and the Host header (issue 24, findings 12 and 13): a generated token is random, an
/// empty one is refused at start, `Authorization` is parsed strictly, a Host that names another
/// site is refused, and a minted deploy token is random, works only on its own app, and dies
/// with it.
#[tokio::test]
async fn tokens_are_random_scoped_and_strictly_parsed() {
    let mut fig = Figures::default();
    // Generated tokens differ between two emulators of the same seed.
    let a = Sim::builder().seed(1).start().await.expect("sim starts");
    let b = Sim::builder().seed(1).start().await.expect("sim starts");
    assert_ne!(
        a.token(),
        b.token(),
        "a generated token must not follow the seed"
    );
    assert!(a.token().len() >= 32);
    fig.add(
        "generated_tokens_equal_for_one_seed",
        a.token() == b.token(),
    );
    // An empty token with auth on is refused at start.
    for empty in ["", "  "] {
        let err = Sim::builder().token(empty).start().await.unwrap_err();
        assert!(err.to_string().contains("empty token"), "{err}");
    }
    fig.add("empty_token_refused", true);

    // Authorization values that must not pass, against an emulator with a real token.
    let sim = Sim::builder()
        .no_rate_limits()
        .token("strict-token")
        .start()
        .await
        .expect("sim starts");
    let mut outcomes = Vec::new();
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer x,",
        "Bearer ,strict-token",
        "Bearer strict-token,",
        "Bearer strict-token x",
        "Basic strict-token",
        "strict-token",
        "FlyV1",
    ] {
        let head = format!(
            "GET /v1/apps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: {value}\r\n\
             connection: close\r\n\r\n"
        );
        let answer = raw(&sim, head.as_bytes()).await;
        assert_eq!(status_of(&answer), 401, "{value:?}: {answer}");
        outcomes.push(answer);
    }
    fig.add("malformed_authorization_tried", outcomes.len());
    fig.add("malformed_authorization_outcomes", tally(&outcomes));

    // Host: names that only DNS says are this machine are refused; loopback names pass.
    let mut hosts = Vec::new();
    for (host, want) in [
        ("evil.example:4280", 421),
        ("localhost.evil.example", 421),
        ("127.0.0.1", 200),
        ("localhost:1", 200),
        ("[::1]:4280", 200),
        ("_api.internal:4280", 200),
    ] {
        let head = format!(
            "GET /v1/apps HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer strict-token\r\n\
             connection: close\r\n\r\n"
        );
        let answer = raw(&sim, head.as_bytes()).await;
        assert_eq!(status_of(&answer), want, "{host}: {answer}");
        hosts.push(answer);
    }
    fig.add("host_headers_tried", hosts.len());
    fig.add("host_headers_outcomes", tally(&hosts));

    // Deploy tokens: random, scoped to their app, dropped with it.
    let http = reqwest::Client::new();
    let base = sim.base_url();
    for (app, org) in [("a", "personal"), ("b", "other-org")] {
        let created = http
            .post(format!("{base}/apps"))
            .bearer_auth("strict-token")
            .json(&json!({"app_name": app, "org_slug": org}))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{}", created.status());
    }
    let mint = || async {
        let v: Value = http
            .post(format!("{base}/apps/a/deploy_token"))
            .bearer_auth("strict-token")
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().unwrap().to_string()
    };
    let (first, second) = (mint().await, mint().await);
    assert_ne!(first, second, "minted tokens are random");
    let with = |token: &str, method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .header("authorization", token)
            .json(&json!({"config": {"image": "nginx"}}))
            .send()
    };
    let own = with(&first, reqwest::Method::GET, "/apps/a/machines")
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "the token works on its own app");
    let mut scoped = Vec::new();
    for (method, path) in [
        (reqwest::Method::POST, "/apps/b/machines"),
        (reqwest::Method::GET, "/apps/b/machines"),
        (reqwest::Method::DELETE, "/apps/b"),
        (reqwest::Method::GET, "/orgs/other-org/machines"),
    ] {
        let status = with(&first, method.clone(), path).await.unwrap().status();
        assert_eq!(status, 403, "{method} {path} with app a's deploy token");
        scoped.push(status.as_u16());
    }
    fig.add("deploy_token_on_other_apps_tried", scoped.len());
    fig.add("deploy_token_on_other_apps_refused", scoped.len());
    let deleted = http
        .delete(format!("{base}/apps/a"))
        .bearer_auth("strict-token")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let after = with(&first, reqwest::Method::GET, "/apps").await.unwrap();
    assert_eq!(after.status(), 401, "a deploy token dies with its app");
    fig.add("deploy_token_after_app_delete", after.status().as_u16());
    fig.print();
}

/// 2x the connection cap of `/wait` long-polls that never end: waits past their budget are
/// answered 429 at once with their connection closed, and an ordinary GET still gets through.
#[tokio::test]
async fn long_polls_cannot_lock_out_other_clients() {
    let max = 8;
    let sim = Sim::builder()
        .manual_clock()
        .no_rate_limits()
        .token("t")
        .max_connections(max)
        .start()
        .await
        .expect("sim starts");
    let http = reqwest::Client::new();
    let base = sim.base_url();
    http.post(format!("{base}/apps"))
        .bearer_auth("t")
        .json(&json!({"app_name": "w", "org_slug": "personal"}))
        .send()
        .await
        .unwrap();
    let machine: Value = http
        .post(format!("{base}/apps/w/machines"))
        .bearer_auth("t")
        .json(&json!({"config": {"image": "nginx"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = machine["id"].as_str().unwrap().to_string();
    // Each wait on its own connection, for a state the machine never reaches (the clock is
    // manual, so the 60 s never pass).
    let mut waits = Vec::new();
    for _ in 0..max * 2 {
        let url = format!("{base}/apps/w/machines/{id}/wait?state=destroyed&timeout=60");
        waits.push(tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth("t")
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    sim.until_parked(max / 4 * 3).await;
    // An ordinary call gets through while the budget of waits is parked.
    let got = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .get(format!("{base}/apps/w/machines/{id}"))
            .bearer_auth("t")
            .send(),
    )
    .await
    .expect("an ordinary GET is not locked out by long-polls")
    .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        sim.parked_waits(),
        max / 4 * 3,
        "waits past the budget are not parked"
    );
    let mut refused = 0;
    for wait in waits.iter_mut().filter(|w| w.is_finished()) {
        if let Ok(Ok(429)) = wait.await {
            refused += 1;
        }
    }
    println!("long_polls_tried: {}", max * 2);
    println!("long_polls_parked: {}", sim.parked_waits());
    println!("long_polls_refused_429_so_far: {refused}");
    for wait in waits {
        wait.abort();
    }
}
