//! Client configuration, tokens, errors, waits and leases, against httpmock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fly_machines::{Client, ErrorCode, ManualClock, RateLimits, WaitError, WaitState};
use httpmock::Method::{DELETE, GET, POST};
use httpmock::{HttpMockResponse, MockServer};
use serde_json::json;

use crate::common::{client, machine_json};

#[tokio::test]
async fn macaroon_tokens_use_flyv1_and_others_bearer() {
    let server = MockServer::start_async().await;
    let flyv1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/apps/a")
                .header("authorization", "FlyV1 fm2_abc,fm2_def");
            then.status(200).json_body(json!({"name": "a"}));
        })
        .await;
    let bearer = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/apps/b")
                .header("authorization", "Bearer plain-token");
            then.status(200).json_body(json!({"name": "b"}));
        })
        .await;
    let make = |token: &str| {
        Client::builder()
            .token(token)
            .base_url(server.base_url())
            .build()
            .unwrap()
    };
    make("fm2_abc,fm2_def").app("a").get().await.unwrap();
    make("plain-token").app("b").get().await.unwrap();
    flyv1.assert_calls_async(1).await;
    bearer.assert_calls_async(1).await;
}

#[tokio::test]
async fn user_agent_is_sent_api_version_is_not_and_token_never_shown() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            // progenitor puts `api-version` on every request; Fly defines no such header.
            when.method(GET)
                .path("/v1/apps/a")
                .header_includes("user-agent", "fly-machines-rust/")
                .header_missing("api-version");
            then.status(200).json_body(json!({"name": "a"}));
        })
        .await;
    let c = Client::builder()
        .token("fm2_topsecret")
        .base_url(server.base_url())
        .build()
        .unwrap();
    c.app("a").get().await.unwrap();
    mock.assert_calls_async(1).await;
    assert!(!format!("{c:?}").contains("topsecret"));
    assert!(!format!("{:?}", Client::builder().token("fm2_topsecret")).contains("topsecret"));
}

#[tokio::test]
async fn a_token_with_a_newline_is_rejected_before_any_request() {
    let err = Client::builder().token("abc\ndef").build().unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
    assert!(!err.to_string().contains("abc"), "{err}");
}

#[tokio::test]
async fn error_bodies_decode_known_unknown_and_non_json_codes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps");
            then.status(422)
                .header("fly-request-id", "01JREQ")
                .json_body(json!({"error": "Validation failed: Name has already been taken", "status": "name_taken"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/weird");
            then.status(400)
                .json_body(json!({"error": "odd", "status": "some_future_code"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/html");
            then.status(403)
                .header("content-type", "text/html")
                .body("<html>forbidden by proxy</html>");
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let taken = c.apps().create("a", "personal").send().await.unwrap_err();
    assert_eq!(taken.status(), Some(422));
    assert_eq!(taken.code(), Some(&ErrorCode::NameTaken));
    assert_eq!(taken.request_id(), Some("01JREQ"));
    assert!(taken.to_string().contains("already been taken"), "{taken}");
    let weird = c.app("weird").get().await.unwrap_err();
    assert_eq!(
        weird.code(),
        Some(&ErrorCode::Other("some_future_code".into()))
    );
    let html = c.app("html").get().await.unwrap_err();
    assert_eq!(html.code(), None);
    assert_eq!(html.api().unwrap().body, "<html>forbidden by proxy</html>");
    assert!(html.to_string().contains("forbidden by proxy"), "{html}");
}

#[tokio::test]
async fn bad_names_are_rejected_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!({}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    for bad in ["", "a/b", "..", "a b", "a%2F", "ünï"] {
        let err = c.app(bad).get().await.unwrap_err();
        assert!(matches!(err, fly_machines::Error::InvalidInput(_)), "{err}");
        let err = c.app("ok").machine(bad).start().await.unwrap_err();
        assert!(err.to_string().contains("machine id"), "{err}");
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn wait_tolerates_a_404_right_after_create() {
    let server = MockServer::start_async().await;
    let missing = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1/wait");
            then.status(404)
                .json_body(json!({"error": "machine not found"}))
                .up_to_n_times(2);
        })
        .await;
    let found = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/apps/a/machines/m1/wait")
                .query_param("state", "started,failed");
            then.status(200).json_body(
                json!({"ok": true, "state": "started", "version": "v2", "event_id": "e9"}),
            );
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let outcome = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Started])
        .send()
        .await
        .unwrap();
    assert_eq!(outcome.state, "started");
    assert_eq!(outcome.version.as_deref(), Some("v2"));
    missing.assert_calls_async(2).await;
    found.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_404_past_the_grace_period_is_an_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/gone/wait");
            then.status(404)
                .json_body(json!({"error": "machine not found"}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let err = c
        .app("a")
        .machine("gone")
        .wait_for(vec![WaitState::Started])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_long_wait_is_made_of_several_polls_of_at_most_60_seconds() {
    let server = MockServer::start_async().await;
    let clock = ManualClock::auto_advance();
    let polls = Arc::new(Mutex::new(Vec::new()));
    let (clock2, polls2) = (clock.clone(), polls.clone());
    server
        .mock_async(move |when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1/wait");
            then.respond_with(move |req| {
                let timeout: u64 = req
                    .query_params()
                    .iter()
                    .find(|(k, _)| k == "timeout")
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap();
                let mut polls = polls2.lock().unwrap();
                polls.push(timeout);
                // The server holds each poll for its full timeout; the third one succeeds halfway.
                if polls.len() < 3 {
                    clock2.advance(Duration::from_secs(timeout));
                    HttpMockResponse::builder()
                        .status(408)
                        .body(r#"{"error":"deadline exceeded"}"#)
                        .build()
                } else {
                    clock2.advance(Duration::from_secs(10));
                    HttpMockResponse::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(r#"{"ok":true,"state":"stopped","version":"v1","event_id":"e3"}"#)
                        .build()
                }
            });
        })
        .await;
    let c = client(&server, clock.clone());
    let outcome = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Stopped])
        .timeout(Duration::from_secs(150))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome.state, "stopped");
    assert_eq!(*polls.lock().unwrap(), vec![60, 60, 30]);
    assert_eq!(clock.elapsed(), Duration::from_secs(130));
}

#[tokio::test]
async fn a_wait_that_outlives_its_deadline_says_so() {
    let server = MockServer::start_async().await;
    let clock = ManualClock::auto_advance();
    let clock2 = clock.clone();
    server
        .mock_async(move |when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1/wait");
            then.respond_with(move |_| {
                clock2.advance(Duration::from_secs(60));
                HttpMockResponse::builder().status(408).body("{}").build()
            });
        })
        .await;
    let c = client(&server, clock);
    let err = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Started])
        .timeout(Duration::from_secs(90))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        matches!(err.wait(), Some(WaitError::Timeout { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn waiting_for_destroyed_ends_at_404() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1/wait");
            then.status(404).json_body(json!({"error": "not found"}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let outcome = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Destroyed])
        .send()
        .await
        .unwrap();
    assert_eq!(outcome.state, "destroyed");
}

#[tokio::test]
async fn a_failed_machine_ends_the_wait_at_once() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/apps/a/machines/m1/wait");
            then.status(200)
                .json_body(json!({"ok": true, "state": "failed", "event_id": "e1"}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let err = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Started])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err.wait(), Some(WaitError::MachineFailed { .. })),
        "{err}"
    );
    mock.assert_calls_async(1).await;
    // Waiting for `settled` accepts `failed`.
    let ok = c
        .app("a")
        .machine("m1")
        .wait_for(vec![WaitState::Settled])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.state, "failed");
}

#[tokio::test]
async fn a_lease_nonce_is_sent_on_later_updates_and_the_lease_is_refreshed_and_released() {
    let server = MockServer::start_async().await;
    let acquire = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/apps/a/machines/m1/lease")
                .header_missing("fly-machine-lease-nonce")
                .json_body(json!({"ttl": 30, "description": "deploy"}));
            then.status(201).json_body(json!({
                "status": "success",
                "data": {"nonce": "5c35f65c9f95", "expires_at": 1708569778, "owner": "me@example.com", "version": "v1"}
            }));
        })
        .await;
    let refresh = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/apps/a/machines/m1/lease")
                .header("fly-machine-lease-nonce", "5c35f65c9f95")
                .json_body(json!({"ttl": 30}));
            then.status(201)
                .json_body(json!({"status": "success", "data": {"nonce": "5c35f65c9f95"}}));
        })
        .await;
    let update = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/apps/a/machines/m1")
                .header("fly-machine-lease-nonce", "5c35f65c9f95");
            then.status(200).json_body(machine_json("m1", "updating"));
        })
        .await;
    let release = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path("/v1/apps/a/machines/m1/lease")
                .header("fly-machine-lease-nonce", "5c35f65c9f95");
            then.status(200)
                .json_body(json!({"status": "success", "data": {"ok": true}}));
        })
        .await;
    let clock = ManualClock::manual();
    let c = crate::common::builder(&server, clock.clone())
        .build()
        .unwrap();
    let guard = c
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(30))
        .description("deploy")
        .send()
        .await
        .unwrap();
    assert_eq!(guard.nonce(), "5c35f65c9f95");
    let config = fly_machines::types::MachineConfig {
        image: Some("nginx:1.28".into()),
        ..Default::default()
    };
    guard.machine().update_config(config).await.unwrap();
    update.assert_calls_async(1).await;
    // A third of the TTL later the lease is refreshed, well before it would expire.
    refresh.assert_calls_async(0).await;
    clock.advance(Duration::from_secs(10));
    while refresh.calls_async().await == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(clock.sleeps()[0], Duration::from_secs(10));
    guard.release().await.unwrap();
    acquire.assert_calls_async(1).await;
    release.assert_calls_async(1).await;
}

#[tokio::test]
async fn lease_acquire_retries_only_conflicts() {
    let server = MockServer::start_async().await;
    let held = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/lease");
            then.status(409)
                .json_body(json!({"status": "error", "message": "lease currently held by other@example.com", "code": "invalid"}))
                .up_to_n_times(2);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/lease");
            then.status(201)
                .json_body(json!({"status": "success", "data": {"nonce": "n2"}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m2/lease");
            then.status(403).json_body(json!({"error": "forbidden"}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    let guard = c
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(30))
        .auto_refresh(false)
        .send()
        .await
        .unwrap();
    assert_eq!(guard.nonce(), "n2");
    held.assert_calls_async(2).await;
    let err = c
        .app("a")
        .machine("m2")
        .lease(Duration::from_secs(30))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    std::mem::forget(guard);
}

/// Waiting for a lease someone else holds pauses 1 s doubling to 4 s, each pause drawn between
/// half and all of its step (so two waiters do not ask in step), the last one cut at the
/// deadline, and ends with the server's conflict.
#[tokio::test]
async fn lease_acquire_pauses_are_jittered_and_end_at_the_deadline() {
    let server = MockServer::start_async().await;
    let held = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/apps/a/machines/m1/lease");
            then.status(409)
                .json_body(json!({"status": "error", "message": "lease currently held by other@example.com", "code": "invalid"}));
        })
        .await;
    let clock = ManualClock::auto_advance();
    let c = client(&server, clock.clone());
    let err = c
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(30))
        .acquire_timeout(Duration::from_secs(40))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.iter().sum::<Duration>(), Duration::from_secs(40));
    held.assert_calls_async(sleeps.len() + 1).await;
    let steps = [1, 2, 4].into_iter().chain(std::iter::repeat(4));
    let (last, pauses) = sleeps.split_last().unwrap();
    for (pause, step) in pauses.iter().zip(steps.clone()) {
        let step = Duration::from_secs(step);
        assert!(
            *pause >= step / 2 && *pause <= step,
            "pause {pause:?} outside [{:?}, {step:?}]: {sleeps:?}",
            step / 2
        );
    }
    assert!(*last <= Duration::from_secs(4), "{sleeps:?}");
    // Jittered: the 4 s steps are not all taken whole.
    assert!(
        pauses[2..].iter().any(|p| *p != Duration::from_secs(4)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn releasing_a_lease_that_is_gone_is_not_an_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(DELETE).path("/v1/apps/a/machines/m1/lease");
            then.status(404)
                .json_body(json!({"status": "error", "message": "lease not found"}));
        })
        .await;
    let c = client(&server, ManualClock::auto_advance());
    c.app("a")
        .machine("m1")
        .release_lease("old-nonce")
        .await
        .unwrap();
}

#[tokio::test]
async fn list_filters_travel_as_query_parameters() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/apps/a/machines")
                .query_param("region", "iad")
                .query_param("state", "started")
                .query_param("metadata.role", "worker");
            then.status(200)
                .json_body(json!([machine_json("m1", "started")]));
        })
        .await;
    let c = Client::builder()
        .token("t")
        .base_url(server.base_url())
        .rate_limits(RateLimits::off())
        .build()
        .unwrap();
    let found = c
        .app("a")
        .machines()
        .list()
        .region("iad")
        .state(fly_machines::MachineState::Started)
        .metadata("role", "worker")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    mock.assert_calls_async(1).await;
}
