//! What the 2026-10 API adds, through the client: app creates made safe by an idempotency key
//! (and `ensure` on top), machines listed and fetched with their lease, and exec in the
//! machine's own namespace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fly_machines::{Client, RetryPolicy, types};
use fly_machines_httpmock::{FlyErrors, MockServerExt, ServerError};
use httpmock::{HttpMockResponse, MockServer};
use serde_json::{Value, json};

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .test_server(server.base_url())
        .retry(RetryPolicy::default().jitter(false).max_attempts(3))
        .build()
        .unwrap()
}

/// The apps [`app_registry`] made: by idempotency key (name and id), and by name (id).
#[derive(Default)]
struct Registry {
    by_key: HashMap<String, (String, String)>,
    by_name: HashMap<String, String>,
}

/// A stand-in for Fly's app create: a repeat with the same key and name answers with the app
/// the first made; a new key for a taken name is `name_taken`; the same key with another name
/// is refused. Returns the server and how many apps it made.
async fn app_registry() -> (MockServer, Arc<Mutex<usize>>) {
    let server = MockServer::start_async().await;
    let made = Arc::new(Mutex::new(0usize));
    let counter = made.clone();
    let state: Arc<Mutex<Registry>> = Arc::default();
    server
        .mock_async(move |when, then| {
            when.method("POST").path("/v1/apps");
            then.respond_with(move |req| {
                let body: Value = serde_json::from_slice(&req.body().0).unwrap();
                let name = body["name"].as_str().unwrap().to_string();
                let key = body["idempotency_key"].as_str().map(str::to_string);
                let mut guard = state.lock().unwrap();
                let Registry { by_key, by_name } = &mut *guard;
                let answer = |status: u16, value: Value| {
                    HttpMockResponse::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(value.to_string())
                        .build()
                };
                if let Some((first_name, id)) = key.as_ref().and_then(|k| by_key.get(k)) {
                    return if *first_name == name {
                        answer(201, json!({"id": id, "created_at": 1_708_631_799_000u64}))
                    } else {
                        answer(
                            422,
                            json!({"error": "idempotency key reused for another name"}),
                        )
                    };
                }
                if by_name.contains_key(&name) {
                    return answer(
                        422,
                        json!({"error": "Name has already been taken", "status": "name_taken"}),
                    );
                }
                let mut made = counter.lock().unwrap();
                *made += 1;
                let id = format!("app-{made}");
                by_name.insert(name.clone(), id.clone());
                if let Some(k) = key {
                    by_key.insert(k, (name, id.clone()));
                }
                answer(201, json!({"id": id, "created_at": 1_708_631_799_000u64}))
            });
        })
        .await;
    (server, made)
}

#[tokio::test]
async fn ensure_with_the_same_key_gives_the_same_app() {
    let (server, made) = app_registry().await;
    let apps = client(&server).apps();
    let first = apps.ensure("web", "personal").await.unwrap();
    let again = apps.ensure("web", "personal").await.unwrap();
    assert_eq!(first.id(), "app-1");
    assert_eq!(again.id(), first.id());
    assert!(first.created() && again.created());
    assert_eq!(again.app().name(), "web");
    assert_eq!(*made.lock().unwrap(), 1);
    // The same explicit key twice: one app; a plain create of the taken name: `name_taken`.
    let a = apps
        .create("jobs", "personal")
        .idempotency_key("k-1")
        .await
        .unwrap();
    let b = apps
        .create("jobs", "personal")
        .idempotency_key("k-1")
        .await
        .unwrap();
    assert_eq!(a.id(), b.id());
    let taken = apps.create("jobs", "personal").await.unwrap_err();
    assert!(taken.is_name_taken(), "{taken}");
    assert_eq!(*made.lock().unwrap(), 2);
}

/// An app made without a key is found, not an error, when it is in the organization asked for;
/// in another organization the name is taken.
#[tokio::test]
async fn ensure_accepts_an_existing_app_of_the_same_org_only() {
    let (server, _) = app_registry().await;
    server.apps_show(|when, then| {
        when.app_name("legacy");
        then.ok(&serde_json::from_value::<types::App>(json!({
            "id": "app-legacy", "name": "legacy", "organization": {"slug": "personal"}
        }))
        .unwrap());
    });
    let apps = client(&server).apps();
    apps.create("legacy", "personal").await.unwrap();
    let found = apps.ensure("legacy", "personal").await.unwrap();
    assert_eq!(found.id(), "app-legacy");
    assert!(!found.created());
    let err = apps.ensure("legacy", "acme-corp").await.unwrap_err();
    assert!(err.is_name_taken(), "{err}");
}

/// A keyed create is safe to repeat, so a 503 is retried; an unkeyed one is not.
#[tokio::test]
async fn a_keyed_app_create_is_retried_and_a_plain_one_is_not() {
    let server = MockServer::start_async().await;
    let keyed = server.apps_create(|when, then| {
        when.body(&types::CreateAppRequest {
            app_name: Some("web".into()),
            name: Some("web".into()),
            org_slug: Some("personal".into()),
            idempotency_key: Some("deploy-7".into()),
            ..Default::default()
        });
        then.fly_server_error(ServerError::Unavailable);
    });
    let plain = server.apps_create(|when, then| {
        when.body(&types::CreateAppRequest {
            app_name: Some("web".into()),
            name: Some("web".into()),
            org_slug: Some("personal".into()),
            ..Default::default()
        });
        then.fly_server_error(ServerError::Unavailable);
    });
    let apps = client(&server).apps();
    let err = apps
        .create("web", "personal")
        .idempotency_key("deploy-7")
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    let err = apps.create("web", "personal").await.unwrap_err();
    assert_eq!(err.attempts(), Some(1));
    keyed.assert_calls_async(3).await;
    plain.assert_calls_async(1).await;
}

/// `include_leases` reaches the wire, and the lease comes back typed (owner, description, expiry
/// as a time), never with a nonce.
#[tokio::test]
async fn machines_come_with_their_lease_when_asked() {
    let server = MockServer::start_async().await;
    let leased: types::Machine = serde_json::from_value(json!({
        "id": MACHINE,
        "state": "started",
        "lease": {"owner": "ops@example.com", "description": "deploy", "expires_at": 1_708_569_778}
    }))
    .unwrap();
    let list = server.machines_list(|when, then| {
        when.app_name(APP).include_leases(true);
        then.ok(&vec![leased.clone()]);
    });
    let get = server.machines_show(|when, then| {
        when.app_name(APP).machine_id(MACHINE).include_leases(true);
        then.ok(&leased);
    });
    let c = client(&server);
    let listed = c.app(APP).machines().list().include_leases().await.unwrap();
    let lease = listed[0].lease().expect("a lease");
    assert_eq!(lease.owner(), "ops@example.com");
    assert_eq!(lease.description(), "deploy");
    assert_eq!(
        lease.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_708_569_778))
    );
    let one = c
        .app(APP)
        .machine(MACHINE)
        .get()
        .include_leases()
        .await
        .unwrap();
    assert_eq!(one.lease().map(|l| l.owner()), Some("ops@example.com"));
    list.assert_calls_async(1).await;
    get.assert_calls_async(1).await;
}

#[tokio::test]
async fn exec_runs_in_the_machine_namespace_on_request() {
    let server = MockServer::start_async().await;
    let exec = server.machines_exec(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .body(&types::MachineExecRequest {
                command: Some(vec!["ip".into(), "addr".into()]),
                machine: Some(true),
                ..Default::default()
            });
        then.ok(&types::ExecResponse {
            exit_code: Some(0),
            ..Default::default()
        });
    });
    let m = client(&server).app(APP).machine(MACHINE);
    m.exec(["ip", "addr"]).in_machine().await.unwrap();
    exec.assert_calls_async(1).await;
    // A container and the machine namespace at once is refused before sending.
    let err = m
        .exec(["ip", "addr"])
        .in_machine()
        .container("sidecar")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in_machine"), "{err}");
    exec.assert_calls_async(1).await;
}
