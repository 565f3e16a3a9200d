//! Property tests of request handling: random requests of every operation, with hostile
//! parameters and bodies, are run against a small world. Whatever they send, the emulator
//! does not panic, never answers 5xx, and a request it refuses (4xx) leaves the world exactly
//! as it was: validation happens before mutation.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use fly_machines_api::{OPERATIONS, Operation};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::api::{Work, plan};
use crate::emulator::Settings;
use crate::request::{ApiRequest, Env, LEASE_NONCE_HEADER, PathParams};
use crate::state::World;

const NOW: u64 = crate::clock::MANUAL_EPOCH_MS;

fn settings() -> Settings {
    Settings {
        token: "t".to_string(),
        auth: true,
        loopback_only: true,
        max_parked_waits: 384,
        transition_ms: 100,
        postgres_step_ms: 1_000,
        default_region: "iad".to_string(),
        owner: "owner@test".to_string(),
        versions_kept: 3,
    }
}

/// Runs one request to completion, as the pipeline would, and returns its status.
/// `Machines_wait` (a long-poll, async) is skipped.
fn run(world: &mut World, now: u64, req: &ApiRequest) -> Option<u16> {
    let settings = settings();
    match plan(req) {
        Err(e) => Some(e.http.as_u16()),
        Ok(Work::Answer(reply)) => Some(reply.status.as_u16()),
        Ok(Work::LongPoll { .. }) => None,
        Ok(Work::Locked(work)) => {
            world.reap(now);
            let mut env = Env {
                world,
                now,
                settings: &settings,
            };
            Some(status_of(req, work(&mut env, req)))
        }
        Ok(Work::Sliced(work)) => {
            // The handler locks the world itself: lend it the world behind a lock.
            let shared_world = std::sync::Mutex::new(std::mem::replace(world, World::new(0)));
            let clock = crate::clock::Clock::manual_at(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(now),
            );
            let hook = crate::emulator::SliceHook::default();
            let shared = crate::api::Shared {
                world: &shared_world,
                clock: &clock,
                list_slice_hook: &hook,
            };
            let result = work(&shared, req);
            *world = shared_world.into_inner().unwrap_or_else(|e| e.into_inner());
            Some(status_of(req, result))
        }
    }
}

/// The status of a handler's answer, whose encoding must not fail either.
fn status_of(req: &ApiRequest, result: crate::reply::HandlerResult) -> u16 {
    match result {
        Ok(reply) => {
            if let Err(e) = reply.body.encoded() {
                panic!("{} could not encode its answer: {e}", req.op.id);
            }
            reply.status.as_u16()
        }
        Err(e) => e.http.as_u16(),
    }
}

fn request(
    op: &'static Operation,
    params: HashMap<String, String>,
    query: Vec<(String, String)>,
    body: Vec<u8>,
    nonce: Option<&str>,
) -> ApiRequest {
    let mut headers = HeaderMap::new();
    if let Some(n) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        headers.insert(LEASE_NONCE_HEADER, n);
    }
    ApiRequest {
        op,
        params: PathParams(params),
        query,
        headers,
        body: Bytes::from(body),
    }
}

fn op(id: &str) -> &'static Operation {
    OPERATIONS
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// A world with app `a`, a started machine, a stopped one with a lease, a volume, a secret.
fn seeded_world() -> (World, Vec<String>) {
    let mut world = World::new(7);
    let app = |name: &str| HashMap::from([("app_name".to_string(), name.to_string())]);
    let created = run(
        &mut world,
        NOW,
        &request(
            op("Apps_create"),
            HashMap::new(),
            vec![],
            br#"{"name":"a"}"#.to_vec(),
            None,
        ),
    );
    assert_eq!(created, Some(201));
    let mut ids = Vec::new();
    for body in [
        json!({ "config": { "image": "nginx:1" } }),
        json!({ "config": { "image": "nginx:1" }, "skip_launch": true, "lease_ttl": 600 }),
    ] {
        let status = run(
            &mut world,
            NOW,
            &request(
                op("Machines_create"),
                app("a"),
                vec![],
                body.to_string().into_bytes(),
                None,
            ),
        );
        assert_eq!(status, Some(200));
    }
    let vol = run(
        &mut world,
        NOW,
        &request(
            op("Volumes_create"),
            app("a"),
            vec![],
            br#"{"name":"data","size_gb":1,"region":"iad"}"#.to_vec(),
            None,
        ),
    );
    assert_eq!(vol, Some(200));
    if let Some(a) = world.apps.get("a") {
        let mut ms: Vec<_> = a.machines.values().collect();
        ms.sort_by_key(|m| m.seq);
        ids.extend(ms.iter().map(|m| m.id.clone()));
        ids.extend(a.volumes.keys().cloned());
    }
    (world, ids)
}

/// The world in a canonical text form, after applying everything the clock has made due
/// (transitions, lease expiry), so only changes made by requests show.
fn snapshot(world: &mut World, now: u64) -> String {
    world.reap(now);
    let World { apps, rng, .. } = world;
    let mut out = String::new();
    for (name, app) in apps.iter_mut() {
        for m in app.machines.values_mut() {
            m.settle(now, rng);
            m.live_lease(now);
        }
        let machines: BTreeMap<_, _> = app
            .machines
            .iter()
            .map(|(k, m)| (k.clone(), format!("{m:?}")))
            .collect();
        let names: BTreeMap<_, _> = app.machine_names.iter().collect();
        let mut rest = app.clone();
        rest.machines.clear();
        rest.machine_names.clear();
        out.push_str(&format!("{name}: {rest:?}\n{machines:?}\n{names:?}\n"));
    }
    out.push_str(&format!(
        "seq {} tokens {:?}",
        world.next_seq, world.issued_tokens
    ));
    out
}

/// Numbers that break naive code: negatives, zero, Fly's sizes, and the extremes.
fn number() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![
        -5,
        -1,
        0,
        1,
        2,
        3,
        30,
        256,
        512,
        4096,
        86_401,
        1 << 62,
        i64::MAX,
        i64::MIN,
    ])
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "a",
        "web",
        "iad",
        "ams",
        "SIGTERM",
        "SIGBOGUS",
        "tcp",
        "bogus",
        "/data",
        "data",
        "x/y",
        "S1",
        "nginx:1",
        " ",
        "shared",
        "performance",
    ])
    .prop_map(str::to_string)
}

/// A valid machine body with up to two fields set to hostile values, so most requests get
/// past parsing and some past validation too.
fn machine_body() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "/config/image",
        "/config/guest/cpus",
        "/config/guest/memory_mb",
        "/config/guest/cpu_kind",
        "/config/services/0/internal_port",
        "/config/services/0/protocol",
        "/config/files/0/mode",
        "/config/files/0/guest_path",
        "/config/stop_config/signal",
        "/config/mounts",
        "/name",
        "/lease_ttl",
        "/region",
        "/current_version",
        "/min_secrets_version",
    ]);
    let hostile = prop_oneof![
        number().prop_map(Value::from),
        word().prop_map(Value::from),
        Just(json!([{ "volume": "vol_nope", "path": "/data" }])),
        Just(Value::Null),
    ];
    (
        prop::collection::vec((field, hostile), 0..3),
        proptest::option::of(word()),
        any::<bool>(),
    )
        .prop_map(|(changes, name, skip)| {
            let mut body = json!({
                "config": {
                    "image": "nginx:2",
                    "guest": { "cpus": 1, "memory_mb": 512, "cpu_kind": "shared" },
                    "services": [{ "internal_port": 8080, "protocol": "tcp" }],
                    "files": [{ "guest_path": "/etc/app.conf", "mode": 420 }],
                    "stop_config": { "signal": "SIGTERM" },
                },
                "skip_launch": skip,
                "lease_ttl": 60,
            });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            for (pointer, value) in changes {
                let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
                if let Some(Value::Object(map)) = body.pointer_mut(parent) {
                    map.insert(key.to_string(), value);
                } else if let Some(Value::Array(items)) = body.pointer_mut(parent)
                    && let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                {
                    *slot = value;
                }
            }
            body
        })
}

/// Bodies for the other operations: the fields they read, with hostile values.
fn other_body() -> impl Strategy<Value = Value> {
    (word(), number(), word(), number()).prop_map(|(w, n, w2, n2)| {
        json!({
            "name": w, "app_name": w, "org_slug": w2, "ttl": n, "signal": w,
            "size_gb": n, "region": w2, "limit_mb": n, "amount_mb": n2,
            "value": w2, "type": w, "metadata": { w.clone(): w2 }, "command": [w, w2],
            "count": n2, "timeout": w2, "description": w, "hostname": w,
            "values": { w.clone(): w2 }, "plaintext": w, "ciphertext": w2,
        })
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number().prop_map(Value::from),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(word(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(b"{not json".to_vec()),
        6 => machine_body().prop_map(|v| v.to_string().into_bytes()),
        2 => other_body().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// Operations that change machines, drawn more often than the rest.
const FOCUS: &[&str] = &[
    "Machines_create",
    "Machines_update",
    "Machines_create_lease",
    "Machines_stop",
    "Machines_start",
    "Machines_delete",
    "Machines_update_metadata",
    "Machines_cordon",
];

fn operation() -> impl Strategy<Value = usize> {
    let focus: Vec<usize> = OPERATIONS
        .iter()
        .enumerate()
        .filter(|(_, o)| FOCUS.contains(&o.id))
        .map(|(i, _)| i)
        .collect();
    prop_oneof![
        1 => 0..OPERATIONS.len(),
        1 => prop::sample::select(focus),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop::sample::select(vec![
        "force",
        "kill",
        "ttl",
        "timeout",
        "state",
        "limit",
        "include_deleted",
        "summary",
        "signal",
        "region",
        "min_version",
        "metadata.k",
        "sort_by",
        "order",
        "version",
        "org_slug",
        "count",
    ]);
    let value = prop_oneof![
        word(),
        number().prop_map(|n| n.to_string()),
        Just("true".to_string())
    ];
    prop::collection::vec((key.prop_map(str::to_string), value), 0..3)
}

/// One request: an operation, which of the known ids fill its path, a query, a body and a
/// nonce.
#[derive(Debug, Clone)]
struct Shot {
    op: usize,
    pick: usize,
    query: Vec<(String, String)>,
    body: Vec<u8>,
    nonce: Option<String>,
    advance_ms: u64,
}

fn shot() -> impl Strategy<Value = Shot> {
    (
        operation(),
        0..8usize,
        query(),
        body(),
        proptest::option::of(prop::sample::select(vec!["wrong", ""]).prop_map(str::to_string)),
        prop::sample::select(vec![0u64, 0, 150, 1_000, 700_000, u64::MAX / 2]),
    )
        .prop_map(|(op, pick, query, body, nonce, advance_ms)| Shot {
            op,
            pick,
            query,
            body,
            nonce,
            advance_ms,
        })
}

/// Fills the path parameters of `op` from the known ids, varied by `pick`.
fn params(op: &Operation, ids: &[String], pick: usize) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for part in op.path.split('/') {
        let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            continue;
        };
        let value = match name {
            "app_name" => ["a", "a", "a", "missing"][pick % 4].to_string(),
            "machine_id" => ids
                .get(pick % 3)
                .filter(|id| !id.starts_with("vol_"))
                .cloned()
                .unwrap_or_else(|| "nope".to_string()),
            "volume_id" => ids
                .iter()
                .find(|id| id.starts_with("vol_"))
                .filter(|_| pick.is_multiple_of(2))
                .cloned()
                .unwrap_or_else(|| "vol_nope".to_string()),
            _ => ["k", "S1", "example.com", "bad name"][pick % 4].to_string(),
        };
        params.insert(name.to_string(), value);
    }
    params
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn refused_requests_change_nothing_and_nothing_answers_5xx(
        shots in prop::collection::vec(shot(), 1..10)
    ) {
        let (mut world, ids) = seeded_world();
        let mut now = NOW;
        for shot in shots {
            now = now.saturating_add(shot.advance_ms);
            let op = &OPERATIONS[shot.op];
            let req = request(
                op,
                params(op, &ids, shot.pick),
                shot.query.clone(),
                shot.body.clone(),
                shot.nonce.as_deref(),
            );
            let before = snapshot(&mut world, now);
            let Some(status) = run(&mut world, now, &req) else { continue };
            prop_assert!(status < 500, "{} answered {status} for {shot:?}", op.id);
            if status >= 400 {
                let after = snapshot(&mut world, now);
                prop_assert!(
                    before == after,
                    "{} answered {status} but changed the world for {shot:?}\nbefore: {before}\nafter: {after}",
                    op.id
                );
            }
        }
    }
}
