//! Property test of response decoding: whatever status, headers and body a server sends, a call
//! ends in `Ok` or a typed `Error`, never a panic or a hang, and an untouched valid answer
//! always decodes. Runs in the normal test suite against a loopback server, in virtual time.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use crate::loopback::{Answer, Seen, Server};
use fly_machines::{Client, Error, ManualClock, RateLimits, RetryPolicy, WaitState};
use proptest::prelude::*;
use serde_json::{Value, json};

fn machine() -> Value {
    json!({
        "id": "m1", "name": "quiet-sun", "state": "started", "region": "iad",
        "instance_id": "v1", "private_ip": "fdaa::2",
        "config": {"image": "nginx", "env": {"A": "b"}, "metadata": null,
                   "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
                   "restart": {"policy": "always"}},
        "events": [{"type": "start", "status": "started", "timestamp": 1}],
        "checks": null, "created_at": "2026-11-29T00:00:00Z"
    })
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("destroyed"),
            Just("launch_failed"),
            Just("brand_new_state"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid machine with some fields (top level or in `config`) replaced by anything.
fn mutated_machine() -> impl Strategy<Value = Vec<u8>> {
    let fields = prop::sample::select(vec![
        "id",
        "state",
        "region",
        "instance_id",
        "config",
        "events",
        "checks",
        "created_at",
        "unknown_field",
        "image",
        "env",
        "guest",
        "restart",
        "metadata",
        "services",
    ]);
    prop::collection::vec((fields, any_json()), 0..4).prop_map(|edits| {
        let mut m = machine();
        for (field, value) in edits {
            if m.get(field).is_some() || field == "unknown_field" {
                m[field] = value;
            } else if let Some(config) = m.get_mut("config").and_then(Value::as_object_mut) {
                config.insert(field.to_string(), value);
            }
        }
        serde_json::to_vec(&m).unwrap()
    })
}

/// Bodies: mutated machines, any JSON, truncated JSON, or any bytes.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutated_machine(),
        2 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (mutated_machine(), any::<prop::sample::Index>())
            .prop_map(|(body, cut)| body[..cut.index(body.len().max(1))].to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn any_status() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        200u16, 200, 200, 201, 202, 204, 299, 302, 400, 401, 404, 408, 409, 412, 422, 429, 500,
        502, 503, 504, 599,
    ])
}

/// Header lines, some of them ones the client reads.
fn any_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "retry-after",
        "content-type",
        "fly-request-id",
        "x-other",
    ]);
    let value = prop_oneof![
        "[ -~]{0,24}",
        Just("1e308".to_string()),
        Just("18446744073709551615".to_string()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        Just("application/json".to_string()),
    ];
    prop::collection::vec((name.prop_map(str::to_string), value), 0..3).prop_map(|headers| {
        headers
            .into_iter()
            .map(|(n, v)| (n, v.trim().to_string()))
            .collect()
    })
}

type Scripted = Arc<Mutex<(u16, Vec<(String, String)>, Vec<u8>)>>;

struct Harness {
    runtime: tokio::runtime::Runtime,
    answer: Scripted,
    client: Client,
}

fn harness() -> Harness {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer: Scripted = Arc::new(Mutex::new((200, Vec::new(), Vec::new())));
    let script = answer.clone();
    let server = runtime.block_on(Server::start(move |_: &Seen| {
        let (status, headers, body) = script.lock().unwrap().clone();
        Answer::bytes(status, &headers, body)
    }));
    let client = Client::builder()
        .token("fuzz-token")
        .base_url(server.base_url())
        .clock(ManualClock::auto_advance())
        .rate_limits(RateLimits::fly_defaults())
        .retry(RetryPolicy::default().max_attempts(2))
        .build()
        .unwrap();
    std::mem::forget(server);
    Harness {
        runtime,
        answer,
        client,
    }
}

/// Checks one call's outcome against the status every attempt was answered with: an error
/// says something, and an error status (≥ 400) is never taken for success.
fn check<T: std::fmt::Debug>(status: u16, result: Result<T, Error>) -> Result<(), TestCaseError> {
    match result {
        Err(e) => prop_assert!(!e.to_string().is_empty()),
        Ok(value) => prop_assert!(
            status < 400,
            "HTTP {} was taken for success: {:?}",
            status,
            value
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_answer_decodes_or_fails_cleanly(
        status in any_status(),
        headers in any_headers(),
        body in any_body(),
    ) {
        thread_local! {
            static HARNESS: Harness = harness();
        }
        HARNESS.with(|h| -> Result<(), TestCaseError> {
            *h.answer.lock().unwrap() = (status, headers, body);
            let machine = h.client.app("a").machine("m1");
            h.runtime.block_on(async {
                check(status, machine.get().await)?;
                check(status, machine.wait_once([WaitState::Started]).timeout(Duration::from_secs(1)).await)?;
                check(status, h.client.app("a").machines().list().await)?;
                // A 404 on the lease is Fly's "nobody holds one", the one error status with a
                // meaning of success; it must then be `None`.
                match machine.current_lease().await {
                    Ok(None) if status == 404 => {}
                    other => check(status, other)?,
                }
                check(status, machine.start().await)?;
                Ok(())
            })
        })?;
    }
}

/// The untouched machine, with unknown enum values and unknown fields, always decodes.
#[test]
fn a_valid_answer_with_unknown_values_decodes() {
    let h = harness();
    let mut m = machine();
    m["state"] = json!("brand_new_state");
    m["host_status"] = json!("brand_new_status");
    m["unknown_field"] = json!({"nested": [1, 2, 3]});
    m["config"]["restart"]["policy"] = json!("");
    *h.answer.lock().unwrap() = (200, Vec::new(), serde_json::to_vec(&m).unwrap());
    let got = h
        .runtime
        .block_on(h.client.app("a").machine("m1").get().send())
        .unwrap();
    assert_eq!(got.state.as_deref(), Some("brand_new_state"));
    assert_eq!(
        got.state(),
        fly_machines::MachineState::Other("brand_new_state".into())
    );
    assert_eq!(got.host_status().as_str(), "brand_new_status");
}
