//! Retries, the retry budget, rate limiting and duplicate-free creates, against httpmock.

use std::time::Duration;

use fly_machines::types::MachineConfig;
use fly_machines::{Client, ManualClock, RateLimits, RetryPolicy};
use httpmock::Method::{GET, POST, PUT};
use httpmock::MockServer;
use serde_json::json;

use crate::common::{builder, client, machine_json};

fn config() -> MachineConfig {
    MachineConfig {
        image: Some("nginx:1.27".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn get_is_retried_after_two_429s_honouring_retry_after() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1");
            then.status(429)
                .header("retry-after", "2")
                .json_body(json!({"error": "rate limited"}))
                .up_to_n_times(2);
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1");
            then.status(200).json_body(machine_json("m1", "started"));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let machine = client(&server, clock.clone())
        .app("a")
        .machine("m1")
        .get()
        .await
        .unwrap();
    assert_eq!(machine.state.as_deref(), Some("started"));
    throttled.assert_calls_async(2).await;
    ok.assert_calls_async(1).await;
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(2), Duration::from_secs(2)]
    );
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a");
            then.status(429)
                .header("retry-after", "3600")
                .up_to_n_times(1);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a");
            then.status(200).json_body(json!({"name": "a"}));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = builder(&server, clock.clone())
        .retry(
            RetryPolicy::default()
                .max_retry_after(Duration::from_secs(5))
                .max_elapsed(None),
        )
        .build()
        .unwrap();
    c.app("a").get().await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
}

#[tokio::test]
async fn create_is_not_retried_on_503() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(503)
                .header("fly-request-id", "req-503")
                .json_body(json!({"error": "upstream unavailable"}));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let err = client(&server, clock.clone())
        .app("a")
        .machines()
        .create(config())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.attempts(), Some(1));
    assert_eq!(err.request_id(), Some("req-503"));
    assert!(err.is_retryable());
    create.assert_calls_async(1).await;
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn create_is_retried_after_a_connect_error() {
    // A port nobody listens on yet: the first attempt cannot connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = ManualClock::manual();
    let c = fly_machines::Client::builder()
        .token("t")
        .base_url(format!("http://127.0.0.1:{port}"))
        .clock(clock.clone())
        .rate_limits(RateLimits::off())
        .retry(RetryPolicy::default().jitter(false))
        .build()
        .unwrap();
    let call = tokio::spawn(async move { c.app("a").machines().create(config()).send().await });
    // Wait (without sleeping) until the client backs off after the refused connection.
    while clock.sleeps().is_empty() {
        tokio::task::yield_now().await;
    }
    // Now a server appears on that port; answer one create.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut seen = Vec::new();
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if seen.len() >= head_end + 4 + length {
                    break;
                }
            }
        }
        let body = machine_json("m-new", "created").to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&seen).into_owned()
    });
    clock.advance(Duration::from_secs(5));
    let machine = call.await.unwrap().unwrap();
    assert_eq!(machine.id.as_deref(), Some("m-new"));
    let request = server.await.unwrap();
    assert!(request.starts_with("POST /v1/apps/a/machines"), "{request}");
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn idempotent_put_is_retried_on_502() {
    let server = MockServer::start_async().await;
    let bad = server
        .mock_async(|when, then| {
            when.method(PUT).path("/v1/apps/a/volumes/vol_1");
            then.status(502)
                .body("<html>bad gateway</html>")
                .up_to_n_times(1);
        })
        .await;
    let good = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path("/v1/apps/a/volumes/vol_1")
                .json_body(json!({"snapshot_retention": 7}));
            then.status(200)
                .json_body(json!({"id": "vol_1", "snapshot_retention": 7}));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let volume = client(&server, clock.clone())
        .app("a")
        .volume("vol_1")
        .update()
        .snapshot_retention_days(7)
        .await
        .unwrap();
    assert_eq!(volume.snapshot_retention, Some(7));
    bad.assert_calls_async(1).await;
    good.assert_calls_async(1).await;
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(200)]);
}

#[tokio::test]
async fn the_retry_budget_runs_out_under_a_sustained_outage() {
    let server = MockServer::start_async().await;
    let outage = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a");
            then.status(503);
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = builder(&server, clock.clone())
        .retry(
            RetryPolicy::default()
                .jitter(false)
                .max_attempts(10)
                .max_elapsed(None)
                .budget(10, 5, 10),
        )
        .build()
        .unwrap();
    let first = c.app("a").get().await.unwrap_err();
    assert_eq!(
        first.attempts(),
        Some(3),
        "two retries drain a budget of 10 at 5 each"
    );
    let second = c.app("a").get().await.unwrap_err();
    assert_eq!(
        second.attempts(),
        Some(1),
        "an empty budget allows no retry"
    );
    assert!(second.to_string().contains("503"), "{second}");
    outage.assert_calls_async(4).await;
}

#[tokio::test]
async fn limiter_admits_a_burst_of_three_then_one_per_second_and_keys_are_independent() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path_includes("/start");
            then.status(200)
                .json_body(json!({"previous_state": "stopped", "migrated": false, "new_host": ""}));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = builder(&server, clock.clone())
        .rate_limits(RateLimits::fly_defaults())
        .build()
        .unwrap();
    let app = c.app("a");
    let mut admitted = Vec::new();
    for _ in 0..6 {
        app.machine("m1").start().await.unwrap();
        admitted.push(clock.elapsed().as_secs());
    }
    assert_eq!(admitted, vec![0, 0, 0, 1, 2, 3]);
    let before = clock.elapsed();
    let starts = (0..100).map(|i| {
        let app = app.clone();
        async move { app.machine(format!("m{}", i + 100)).start().await }
    });
    for result in futures::future::join_all(starts).await {
        result.unwrap();
    }
    assert_eq!(
        clock.elapsed(),
        before,
        "100 different machines need no waiting"
    );
}

#[tokio::test]
async fn after_a_429_the_key_slows_down() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/cordon");
            then.status(429).header("retry-after", "4").up_to_n_times(1);
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/cordon");
            then.status(200);
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = builder(&server, clock.clone())
        .rate_limits(RateLimits::fly_defaults())
        .build()
        .unwrap();
    let m = c.app("a").machine("m1");
    m.cordon().await.unwrap();
    let after_first = clock.elapsed();
    assert!(after_first >= Duration::from_secs(4), "{after_first:?}");
    m.cordon().await.unwrap();
    m.cordon().await.unwrap();
    // Paced at half the sustained rate, no burst: 2 s apart.
    assert_eq!(clock.elapsed() - after_first, Duration::from_secs(4));
    ok.assert_calls_async(3).await;
}

#[tokio::test]
async fn limiter_max_wait_fails_fast_with_a_429_error() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/uncordon");
            then.status(200);
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = builder(&server, clock)
        .rate_limits(
            RateLimits::fly_defaults()
                .margin(0.0)
                .max_wait(Some(Duration::from_millis(100))),
        )
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    for _ in 0..3 {
        c.app("a").machine("m1").uncordon().await.unwrap();
    }
    let err = c.app("a").machine("m1").uncordon().await.unwrap_err();
    assert!(err.is_rate_limited(), "{err}");
    assert_eq!(err.code().map(|c| c.as_str()), Some("client_rate_limited"));
    mock.assert_calls_async(3).await;
}

/// A lookup of the key's machine that answers `first` once, then `then` for ever.
async fn lookups(
    server: &MockServer,
    key: &str,
    first: serde_json::Value,
    then: serde_json::Value,
) {
    let key = key.to_string();
    let k = key.clone();
    server
        .mock_async(move |when, then_| {
            when.method(GET)
                .path("/v1/apps/a/machines")
                .query_param("metadata.fly_machines_launch_id", k.as_str());
            then_.status(200).json_body(first).up_to_n_times(1);
        })
        .await;
    server
        .mock_async(move |when, then_| {
            when.method(GET)
                .path("/v1/apps/a/machines")
                .query_param("metadata.fly_machines_launch_id", key.as_str());
            then_.status(200).json_body(then);
        })
        .await;
}

fn tagged(id: &str, key: &str) -> serde_json::Value {
    let mut m = machine_json(id, "started");
    m["config"]["metadata"] = json!({"fly_machines_launch_id": key});
    m
}

#[tokio::test]
async fn duplicate_free_create_finds_the_machine_an_ambiguous_create_made() {
    let server = MockServer::start_async().await;
    // The server commits the machine but every answer is lost in a gateway timeout.
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/apps/a/machines")
                .json_body_includes(
                    r#"{"config": {"metadata": {"fly_machines_launch_id": "job-42"}}}"#,
                );
            then.status(504).body("gateway timeout");
        })
        .await;
    lookups(
        &server,
        "job-42",
        json!([]),
        json!([tagged("m-made", "job-42")]),
    )
    .await;
    let clock = ManualClock::auto_advance();
    let machine = client(&server, clock)
        .app("a")
        .machines()
        .create(config())
        .idempotency_key("job-42")
        .send()
        .await
        .unwrap();
    assert_eq!(machine.id.as_deref(), Some("m-made"));
    // The name makes resends safe, so the client resent within its attempts, then looked.
    create.assert_calls_async(4).await;
}

#[tokio::test]
async fn duplicate_free_create_retries_when_nothing_was_made() {
    let server = MockServer::start_async().await;
    let failing = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(502).up_to_n_times(1);
        })
        .await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(200).json_body(machine_json("m-2", "created"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines");
            then.status(200).json_body(json!([]));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let machine = client(&server, clock)
        .app("a")
        .machines()
        .create(config())
        .idempotency_key("job-7")
        .send()
        .await
        .unwrap();
    assert_eq!(machine.id.as_deref(), Some("m-2"));
    failing.assert_calls_async(1).await;
    created.assert_calls_async(1).await;
}

/// Issue 24, finding 2: the same key twice (a retry after an error, a redeploy) makes one
/// machine: the second call finds the first's machine and sends no create.
#[tokio::test]
async fn the_same_key_twice_makes_one_machine() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/apps/a/machines")
                .json_body_includes(r#"{"name": "launch-8a36d7b66f465fa5"}"#);
            then.status(200).json_body(tagged("m-1", "job-42"));
        })
        .await;
    let any_create = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(200).json_body(tagged("m-other", "job-42"));
        })
        .await;
    lookups(
        &server,
        "job-42",
        json!([]),
        json!([tagged("m-1", "job-42")]),
    )
    .await;
    let c = client(&server, ManualClock::auto_advance());
    let first = c
        .app("a")
        .machines()
        .ensure("job-42", config())
        .await
        .unwrap();
    let second = c
        .app("a")
        .machines()
        .create(config())
        .idempotency_key("job-42")
        .await
        .unwrap();
    assert!(first.was_created());
    assert_eq!(first.id(), "m-1");
    assert_eq!(second.id(), "m-1");
    let third = c
        .app("a")
        .machines()
        .ensure("job-42", config())
        .await
        .unwrap();
    assert!(third.was_found() && third.id() == "m-1");
    // One create, under the name derived from the key (so Fly refuses a second).
    create.assert_calls_async(1).await;
    any_create.assert_calls_async(0).await;
}

/// Issue 24, finding 6: creates that take effect but answer 5xx, and a machine that stays
/// invisible to lists past the grace: the repeat is refused by name (`name_taken`), the call
/// fails with that error, and it never sends a create that could make a second machine.
#[tokio::test]
async fn a_create_invisible_past_the_grace_is_not_made_twice() {
    let server = MockServer::start_async().await;
    let lost = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(503).up_to_n_times(1);
        })
        .await;
    let taken = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(422)
                .json_body(json!({"error": "name taken", "status": "name_taken"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines");
            then.status(200).json_body(json!([]));
        })
        .await;
    let err = client(&server, ManualClock::auto_advance())
        .app("a")
        .machines()
        .create(config())
        .idempotency_key("job-9")
        .visibility_grace(Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(err.is_name_taken(), "{err}");
    lost.assert_calls_async(1).await;
    taken.assert_calls_async(1).await;
}

/// Issue 24, finding 7: a create answered 2xx with a body that does not decode says the
/// machine exists (with its id and key), and is never sent again.
#[tokio::test]
async fn a_created_machine_whose_answer_does_not_decode_is_reported_not_recreated() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines");
            then.status(201)
                .header("content-type", "application/json")
                .body(r#"{"id": "m-drift", "state": {"new": "shape"}}"#);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines");
            then.status(200).json_body(json!([]));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let machines = c.app("a").machines();
    for key in [Some("job-5"), None] {
        let err = machines
            .create(config())
            .maybe_idempotency_key(key)
            .await
            .unwrap_err();
        let made = err.created_unreadable().expect("typed: the machine exists");
        assert_eq!(made.id.as_deref(), Some("m-drift"));
        assert_eq!(made.idempotency_key.as_deref(), key);
        assert_eq!(made.status, 201);
        assert!(!err.is_ambiguous() && !err.is_retryable(), "{err}");
        assert!(err.to_string().contains("m-drift"), "{err}");
    }
    create.assert_calls_async(2).await;
}

/// The public predicate: a lost answer, a timeout or 5xx may have taken effect; a refused
/// connection, a 429 or a 4xx did not.
#[tokio::test]
async fn ambiguity_is_public_and_follows_the_retry_classification() {
    let server = MockServer::start_async().await;
    for (path, status) in [("s500", 500), ("s408", 408), ("s429", 429), ("s422", 422)] {
        server
            .mock_async(move |when, then| {
                when.method(GET).path(format!("/v1/apps/{path}"));
                then.status(status).json_body(json!({"error": "x"}));
            })
            .await;
    }
    let c = builder(&server, ManualClock::auto_advance())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    for (app, ambiguous) in [
        ("s500", true),
        ("s408", true),
        ("s429", false),
        ("s422", false),
    ] {
        let err = c.app(app).get().await.unwrap_err();
        assert_eq!(err.is_ambiguous(), ambiguous, "{app}: {err}");
    }
    // Nothing listens on port 9 of loopback: the request never left.
    let refused = Client::builder()
        .token("t")
        .base_url("http://127.0.0.1:9")
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .app("a")
        .get()
        .await
        .unwrap_err();
    assert!(!refused.is_ambiguous(), "{refused}");
}

#[tokio::test]
async fn configs_fly_would_refuse_are_rejected_before_sending() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(machine_json("m", "created"));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let no_image = MachineConfig::default();
    let err = c
        .app("a")
        .machines()
        .create(no_image)
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("image"), "{err}");
    let too_big = MachineConfig {
        guest: Some(fly_machines::types::MachineGuest {
            cpu_kind: Some("shared".into()),
            cpus: Some(1),
            memory_mb: Some(4096),
            ..Default::default()
        }),
        ..config()
    };
    let err = c
        .app("a")
        .machines()
        .create(too_big)
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
    any.assert_calls_async(0).await;
}

/// Every operation declares `5XX` in its error shape, and proxies answer 5xx in any shape: each
/// reaches the caller as an API error with its real status, request id and body.
#[tokio::test]
async fn server_errors_keep_status_and_body_in_any_shape() {
    let cases: [(u16, Option<&str>, &str, &str); 3] = [
        (
            502,
            Some("text/html"),
            "<html>bad gateway</html>",
            "<html>bad gateway</html>",
        ),
        (500, None, "", ""),
        (
            503,
            Some("application/json"),
            r#"{"error": "host is draining", "status": "unavailable"}"#,
            "host is draining",
        ),
    ];
    for (status, content_type, body, message) in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST).path("/v1/apps/a/machines");
                let then = then.status(status).header("fly-request-id", "req-5xx");
                let then = match content_type {
                    Some(kind) => then.header("content-type", kind),
                    None => then,
                };
                then.body(body);
            })
            .await;
        let err = client(&server, ManualClock::auto_advance())
            .app("a")
            .machines()
            .create(config())
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{status}: {err:?}"));
        assert_eq!(api.status, status);
        assert_eq!(api.request_id.as_deref(), Some("req-5xx"));
        assert_eq!(api.message, message, "{status}");
        assert!(err.is_retryable(), "{status}");
    }
}
