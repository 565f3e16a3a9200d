//! What the real Machines API sends that its published spec does not describe, and how the
//! generated types cope: nulls where the spec promises arrays or maps, `autostop` as a boolean,
//! error codes and states outside the documented enums, the lease envelope, Go `[]byte` fields
//! sent as base64, the empty restart policy and fields we do not know about.

use std::time::Duration;

use fly_machines_api::types;
use fly_machines_api::{Client, Error, Inner};
use fly_machines_httpmock::{FlyErrors, MockServerExt, Unprocessable};
use httpmock::MockServer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";
const VERSION: &str = "01HQ73A7BFFDF1B6WMGHFZZ4E7";
const NONCE: &str = "5c35f65c9f95";

fn decode<T: DeserializeOwned>(value: Value) -> T {
    let text = value.to_string();
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} does not decode: {e}\n{text}",
            std::any::type_name::<T>()
        )
    })
}

fn encode<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Fails with the client's reason when a call was refused before anything was sent.
fn assert_sent<T, E>(result: &Result<T, Error<E>>) {
    if let Err(Error::Custom(why) | Error::InvalidRequest(why)) = result {
        panic!("the request was never sent: {why}");
    }
}

// ---------------------------------------------------------------------------------------------
// null where an array or a map is expected
// ---------------------------------------------------------------------------------------------

#[test]
fn null_arrays_and_maps_in_a_machine_decode_as_absent() {
    let machine: types::Machine = decode(json!({
        "id": "d5683210c7968e",
        "state": "stopped",
        "config": {
            "image": "flyio/fastify-functions",
            "env": null,
            "metadata": null,
            "init": {"exec": null, "entrypoint": null, "cmd": null, "kernel_args": null, "tty": false},
            "services": null,
            "checks": null,
            "mounts": null,
            "files": null,
            "processes": null,
            "containers": null,
            "statics": null,
            "standbys": null,
            "dns": {"nameservers": null, "searches": null, "options": null, "dns_forward_rules": null}
        },
        "image_ref": {"registry": "registry-1.docker.io", "repository": "flyio/fastify-functions", "labels": null},
        "events": null,
        "checks": null
    }));
    let config = machine.config.expect("config");
    assert_eq!(config.env, None);
    assert_eq!(config.metadata, None);
    let init = config.init.expect("init");
    assert_eq!((init.exec, init.entrypoint, init.cmd), (None, None, None));
    assert_eq!(init.tty, Some(false));
    assert_eq!(config.services, None);
    assert_eq!(config.checks, None);
    assert_eq!(config.mounts, None);
    assert_eq!(config.dns.expect("dns").nameservers, None);
    assert_eq!(machine.image_ref.expect("image_ref").labels, None);
    assert_eq!(machine.events, None);
    assert_eq!(machine.checks, None);
}

#[test]
fn null_lists_elsewhere_decode_as_absent() {
    let process: types::ProcessStat = decode(json!({"pid": 1, "listen_sockets": null}));
    assert_eq!(process.listen_sockets, None);
    let org: types::OrgMachinesResponse = decode(json!({"machines": null, "error_regions": null}));
    assert_eq!((org.machines, org.error_regions), (None, None));
    let container: types::ContainerConfig =
        decode(json!({"name": "app", "env": null, "cmd": null, "healthchecks": null}));
    assert_eq!(
        (container.env, container.cmd, container.healthchecks),
        (None, None, None)
    );
    let token: types::TokenInfo = decode(json!({"token_id": "tkn_1", "apps": null}));
    assert_eq!(token.apps, None);
}

#[test]
fn empty_and_absent_collections_stay_distinct() {
    let config: types::MachineConfig = decode(json!({"env": {}, "metadata": null}));
    assert_eq!(config.env, Some(Default::default()));
    assert_eq!(config.metadata, None);
    // Re-encoding keeps the empty map and leaves the null one out.
    assert_eq!(encode(&config), json!({"env": {}}));
}

// ---------------------------------------------------------------------------------------------
// autostop: boolean or string
// ---------------------------------------------------------------------------------------------

#[test]
fn autostop_decodes_from_booleans_and_strings() {
    let cases = [
        (json!(false), types::MachineServiceAutostop::Boolean(false)),
        (json!(true), types::MachineServiceAutostop::Boolean(true)),
        (
            json!("off"),
            types::MachineServiceAutostop::String("off".into()),
        ),
        (
            json!("stop"),
            types::MachineServiceAutostop::String("stop".into()),
        ),
        (
            json!("suspend"),
            types::MachineServiceAutostop::String("suspend".into()),
        ),
    ];
    for (wire, expected) in cases {
        let service: types::MachineService =
            decode(json!({"internal_port": 8080, "autostop": wire.clone()}));
        assert_eq!(service.autostop.as_ref(), Some(&expected), "{wire}");
        // The form the server used comes back out unchanged.
        assert_eq!(encode(&service)["autostop"], wire);
    }
}

#[test]
fn autostop_of_another_json_type_is_rejected_with_a_message() {
    let err = serde_json::from_value::<types::MachineService>(json!({"autostop": 1}))
        .expect_err("a number is neither a boolean nor a string");
    assert!(err.to_string().contains("MachineServiceAutostop"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Error responses with codes outside the documented list
// ---------------------------------------------------------------------------------------------

#[test]
fn error_codes_outside_the_documented_list_are_kept() {
    for code in [
        "name_taken",
        "insufficient_capacity",
        "lease_quota_exceeded_v7",
    ] {
        let error: types::ErrorResponse =
            decode(json!({"error": "something went wrong", "status": code}));
        assert_eq!(error.status, Some(types::StatusCode(code.into())));
        assert_eq!(error.error.as_deref(), Some("something went wrong"));
    }
    let bare: types::ErrorResponse = decode(json!({"error": "unauthorized"}));
    assert_eq!(bare.status, None);
    let detailed: types::ErrorResponse = decode(json!({
        "error": "invalid config",
        "status": "unknown",
        "details": {"field": "config.guest.memory_mb", "min": 256}
    }));
    assert_eq!(detailed.details.unwrap()["min"], json!(256));
}

#[tokio::test]
async fn declared_error_body_with_an_unknown_code_reaches_the_caller_typed() {
    let server = MockServer::start_async().await;
    let mock = server.machines_update(|when, then| {
        when.app_name(APP).machine_id(MACHINE);
        then.fly_error(
            400,
            "guest.memory_mb must be a multiple of 256",
            Some("invalid_guest_size"),
        );
    });
    let client = fly_machines_httpmock::raw_client(&server);
    let result = client
        .machines_update(APP, MACHINE, None, &types::UpdateMachineRequest::default())
        .await;
    assert_sent(&result);
    mock.assert_async().await;
    match result {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status().as_u16(), 400);
            assert_eq!(
                response.status.as_ref().map(|s| s.0.as_str()),
                Some("invalid_guest_size")
            );
        }
        other => panic!("expected a typed 400 body, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn name_taken_arrives_as_a_declared_422() {
    // Fly answers a duplicate app name with 422 {"status":"name_taken"}; Apps_create declares
    // the 422 (Fly's 2026-10 document does too), so the body reaches the caller typed.
    let server = MockServer::start_async().await;
    let mock = server.apps_create(|_, then| {
        then.fly_unprocessable(
            "Validation failed: Name has already been taken",
            "name_taken",
        );
    });
    let client = fly_machines_httpmock::raw_client(&server);
    let body = types::CreateAppRequest {
        name: Some(APP.into()),
        org_slug: Some("personal".into()),
        ..Default::default()
    };
    let result = client.apps_create(&body).await;
    assert_sent(&result);
    mock.assert_async().await;
    let Err(Error::ErrorResponse(error)) = result else {
        panic!(
            "expected a declared error, got {:?}",
            result.map(|_| ()).map_err(Error::into_untyped)
        );
    };
    assert_eq!(error.status().as_u16(), 422);
    assert_eq!(error.status, Some(types::StatusCode("name_taken".into())));
}

// ---------------------------------------------------------------------------------------------
// States and statuses outside the documented lists
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_states_and_host_statuses_are_kept_verbatim() {
    let machine: types::Machine = decode(json!({
        "id": MACHINE,
        "state": "hibernating",
        "host_status": "partially-reachable",
        "checks": [{"name": "servicecheck-00-tcp-8080", "status": "flapping"}],
        "events": [{"type": "teleport", "status": "in-flight", "source": "flyd", "timestamp": 1708569700432_i64}]
    }));
    assert_eq!(machine.state.as_deref(), Some("hibernating"));
    assert_eq!(machine.host_status.as_deref(), Some("partially-reachable"));
    assert_eq!(
        machine.checks.unwrap()[0].status.as_deref(),
        Some("flapping")
    );
    assert_eq!(
        machine.events.unwrap()[0].type_.as_deref(),
        Some("teleport")
    );

    let volume: types::Volume = decode(
        json!({"id": "vol_9vw681egy1jj5xm4", "state": "hydrating", "host_status": "unreachable", "type": "tiered"}),
    );
    assert_eq!(volume.state.as_deref(), Some("hydrating"));
    assert_eq!(volume.host_status.as_deref(), Some("unreachable"));
    assert_eq!(volume.type_.as_deref(), Some("tiered"));

    let waited: types::WaitMachineResponse =
        decode(json!({"ok": true, "state": "settled-elsewhere", "version": VERSION}));
    assert_eq!(waited.state.as_deref(), Some("settled-elsewhere"));

    let cert: types::CertificateEntry = decode(json!({"source": "partner", "status": "revoking"}));
    assert_eq!(cert.source.as_deref(), Some("partner"));
}

#[test]
fn documented_transient_and_terminal_states_decode() {
    for state in [
        "created",
        "starting",
        "started",
        "stopping",
        "stopped",
        "suspending",
        "suspended",
        "restarting",
        "replacing",
        "updating",
        "launch_failed",
        "failed",
        "destroying",
        "destroyed",
        "replaced",
        "migrated",
    ] {
        let machine: types::Machine = decode(json!({"id": MACHINE, "state": state}));
        assert_eq!(machine.state.as_deref(), Some(state));
    }
}

// ---------------------------------------------------------------------------------------------
// Leases: the {status, data, message, code} envelope
// ---------------------------------------------------------------------------------------------

#[test]
fn lease_envelope_keeps_the_nonce() {
    let envelope: types::LeaseEnvelope = decode(json!({
        "status": "success",
        "data": {
            "nonce": NONCE,
            "expires_at": 1708569778,
            "owner": "hello@fly.io",
            "description": "",
            "version": "01HQ73A7BFFDF1B6WMGHFZZ4E7"
        }
    }));
    assert_eq!(envelope.status.as_deref(), Some("success"));
    let lease = envelope.data.expect("data");
    assert_eq!(lease.nonce.as_deref(), Some(NONCE));
    assert_eq!(lease.expires_at, Some(1708569778));
    assert_eq!(lease.description.as_deref(), Some(""));
}

#[test]
fn lease_error_envelope_keeps_message_and_code() {
    let envelope: types::LeaseEnvelope = decode(json!({
        "status": "error",
        "message": "machine ID 3d8d413b29d089 lease currently held by hello@fly.io, expires at 2022-10-20 19:59:06 +0000 UTC",
        "code": "invalid"
    }));
    assert_eq!(envelope.status.as_deref(), Some("error"));
    assert_eq!(envelope.data, None);
    assert_eq!(envelope.code.as_deref(), Some("invalid"));
    assert!(envelope.message.unwrap().contains("lease currently held"));
}

#[test]
fn lease_release_envelope_decodes() {
    let envelope: types::LeaseReleaseEnvelope =
        decode(json!({"status": "success", "data": {"ok": true}}));
    assert_eq!(envelope.data.unwrap().ok, Some(true));
}

#[tokio::test]
async fn acquiring_a_lease_sends_no_nonce_and_the_reply_carries_one() {
    let server = MockServer::start_async().await;
    let mock = server.machines_lease(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .into_inner()
            .header_missing("fly-machine-lease-nonce")
            .json_body(json!({"ttl": 30}));
        // Written out as Fly sends it, so that decoding is tested against the wire.
        then.into_inner()
            .status(201)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"status":"success","data":{{"nonce":"{NONCE}","expires_at":1708569778,"owner":"hello@fly.io","version":"{VERSION}"}}}}"#
            ));
    });
    let client = fly_machines_httpmock::raw_client(&server);
    let body = types::CreateLeaseRequest {
        ttl: Some(30),
        description: None,
    };
    let result = client
        .machines_create_lease(APP, MACHINE, None, &body)
        .await;
    assert_sent(&result);
    mock.assert_async().await;
    let envelope = result.map_err(Error::into_untyped).unwrap().into_inner();
    assert_eq!(envelope.data.unwrap().nonce.as_deref(), Some(NONCE));
}

// ---------------------------------------------------------------------------------------------
// Go []byte fields: base64 strings
// ---------------------------------------------------------------------------------------------

#[test]
fn byte_fields_are_base64_strings_both_ways() {
    let key: types::SecretKey = decode(json!({
        "name": "webhook-signing",
        "type": "ed25519",
        "public_key": "GpQ1kZ8hJ3Wc9sVx0bT2mYr4nL6eA7uD5fK1oP3qS8I="
    }));
    assert_eq!(
        key.public_key.as_deref(),
        Some("GpQ1kZ8hJ3Wc9sVx0bT2mYr4nL6eA7uD5fK1oP3qS8I=")
    );
    let plain: types::DecryptSecretkeyResponse = decode(json!({"plaintext": "aGVsbG8gd29ybGQ="}));
    assert_eq!(plain.plaintext.as_deref(), Some("aGVsbG8gd29ybGQ="));
    let sealed: types::EncryptSecretkeyResponse = decode(json!({"ciphertext": "AAECAwQF"}));
    assert_eq!(sealed.ciphertext.as_deref(), Some("AAECAwQF"));
    let signed: types::SignSecretkeyResponse = decode(json!({"signature": "3q2+7w8fHh4="}));
    assert_eq!(signed.signature.as_deref(), Some("3q2+7w8fHh4="));
    let token: types::VerifiedToken = decode(json!({
        "permission_token": "lJPECAAAAAAAAMGy",
        "nonce": {"kid": "Yf3kZ1bT8uQ2", "rnd": "m0R5cQ9wE2aL7sN4", "proof": true}
    }));
    assert_eq!(token.permission_token.as_deref(), Some("lJPECAAAAAAAAMGy"));
    assert_eq!(
        token.nonce.unwrap().rnd.as_deref(),
        Some("m0R5cQ9wE2aL7sN4")
    );

    let request = types::EncryptSecretkeyRequest {
        plaintext: Some("aGVsbG8gd29ybGQ=".into()),
        associated_data: Some("dGVuYW50OmFjbWU=".into()),
    };
    assert_eq!(
        encode(&request),
        json!({"plaintext": "aGVsbG8gd29ybGQ=", "associated_data": "dGVuYW50OmFjbWU="})
    );
}

#[test]
fn byte_fields_reject_the_spec_s_integer_arrays() {
    // The upstream spec says "array of integer"; the server never sends that, and our type
    // must not quietly accept it either.
    assert!(serde_json::from_value::<types::SecretKey>(json!({"public_key": [1, 2, 3]})).is_err());
}

// ---------------------------------------------------------------------------------------------
// Restart policy "" and other free-form strings
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_restart_policy_survives_a_round_trip() {
    let restart: types::MachineRestart = decode(json!({"policy": ""}));
    assert_eq!(restart.policy.as_deref(), Some(""));
    assert_eq!(encode(&restart), json!({"policy": ""}));
    for policy in ["no", "always", "on-failure", "spot-price"] {
        let restart: types::MachineRestart = decode(json!({"policy": policy, "max_retries": 3}));
        assert_eq!(restart.policy.as_deref(), Some(policy));
    }
}

#[test]
fn token_actions_are_letter_strings() {
    let access: types::Access =
        decode(json!({"action": "rwcdC", "orgid": 51234, "sourceApp": "deployer"}));
    assert_eq!(access.action, Some(types::Action("rwcdC".into())));
    assert_eq!(access.source_app.as_deref(), Some("deployer"));
    assert_eq!(encode(&access)["sourceApp"], json!("deployer"));
}

#[test]
fn response_header_overrides_take_any_json_value() {
    let options: types::HttpResponseOptions = decode(json!({
        "headers": {"X-Frame-Options": "DENY", "Set-Cookie": ["a=1", "b=2"], "X-Debug": false},
        "pristine": true
    }));
    let headers = options.headers.unwrap();
    assert_eq!(headers["X-Frame-Options"], json!("DENY"));
    assert_eq!(headers["Set-Cookie"], json!(["a=1", "b=2"]));
    assert_eq!(headers["X-Debug"], json!(false));
}

#[test]
fn millisecond_timestamps_do_not_overflow() {
    let event: types::MachineEvent =
        decode(json!({"type": "start", "timestamp": 1708569700432_i64}));
    assert_eq!(event.timestamp, Some(1_708_569_700_432));
}

// ---------------------------------------------------------------------------------------------
// Fields we do not know about
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let machine: types::Machine = decode(json!({
        "id": MACHINE,
        "state": "started",
        "host_dedication_key": "",
        "brand_new_top_level": {"nested": [1, 2, 3]},
        "config": {
            "image": "flyio/hellofly:latest",
            "future_knob": true,
            "guest": {"cpus": 1, "memory_mb": 256, "cpu_kind": "shared", "numa_node": 0},
            "services": [{"internal_port": 8080, "autostop": false, "shiny": "yes", "ports": [{"port": 443, "quic": true}]}]
        },
        "events": [{"type": "launch", "status": "created", "region": "iad"}]
    }));
    assert_eq!(machine.state.as_deref(), Some("started"));
    let config = machine.config.unwrap();
    assert_eq!(config.guest.unwrap().memory_mb, Some(256));
    assert_eq!(
        config.services.unwrap()[0].ports.as_ref().unwrap()[0].port,
        Some(443)
    );

    let volume: types::Volume =
        decode(json!({"id": "vol_9vw681egy1jj5xm4", "host_dedication_key": "", "size_gb": 3}));
    assert_eq!(volume.size_gb, Some(3));
}

// ---------------------------------------------------------------------------------------------
// JSON Schema for configs
// ---------------------------------------------------------------------------------------------

#[test]
fn machine_config_has_a_json_schema() {
    let schema = schemars::schema_for!(types::MachineConfig);
    let schema = serde_json::to_value(&schema).unwrap();
    assert_eq!(schema["title"], json!("MachineConfig"));
    let properties = schema["properties"].as_object().expect("properties");
    for name in [
        "image", "env", "guest", "services", "mounts", "restart", "init", "checks",
    ] {
        assert!(properties.contains_key(name), "schema lacks `{name}`");
    }
    // Fields the server may send as null are nullable in the schema as well.
    let env_types = schema["properties"]["env"]["type"]
        .as_array()
        .expect("type list");
    assert!(env_types.contains(&json!("null")), "{env_types:?}");
    // autostop accepts both of its wire forms.
    let autostop = &schema["$defs"]["MachineServiceAutostop"]["anyOf"];
    assert_eq!(autostop, &json!([{"type": "boolean"}, {"type": "string"}]));
}

// ---------------------------------------------------------------------------------------------
// /wait is a long poll of up to 60 s: the default client must not cut it short
// ---------------------------------------------------------------------------------------------

/// Uses tokio's paused clock: the runtime jumps straight to the next timer whenever it is idle,
/// so the client's own timeout fires after no real waiting, and the virtual time elapsed by then
/// is the configured timeout.
#[tokio::test(start_paused = true)]
async fn default_client_waits_longer_than_the_longest_wait_poll() {
    // A peer that accepts the connection (in the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", silent.local_addr().unwrap());
    let client = Client::new(&base_url, Inner::default());

    let started = tokio::time::Instant::now();
    let result = client
        .machines_wait(
            APP,
            MACHINE,
            None,
            None,
            Some("started"),
            std::num::NonZeroU64::new(60),
            Some(VERSION),
        )
        .await;
    let elapsed = started.elapsed();

    match result {
        Err(Error::CommunicationError(e)) => assert!(e.is_timeout(), "{e}"),
        other => panic!(
            "expected the client's timeout, got {:?}",
            other.map(|_| ()).map_err(Error::into_untyped)
        ),
    }
    assert!(
        elapsed > Duration::from_secs(60),
        "the default client gave up after {elapsed:?}, before a 60 s /wait can answer"
    );
    drop(silent);
}
