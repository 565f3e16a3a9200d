//! The issue #14 surface over real HTTP: named setters reach the wire in Fly's units, every
//! builder is awaitable directly and through `.send()`, answers carry their handle and version,
//! config changes run under a lease, waits have shortcuts and fan out with a bound, and a
//! non-idempotent call is repeated only when the caller opts in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fly_machines::{
    Client, IpKind, MachineState, ProcessSort, RetryPolicy, Signal, SortOrder, WaitState, types,
};
use fly_machines_httpmock::{FlyErrors, MockServerExt, ServerError};
use httpmock::MockServer;
use serde_json::json;

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";
const NONCE: &str = "nonce-do-not-print-7f3a";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .test_server(server.base_url())
        .build()
        .unwrap()
}

fn machine(state: &str, version: &str, image: &str) -> types::Machine {
    serde_json::from_value(json!({
        "id": MACHINE,
        "state": state,
        "instance_id": version,
        "region": "iad",
        "config": {"image": image, "metadata": {"tenant": "acme"}, "env": {"PORT": "8080"}},
    }))
    .unwrap()
}

#[tokio::test]
async fn stop_sends_a_typed_signal_and_a_go_duration() {
    let server = MockServer::start_async().await;
    let stop = server.machines_stop(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .body(&types::StopRequest {
                signal: Some(types::StopRequestSignal::Sigint),
                timeout: Some("1500ms".into()),
            });
        then.into_inner().status(200);
    });
    let m = client(&server).app(APP).machine(MACHINE);
    m.stop()
        .signal(Signal::Int)
        .timeout(Duration::from_millis(1500))
        .await
        .unwrap();
    stop.assert_calls_async(1).await;
    // A signal Fly does not take for a stop is refused before any request.
    let err = m.stop().signal(Signal::Pipe).await.unwrap_err();
    assert!(err.to_string().contains("SIGPIPE"), "{err}");
    stop.assert_calls_async(1).await;
}

#[tokio::test]
async fn exec_timeout_goes_out_in_whole_seconds_rounded_up_and_is_range_checked() {
    let server = MockServer::start_async().await;
    let exec = server.machines_exec(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .body(&types::MachineExecRequest {
                command: Some(vec!["uname".into(), "-a".into()]),
                timeout: Some(2),
                stdin: Some("input".into()),
                ..Default::default()
            });
        then.ok(&types::ExecResponse {
            exit_code: Some(0),
            stdout: Some("Linux".into()),
            ..Default::default()
        });
    });
    let m = client(&server).app(APP).machine(MACHINE);
    let out = m
        .exec(["uname", "-a"])
        .timeout(Duration::from_millis(1500))
        .stdin("input")
        .await
        .unwrap();
    assert_eq!(out.stdout.as_deref(), Some("Linux"));
    exec.assert_calls_async(1).await;
    for bad in [Duration::ZERO, Duration::from_secs(3601), Duration::MAX] {
        let err = m.exec(["true"]).timeout(bad).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exec timeout") && text.contains("1 s to 3600 s"),
            "{text}"
        );
    }
    let err = m.exec(Vec::<String>::new()).await.unwrap_err();
    assert!(err.to_string().contains("exec command"), "{err}");
    exec.assert_calls_async(1).await;
}

#[tokio::test]
async fn one_long_poll_takes_typed_states_and_a_range_checked_hold() {
    let server = MockServer::start_async().await;
    let wait = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path(format!("/v1/apps/{APP}/machines/{MACHINE}/wait"))
                .query_param("state", "started,stopped")
                .query_param("timeout", "2")
                .query_param("version", "v2")
                .query_param("from_event_id", "ev-1");
            then.status(200)
                .json_body(json!({"ok": true, "state": "stopped", "version": "v2"}));
        })
        .await;
    let m = client(&server).app(APP).machine(MACHINE);
    let answer = m
        .wait_once([WaitState::Started, WaitState::Stopped])
        .timeout(Duration::from_millis(1500))
        .version("v2")
        .from_event_id("ev-1")
        .await
        .unwrap();
    assert_eq!(answer.state(), MachineState::Stopped);
    wait.assert_calls_async(1).await;
    for bad in [Duration::ZERO, Duration::from_millis(60_001), Duration::MAX] {
        let err = m
            .wait_once([WaitState::Started])
            .timeout(bad)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("wait timeout") && text.contains("1 to 60 seconds"),
            "{text}"
        );
    }
    wait.assert_calls_async(1).await;
}

#[tokio::test]
async fn metadata_changes_take_pairs_and_named_guards() {
    let server = MockServer::start_async().await;
    let replace = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PUT)
                .path(format!("/v1/apps/{APP}/machines/{MACHINE}/metadata"))
                .json_body(json!({
                    "metadata": {"role": "web", "tier": "1"},
                    "machine_version": "v7",
                    "updated_at": "2026-11-30T10:00:00Z",
                }));
            then.status(204);
        })
        .await;
    let merge = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path(format!("/v1/apps/{APP}/machines/{MACHINE}/metadata"))
                .json_body(json!({"metadata": {"canary": ""}}));
            then.status(204);
        })
        .await;
    let m = client(&server).app(APP).machine(MACHINE);
    m.metadata()
        .replace([("role", "web"), ("tier", "1")])
        .if_version("v7")
        .if_updated_at("2026-11-30T10:00:00Z")
        .await
        .unwrap();
    let mut removals = std::collections::BTreeMap::new();
    removals.insert("canary".to_string(), String::new());
    m.metadata().merge(removals).await.unwrap();
    replace.assert_calls_async(1).await;
    merge.assert_calls_async(1).await;
    let err = m.metadata().replace([("bad key/", "x")]).await.unwrap_err();
    assert!(err.to_string().contains("metadata key"), "{err}");
    replace.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_ip_is_assigned_by_kind_with_named_options() {
    let server = MockServer::start_async().await;
    let flycast = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path(format!("/v1/apps/{APP}/ip_assignments"))
                .json_body(json!({"type": "private_v6", "network": "backend", "org_slug": "acme"}));
            then.status(200)
                .json_body(json!({"ip": "fdaa:0:1::3", "type": "private_v6"}));
        })
        .await;
    let regional = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path(format!("/v1/apps/{APP}/ip_assignments"))
                .json_body(json!({"type": "v6", "region": "iad", "service_name": "web"}));
            then.status(200).json_body(json!({"ip": "2a09:8280:1::9"}));
        })
        .await;
    let ips = client(&server).app(APP).ip_assignments();
    let private = ips
        .assign(IpKind::PrivateV6)
        .network("backend")
        .org_slug("acme")
        .await
        .unwrap();
    assert_eq!(private.ip.as_deref(), Some("fdaa:0:1::3"));
    ips.assign(IpKind::V6)
        .region("iad")
        .service_name("web")
        .await
        .unwrap();
    flycast.assert_calls_async(1).await;
    regional.assert_calls_async(1).await;
    let err = ips
        .assign(IpKind::SharedV4)
        .network("backend")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("shared_v4") && err.to_string().contains("PrivateV6"),
        "{err}"
    );
}

#[tokio::test]
async fn placements_take_a_guest_and_named_options() {
    let server = MockServer::start_async().await;
    let placements = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path("/v1/platform/placements")
                .json_body(json!({
                    "org_slug": "acme",
                    "compute": {"cpu_kind": "shared", "cpus": 2, "memory_mb": 512},
                    "count": 3,
                    "region": "iad,ord",
                    "volume_name": "data",
                    "volume_size_bytes": 10_737_418_240_u64,
                }));
            then.status(200)
                .json_body(json!({"regions": [{"region": "iad", "count": 3}]}));
        })
        .await;
    let platform = client(&server).platform();
    let answer = platform
        .placements("acme")
        .guest(fly_machines::guest::Guest::shared(2).unwrap())
        .count(3)
        .regions(["iad", "ord"])
        .volume_name("data")
        .volume_size_bytes(10 << 30)
        .await
        .unwrap();
    assert_eq!(answer.regions.map(|r| r.len()), Some(1));
    placements.assert_calls_async(1).await;
    let err = platform
        .placements("acme")
        .volume_size_bytes(u64::MAX)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("volume size"), "{err}");
    let err = platform.placements("").await.unwrap_err();
    assert!(err.to_string().contains("organization slug"), "{err}");
    placements.assert_calls_async(1).await;
}

#[tokio::test]
async fn secret_keys_are_set_or_generated_by_type() {
    let server = MockServer::start_async().await;
    let set = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path(format!("/v1/apps/{APP}/secretkeys/signing"))
                .json_body(json!({"type": "hmac", "value": "c2VjcmV0"}));
            then.status(201)
                .json_body(json!({"name": "signing", "type": "hmac"}));
        })
        .await;
    let generate = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path(format!("/v1/apps/{APP}/secretkeys/box/generate"))
                .json_body(json!({"type": "nacl_box"}));
            then.status(201)
                .json_body(json!({"name": "box", "type": "nacl_box"}));
        })
        .await;
    let keys = client(&server).app(APP).secret_keys();
    keys.set("signing", "hmac").value("c2VjcmV0").await.unwrap();
    keys.generate("box", "nacl_box").await.unwrap();
    set.assert_calls_async(1).await;
    generate.assert_calls_async(1).await;
    let sealed = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path(format!("/v1/apps/{APP}/secretkeys/box/encrypt"))
                .query_param("min_version", "3")
                .json_body(json!({"plaintext": "aGk=", "associated_data": "YWQ="}));
            then.status(200)
                .json_body(json!({"ciphertext": "c2VhbGVk"}));
        })
        .await;
    let out = keys
        .encrypt("box", "aGk=")
        .associated_data("YWQ=")
        .min_version("3")
        .await
        .unwrap();
    assert_eq!(out.ciphertext.as_deref(), Some("c2VhbGVk"));
    sealed.assert_calls_async(1).await;
    let err = keys.generate("box", "nacl box").await.unwrap_err();
    assert!(err.to_string().contains("secret key type"), "{err}");
    generate.assert_calls_async(1).await;
}

#[tokio::test]
async fn token_requests_take_named_options() {
    let server = MockServer::start_async().await;
    let oidc = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path("/v1/tokens/oidc")
                .json_body(json!({"aud": "sts.amazonaws.com", "aws_principal_tags": true}));
            then.status(200)
                .header("content-type", "text/plain")
                .body("eyJ.oidc.token");
        })
        .await;
    let authorize = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path("/v1/tokens/authorize")
                .json_body(json!({"header": "FlyV1 fm2_x", "access": {"app_name": APP}}));
            then.status(200).json_body(json!({}));
        })
        .await;
    let tokens = client(&server).tokens();
    let token = tokens
        .oidc()
        .audience("sts.amazonaws.com")
        .aws_principal_tags()
        .await
        .unwrap();
    assert_eq!(token, "eyJ.oidc.token");
    let access = types::TokenAccess {
        app_name: Some(APP.into()),
        ..Default::default()
    };
    tokens.authorize("FlyV1 fm2_x", access).await.unwrap();
    oidc.assert_calls_async(1).await;
    authorize.assert_calls_async(1).await;
}

#[tokio::test]
async fn query_options_are_named_setters() {
    let server = MockServer::start_async().await;
    let events = server.machines_events(|when, then| {
        when.app_name(APP).machine_id(MACHINE).limit(10);
        then.ok(&vec![]);
    });
    let ps = server.machines_processes(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .sort_by(ProcessSort::Cpu)
            .order("desc");
        then.ok(&vec![]);
    });
    let delete = server.machines_delete(|when, then| {
        when.app_name(APP).machine_id(MACHINE).force(true);
        then.into_inner().status(200);
    });
    let restart = server.machines_restart(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .signal(types::MachinesRestartSignal::Sighup)
            .timeout("30s");
        then.into_inner().status(200);
    });
    let list = server.machines_list(|when, then| {
        when.app_name(APP)
            .region("iad")
            .state("started")
            .into_inner()
            .query_param("metadata.role", "web")
            .query_param("metadata.tenant", "acme")
            .query_param_missing("include_deleted");
        then.ok(&vec![machine("started", "v1", "nginx")]);
    });
    let m = client(&server).app(APP).machine(MACHINE);
    m.events().limit(10).await.unwrap();
    m.processes()
        .sort_by(ProcessSort::Cpu)
        .order(SortOrder::Descending)
        .await
        .unwrap();
    m.delete().force().await.unwrap();
    m.restart()
        .signal(Signal::Hup)
        .timeout(Duration::from_secs(30))
        .await
        .unwrap();
    let found = client(&server)
        .app(APP)
        .machines()
        .list()
        .metadata("role", "web")
        .metadata("tenant", "acme")
        .state(MachineState::Started)
        .region("iad")
        .await
        .unwrap();
    assert_eq!(found[0].handle().id(), MACHINE);
    for mock in [events, ps, delete, restart, list] {
        mock.assert_calls_async(1).await;
    }
}

/// The same builder finished both ways makes the same call.
#[tokio::test]
async fn every_builder_is_awaitable_directly_and_through_send() {
    let server = MockServer::start_async().await;
    let get = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started", "v1", "nginx"));
    });
    let start = server.machines_start(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&types::StartMachineResponse::default());
    });
    let versions = server.machines_versions(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&vec![]);
    });
    let m = client(&server).app(APP).machine(MACHINE);
    let direct = m.get().await.unwrap();
    let sent = m.get().send().await.unwrap();
    assert_eq!(direct.data(), sent.data());
    m.start().await.unwrap();
    m.start().send().await.unwrap();
    m.versions().await.unwrap();
    m.versions().send().await.unwrap();
    for mock in [get, start, versions] {
        mock.assert_calls_async(2).await;
    }
}

/// A create answers with data read through accessors and the handle for the next call.
#[tokio::test]
async fn create_returns_the_handle_and_a_version_pinned_wait() {
    let server = MockServer::start_async().await;
    let config = fly_machines::builders::machine_config("nginx:1.27")
        .build()
        .unwrap();
    let create = server.machines_create(|when, then| {
        when.app_name(APP).body(&types::CreateMachineRequest {
            config: Some(config.clone()),
            region: Some("iad".into()),
            lease_ttl: Some(30),
            skip_launch: Some(true),
            ..Default::default()
        });
        then.ok(&machine("created", "v1", "nginx:1.27"));
    });
    let wait = server.machines_wait_for(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .version("v1")
            .state("started,failed");
        then.ok(&types::WaitMachineResponse {
            ok: Some(true),
            state: Some("started".into()),
            version: Some("v1".into()),
            event_id: None,
        });
    });
    let created = client(&server)
        .app(APP)
        .machines()
        .create(config)
        .region("iad")
        .lease_ttl(Duration::from_millis(29_001))
        .skip_launch()
        .await
        .unwrap();
    assert_eq!(created.id(), MACHINE);
    assert_eq!(created.state(), MachineState::Created);
    assert_eq!(created.metadata("tenant"), Some("acme"));
    assert_eq!(created.env("PORT"), Some("8080"));
    assert_eq!(created.handle().id(), MACHINE);
    let outcome = created.wait_started(Duration::from_secs(60)).await.unwrap();
    assert_eq!(outcome.state, MachineState::Started);
    assert_eq!(outcome.version.as_deref(), Some("v1"));
    create.assert_calls_async(1).await;
    wait.assert_calls_async(1).await;
}

/// `update_image` takes a lease, reads, edits and writes the config carrying the nonce, then
/// releases the lease; the answer's wait uses the new version; the nonce shows nowhere.
#[tokio::test]
async fn update_image_runs_under_a_lease_and_waits_on_the_new_version() {
    let server = MockServer::start_async().await;
    let acquire = server.machines_lease(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .fly_machine_lease_nonce(None)
            .body(&types::CreateLeaseRequest {
                description: Some("deploy v2".into()),
                ttl: Some(45),
            });
        then.created_envelope(&types::LeaseEnvelope {
            status: Some("success".into()),
            data: Some(types::Lease {
                nonce: Some(NONCE.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    let read = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started", "v1", "app:v1"));
    });
    let mut next = machine("started", "v1", "app:v2").config.unwrap();
    next.metadata = Some([("tenant".to_string(), "acme".to_string())].into());
    let write = server.machines_update(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .fly_machine_lease_nonce(NONCE)
            .body(&types::UpdateMachineRequest {
                config: Some(next.clone()),
                // The version that was read: a change by anyone in between is refused (409).
                current_version: Some("v1".into()),
                ..Default::default()
            });
        then.ok(&machine("replacing", "v2", "app:v2"));
    });
    let release = server.machines_release_lease(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .fly_machine_lease_nonce(NONCE);
        then.ok(&types::LeaseReleaseEnvelope::default());
    });
    let wait = server.machines_wait_for(|when, then| {
        when.app_name(APP).machine_id(MACHINE).version("v2");
        then.ok(&types::WaitMachineResponse {
            ok: Some(true),
            state: Some("started".into()),
            version: Some("v2".into()),
            event_id: None,
        });
    });
    let m = client(&server).app(APP).machine(MACHINE);
    let updated = m
        .update_image("app:v2")
        .lease_ttl(Duration::from_secs(45))
        .lease_description("deploy v2")
        .await
        .unwrap();
    assert_eq!(updated.image(), Some("app:v2"));
    assert_eq!(updated.version(), Some("v2"));
    // The lease is gone: the answer's handle carries no nonce, and nothing prints it.
    assert_eq!(updated.handle().lease_nonce(), None);
    assert!(!format!("{updated:?}").contains(NONCE));
    updated.wait_started(Duration::from_secs(60)).await.unwrap();
    for mock in [acquire, read, write, release, wait] {
        mock.assert_calls_async(1).await;
    }
}

/// When the write fails, the lease is still given back and the write's error is reported.
#[tokio::test]
async fn modify_config_releases_the_lease_when_the_change_fails() {
    let server = MockServer::start_async().await;
    server.machines_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.created_envelope(&types::LeaseEnvelope {
            data: Some(types::Lease {
                nonce: Some(NONCE.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started", "v1", "app:v1"));
    });
    let write = server.machines_update(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.into_inner()
            .status(422)
            .json_body(json!({"error": "invalid guest"}));
    });
    let release = server.machines_release_lease(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .fly_machine_lease_nonce(NONCE);
        then.ok(&types::LeaseReleaseEnvelope::default());
    });
    let err = client(&server)
        .app(APP)
        .machine(MACHINE)
        .modify_config(|c| {
            c.env
                .get_or_insert_with(Default::default)
                .insert("MODE".into(), "fast".into());
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(!err.to_string().contains(NONCE));
    write.assert_calls_async(1).await;
    release.assert_calls_async(1).await;
}

#[tokio::test]
async fn destroy_and_wait_counts_a_404_as_gone() {
    let server = MockServer::start_async().await;
    let delete = server.machines_delete(|when, then| {
        when.app_name(APP).machine_id(MACHINE).force(true);
        then.into_inner().status(200);
    });
    let wait = server.machines_wait_for(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .state("destroyed,failed");
        then.into_inner()
            .status(404)
            .json_body(json!({"error": "machine not found"}));
    });
    let outcome = client(&server)
        .app(APP)
        .machine(MACHINE)
        .destroy_and_wait(Duration::from_secs(30))
        .force()
        .await
        .unwrap();
    assert_eq!(outcome.state, MachineState::Destroyed);
    delete.assert_calls_async(1).await;
    wait.assert_calls_async(1).await;
}

#[tokio::test]
async fn wait_stopped_asks_for_stopped() {
    let server = MockServer::start_async().await;
    let wait = server.machines_wait_for(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .state("stopped,failed")
            .version(None);
        then.ok(&types::WaitMachineResponse {
            ok: Some(true),
            state: Some("stopped".into()),
            ..Default::default()
        });
    });
    let outcome = client(&server)
        .app(APP)
        .machine(MACHINE)
        .wait_stopped(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(outcome.state, "stopped");
    wait.assert_calls_async(1).await;
}

/// An exec that meets a 503 is not repeated (the command may have run); with `retry_unsafe`
/// the caller accepts that and it is.
#[tokio::test]
async fn a_non_idempotent_call_is_retried_only_on_opt_in() {
    let server = MockServer::start_async().await;
    let failing = server.machines_exec(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_server_error(ServerError::Unavailable);
    });
    let c = Client::builder()
        .test_server(server.base_url())
        .retry(RetryPolicy::default().jitter(false).max_attempts(2))
        .build()
        .unwrap();
    let m = c.app(APP).machine(MACHINE);
    let err = m.exec(["true"]).await.unwrap_err();
    assert_eq!((err.status(), err.attempts()), (Some(503), Some(1)));
    failing.assert_calls_async(1).await;
    let err = m.exec(["true"]).retry_unsafe().await.unwrap_err();
    assert_eq!((err.status(), err.attempts()), (Some(503), Some(2)));
    failing.assert_calls_async(3).await;
    failing.delete_async().await;
    // A create without an idempotency key is the same.
    let create = server.machines_create(|when, then| {
        when.app_name(APP);
        then.fly_server_error(ServerError::BadGateway);
    });
    let config = fly_machines::builders::machine_config("nginx")
        .build()
        .unwrap();
    let machines = c.app(APP).machines();
    machines.create(config.clone()).await.unwrap_err();
    create.assert_calls_async(1).await;
    machines.create(config).retry_unsafe().await.unwrap_err();
    create.assert_calls_async(3).await;
}

/// A stand-in for `/wait` that holds each long-poll until a batch of `bound` is open at once
/// (or every machine has asked), and records the most it ever saw open.
mod fan_out {
    use super::*;
    use axum::extract::State;
    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct Holder {
        pub open: Arc<AtomicUsize>,
        pub most: Arc<AtomicUsize>,
        arrived: Arc<AtomicUsize>,
        arrivals: watch::Sender<usize>,
        bound: usize,
        total: usize,
    }

    async fn wait(State(h): State<Holder>) -> axum::Json<serde_json::Value> {
        let open = h.open.fetch_add(1, Ordering::SeqCst) + 1;
        h.most.fetch_max(open, Ordering::SeqCst);
        let index = h.arrived.fetch_add(1, Ordering::SeqCst);
        h.arrivals.send_replace(index + 1);
        // Hold until the batch this request belongs to is complete.
        let batch_end = ((index / h.bound) + 1) * h.bound;
        let release_at = batch_end.min(h.total);
        let mut arrivals = h.arrivals.subscribe();
        arrivals
            .wait_for(|n| *n >= release_at)
            .await
            .expect("sender lives");
        h.open.fetch_sub(1, Ordering::SeqCst);
        axum::Json(json!({"ok": true, "state": "started"}))
    }

    pub async fn start(bound: usize, total: usize) -> (String, Holder) {
        let holder = Holder {
            open: Arc::default(),
            most: Arc::default(),
            arrived: Arc::default(),
            arrivals: watch::channel(0).0,
            bound,
            total,
        };
        let app = axum::Router::new()
            .route(
                "/v1/apps/{app}/machines/{id}/wait",
                axum::routing::get(wait),
            )
            .with_state(holder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), holder)
    }
}

/// Twenty machines, at most five long-polls open at a time: the server sees exactly five at
/// once, and every machine gets its own result in order. A tighter bound never fills a batch,
/// and a looser one puts the batches out of step (or shows more than five open): either way the
/// run stalls and the watchdog fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_all_keeps_at_most_the_bound_in_flight() {
    const TOTAL: usize = 20;
    const BOUND: usize = 5;
    let (base_url, holder) = fan_out::start(BOUND, TOTAL).await;
    let c = Client::builder().test_server(base_url).build().unwrap();
    let app = c.app(APP);
    let machines: Vec<_> = (0..TOTAL)
        .map(|i| app.machine(format!("m{i:02}")))
        .collect();
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        app.machines()
            .wait_all(&machines, [WaitState::Started])
            .max_in_flight(BOUND)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .expect("the waits did not go out in batches of exactly 5");
    assert_eq!(results.len(), TOTAL);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| o.state == "started"))
    );
    assert_eq!(holder.most.load(Ordering::SeqCst), BOUND);
    assert_eq!(holder.open.load(Ordering::SeqCst), 0);
}

/// A lost answer to the update under a lease is checked, not resent blindly: the machine is
/// read again, and a version that moved means the update was applied.
#[tokio::test]
async fn a_lost_update_under_a_lease_is_recognised_as_applied() {
    let server = MockServer::start_async().await;
    server.machines_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.created_envelope(&types::LeaseEnvelope {
            data: Some(types::Lease {
                nonce: Some(NONCE.into()),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    // First read: v1; every read after the update: v2.
    let first = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started", "v1", "app:v1"));
    });
    let write = server.machines_update(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.into_inner().status(502).body("bad gateway");
    });
    server.machines_release_lease(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&types::LeaseReleaseEnvelope::default());
    });
    let c = client(&server);
    let m = c.app(APP).machine(MACHINE);
    let changed = tokio::spawn(async move { m.update_image("app:v2").await });
    // Let the first read happen, then switch the machine to v2.
    while first.calls_async().await == 0 {
        tokio::task::yield_now().await;
    }
    first.delete_async().await;
    server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.ok(&machine("started", "v2", "app:v2"));
    });
    let updated = changed.await.unwrap().unwrap();
    assert_eq!(updated.version(), Some("v2"));
    write.assert_calls_async(1).await;
}

#[test]
fn commands_come_from_slices_of_str_too() {
    let words: &[&str] = &["ls", "-l"];
    assert_eq!(
        fly_machines::Command::from(words),
        fly_machines::Command(vec!["ls".into(), "-l".into()])
    );
    let owned = vec![String::from("true")];
    assert_eq!(fly_machines::Command::from(&owned).0, ["true"]);
}

#[test]
fn exec_answers_have_accessors() {
    let ok: types::ExecResponse =
        serde_json::from_value(json!({"stdout": "hi\n", "exit_code": 0})).unwrap();
    assert_eq!(
        (ok.stdout(), ok.stderr(), ok.exit_code()),
        ("hi\n", "", Some(0))
    );
    assert!(ok.is_success());
    let failed: types::ExecResponse =
        serde_json::from_value(json!({"stderr": "no", "exit_code": 2})).unwrap();
    assert!(!failed.is_success() && failed.stderr() == "no");
    let killed: types::ExecResponse = serde_json::from_value(json!({"exit_signal": 9})).unwrap();
    assert!(!killed.is_success() && killed.exit_signal() == Some(9));
}

/// `wait_all` answers one result per machine and the whole at once.
#[tokio::test]
async fn wait_all_gives_an_aggregate() {
    let server = MockServer::start_async().await;
    server.machines_wait_for(|when, then| {
        when.app_name(APP).machine_id("good");
        then.ok(&types::WaitMachineResponse {
            ok: Some(true),
            state: Some("started".into()),
            ..Default::default()
        });
    });
    server.machines_wait_for(|when, then| {
        when.app_name(APP).machine_id("bad");
        then.ok(&types::WaitMachineResponse {
            ok: Some(true),
            state: Some("failed".into()),
            ..Default::default()
        });
    });
    let app = client(&server).app(APP);
    let machines = [app.machine("good"), app.machine("bad")];
    let all = app
        .machines()
        .wait_all(&machines, [WaitState::Started])
        .await;
    assert_eq!(all.len(), 2);
    assert!(all[0].is_ok() && !all.all_ok());
    assert_eq!(all.failed_count(), 1);
    let failures: Vec<_> = all.failures().map(|(id, _)| id.to_string()).collect();
    assert_eq!(failures, ["bad"]);
    let err = all.into_result().unwrap_err();
    assert!(err.to_string().contains("bad"), "{err}");
}

/// Handles are cheap to clone and builders own what they need (a clone of their handle and
/// their arguments), so a call can be made inside a retry closure from a temporary handle,
/// returned from a function, or spawned, and awaited without `.into_future()`.
mod owned_builders {
    use super::*;
    use fly_machines::{App, MachineSnapshot, Paged};
    use std::future::IntoFuture;

    /// A retry helper as a user writes one: it takes any closure that makes something
    /// awaitable, so a closure that returns a builder is passed as it is.
    async fn retry<F, B, T>(attempts: u32, mut call: F) -> fly_machines::Result<T>
    where
        F: FnMut() -> B,
        B: IntoFuture<Output = fly_machines::Result<T>>,
    {
        let mut tries = 1;
        loop {
            match call().await {
                Err(e) if e.is_ambiguous() && tries < attempts => tries += 1,
                done => return done,
            }
        }
    }

    /// A call made now and sent later, by whoever gets it: nothing in it borrows `app`.
    fn set_later(
        app: &App,
    ) -> impl IntoFuture<Output = fly_machines::Result<types::SetAppSecretResponse>> + Send + 'static
    {
        app.secrets().set("API_KEY", "later")
    }

    /// The same with a borrowed argument: the builder keeps its own copy of the id.
    fn get_later(
        app: &App,
        id: &str,
    ) -> impl IntoFuture<Output = fly_machines::Result<MachineSnapshot>> + Send + 'static {
        app.machine(id).get()
    }

    fn assert_owned<T: Send + 'static>(_: &T) {}

    fn without_retries(server: &MockServer) -> Client {
        Client::builder()
            .test_server(server.base_url())
            .retry(RetryPolicy::none())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_retry_closure_returns_a_builder_made_from_a_temporary_handle() {
        let server = MockServer::start_async().await;
        let failing = server.secrets_set(|when, then| {
            when.app_name(APP).secret_name("API_KEY");
            then.fly_server_error(ServerError::Unavailable);
        });
        let app = without_retries(&server).app(APP);
        // `app.secrets()` is a temporary and "v1" a borrowed str: the builder owns both.
        let err = retry(3, || app.secrets().set("API_KEY", "v1"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(503));
        failing.assert_calls_async(3).await;
        failing.delete_async().await;

        let set = server.secrets_set(|when, then| {
            when.app_name(APP).secret_name("API_KEY");
            then.into_inner()
                .status(201)
                .json_body(json!({"name": "API_KEY", "version": 2}));
        });
        // A `move` closure over a clone of the handle, called after the original is gone.
        let make = {
            let app = app.clone();
            let value = String::from("v2");
            move || app.secrets().set("API_KEY", &value)
        };
        drop(app);
        let answer = retry(3, make).await.unwrap();
        assert_eq!(answer.version, Some(2));
        set.assert_calls_async(1).await;
    }

    #[tokio::test]
    async fn a_builder_returned_from_a_function_or_spawned_runs_on_its_own() {
        let server = MockServer::start_async().await;
        let set = server.secrets_set(|when, then| {
            when.app_name(APP)
                .secret_name("API_KEY")
                .body(&types::SetAppSecretRequest {
                    value: Some("later".into()),
                });
            then.into_inner()
                .status(201)
                .json_body(json!({"name": "API_KEY", "version": 3}));
        });
        let show = server.machines_get(|when, then| {
            when.app_name(APP).machine_id(MACHINE);
            then.into_inner()
                .status(200)
                .json_body_obj(&machine("started", "v7", "nginx"));
        });
        let list = server.machines_list(|when, then| {
            when.app_name(APP);
            then.into_inner()
                .status(200)
                .json_body_obj(&vec![machine("started", "v7", "nginx")]);
        });
        let client = client(&server);
        let (later, get) = {
            let app = client.app(APP);
            let id = MACHINE.to_string();
            (set_later(&app), get_later(&app, &id))
        };
        assert_eq!(later.await.unwrap().version, Some(3));
        assert_eq!(get.await.unwrap().version(), Some("v7"));

        // Spawned: the task needs `Send + 'static`, which an owned builder's future is.
        let machines = client.app(APP).machines();
        let started = tokio::spawn(client.app(APP).machine(MACHINE).get().into_future());
        let listed = tokio::spawn(machines.list().page_size(10).send());
        assert_eq!(started.await.unwrap().unwrap().id(), MACHINE);
        assert_eq!(listed.await.unwrap().unwrap().len(), 1);
        // The handle the list was made from is still there to use.
        machines.list().await.unwrap();
        set.assert_calls_async(1).await;
        show.assert_calls_async(2).await;
        list.assert_calls_async(2).await;
    }

    #[test]
    fn every_resource_s_builders_own_what_they_need() {
        let client = Client::builder()
            .test_server("http://127.0.0.1:9")
            .build()
            .unwrap();
        let app = client.app(APP);
        let machine = app.machine(MACHINE);
        let config = fly_machines::builders::machine_config("nginx")
            .build()
            .unwrap();
        let d = Duration::from_secs(1);
        assert_owned(&client.apps().list("personal"));
        assert_owned(&client.apps().create("a", "personal"));
        assert_owned(&client.apps().ensure("a", "personal"));
        assert_owned(&app.get());
        assert_owned(&app.delete());
        assert_owned(&app.machines().list());
        assert_owned(&app.machines().create(config.clone()));
        assert_owned(&app.machines().ensure("key", config));
        assert_owned(&machine.get());
        assert_owned(&machine.stop());
        assert_owned(&machine.exec(["ls"]));
        assert_owned(&machine.lease(d));
        assert_owned(&machine.wait_for([WaitState::Started]));
        assert_owned(&machine.wait_started(d));
        assert_owned(&machine.wait_healthy(d));
        assert_owned(&machine.update_image("nginx:2"));
        assert_owned(&machine.modify_config(|c| c.image = Some("nginx:2".into())));
        assert_owned(&machine.metadata().merge([("role", "web")]));
        assert_owned(
            &app.machines()
                .wait_all(Vec::<MachineSnapshot>::new(), [WaitState::Started]),
        );
        assert_owned(&app.volumes().list());
        assert_owned(&app.volumes().create("data", "iad", 1));
        assert_owned(&app.volumes().ensure("data", "iad", 1));
        assert_owned(&app.volume("vol_1").get());
        assert_owned(&app.volume("vol_1").extend(2));
        assert_owned(&app.secrets().set("A", "b"));
        assert_owned(&app.secrets().get("A"));
        assert_owned(&app.secret_keys().sign("k", "aGk="));
        assert_owned(&app.certificates().get("example.com"));
        assert_owned(&app.ip_assignments().release("1.2.3.4"));
        assert_owned(&client.tokens().authenticate("FlyV1 x"));
        assert_owned(&client.org("personal").machines());
        assert_owned(&client.platform().placements("personal"));
        let cluster = client.postgres().cluster("c1");
        assert_owned(&client.postgres().clusters().list("personal"));
        assert_owned(&client.postgres().clusters().ensure("db"));
        assert_owned(&cluster.wait_ready(d));
        assert_owned(&cluster.databases().create("app"));
        assert_owned(&cluster.database("app").extensions().enable("pgvector"));
        assert_owned(&cluster.users().create("u"));
        assert_owned(&cluster.user("u").rotate_password());
        assert_owned(&cluster.slow_queries());
        // The handles themselves: clones share the client and the names.
        assert_owned(&app);
        assert_owned(&machine);
        assert_owned(&cluster);
        let _: Paged<MachineSnapshot> = app.machines().list().stream();
    }
}
