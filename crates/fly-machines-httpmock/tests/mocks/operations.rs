//! Wire tests: every operation of the generated client, called once against a mock server.
//!
//! Each test sets up the operation's typed mock (`MockServerExt`), which matches the method and
//! the path under the `/v1` base path with every path value pinned, then checks the rest of what
//! goes on the wire (exact query string, the headers that matter, the exact JSON body) and that a
//! realistic answer decodes into the declared type. Answers are written as JSON documents the way
//! Fly sends them, not serialized from our own types, so that decoding is tested against the
//! wire and not against itself.
//! Every request is also routed through a recording [`RequestPolicy`], so each test proves that
//! the generated method is attributed to the right row of [`OPERATIONS`] and that the row's
//! method and path template fit the request that was actually sent.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use fly_machines_api::reqwest;
use fly_machines_api::types;
use fly_machines_api::{
    Client, Inner, OPERATIONS, Operation, PolicyFuture, RequestPolicy, ResponseValue,
};
use fly_machines_httpmock::MockServerExt;
use futures::TryStreamExt;
use httpmock::{MockServer, Then, When};
use serde_json::{Value, json};

/// The API's base path, as `fly_machines_httpmock::raw_client` and the real API use it.
const BASE_PATH: &str = "/v1";
const APP: &str = "my-app-name";
const ORG: &str = "personal";
const MACHINE: &str = "3d8d413b29d089";
const OTHER_MACHINE: &str = "e7843d4a0e1d98";
/// Machine version ids (`instance_id`) are 26-character ULIDs.
const VERSION: &str = "01HQ73A7BFFDF1B6WMGHFZZ4E7";
const NEW_VERSION: &str = "01HQ7B2K5V3N8D4QJ0XWZ6PRTM";
const EVENT: &str = "01HQ73A8R3WJ6X5N2KQZB7TFEV";
const NEXT_EVENT: &str = "01HQ73C1G5M7P9R2T4V6X8Z0AB";
const NONCE: &str = "5c35f65c9f95";
const VOLUME: &str = "vol_9vw681egy1jj5xm4";
const HOSTNAME: &str = "app.example.com";
const DIGEST: &str = "sha256:4f6b1e2d9c8a7b3e5d0f1a2c6e9b8d7a3c5e1f0b2d4a6c8e0f1a3b5c7d9e2f40";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// What the policy saw for one request.
#[derive(Debug)]
struct Sent {
    operation: &'static str,
    method: String,
    path: String,
}

/// A policy that remembers every request and then sends it unchanged.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<Sent>>,
}

impl RequestPolicy for Recorder {
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        method: &'static str,
    ) -> PolicyFuture<'a> {
        let operation = Operation::find(method).expect("every method has a row");
        self.sent.lock().unwrap().push(Sent {
            operation: operation.id,
            method: request.method().as_str().to_owned(),
            path: request.url().path().to_owned(),
        });
        Box::pin(client.execute(request))
    }
}

struct Harness {
    server: MockServer,
    client: Client,
    recorder: Arc<Recorder>,
}

impl Harness {
    async fn start() -> Self {
        let server = MockServer::start_async().await;
        let recorder = Arc::new(Recorder::default());
        let client = Client::new(&server.url(BASE_PATH), Inner::new(recorder.clone()));
        Harness {
            server,
            client,
            recorder,
        }
    }

    /// Exactly one request went out, attributed to the table row `id`, and the row's method
    /// and path template describe that request.
    fn assert_sent_as(&self, id: &str) {
        let sent = self.recorder.sent.lock().unwrap();
        assert_eq!(
            sent.len(),
            1,
            "expected one request for {id}, the policy saw {sent:?}"
        );
        let sent = &sent[0];
        assert_eq!(
            sent.operation, id,
            "request attributed to the wrong operation"
        );
        let row = Operation::by_id(id).unwrap_or_else(|| panic!("{id} is not in OPERATIONS"));
        assert_eq!(
            sent.method, row.method,
            "{id}: method differs from the table"
        );
        let path = sent
            .path
            .strip_prefix(BASE_PATH)
            .unwrap_or_else(|| panic!("{id}: {} is not under {BASE_PATH}", sent.path));
        assert!(
            path_fits(row.path, path),
            "{id}: path {} does not fit the template {}",
            sent.path,
            row.path
        );
    }
}

/// Whether `path` has the shape of `template`: same number of segments, literal segments equal,
/// `{param}` segments non-empty.
fn path_fits(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// No `api-version` header: progenitor would put one on every request, Fly defines none, and
/// the xtask takes it out. (The typed mock already matched the method and the path, with every
/// path value pinned.)
fn no_api_version(when: When) -> When {
    when.header_missing("api-version")
}

/// The query string holds exactly these pairs (in any order) and nothing else.
fn query(when: When, expected: &[(&str, &str)]) -> When {
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    let when = expected
        .iter()
        .fold(when, |when, (k, v)| when.query_param(*k, *v));
    when.is_true(move |req| {
        let mut got = req.query_params();
        got.sort();
        got == want
    })
}

fn no_query(when: When) -> When {
    query(when, &[])
}

/// The request asks for JSON back.
fn accepts_json(when: When) -> When {
    when.header("accept", "application/json")
}

/// The request carries exactly this JSON document.
fn json_request(when: When, body: Value) -> When {
    when.header("content-type", "application/json")
        .json_body(body)
}

/// The request has no body at all.
fn empty_request(when: When) -> When {
    when.is_true(|req| req.body_ref().is_empty())
        .header_missing("content-type")
}

fn reply(then: Then, status: u16, body: Value) -> Then {
    then.status(status)
        .header("content-type", "application/json")
        .header("fly-request-id", "01HQ73A9Q2C8B1N7M3K5J0H4GF-iad")
        .body(body.to_string())
}

fn reply_empty(then: Then, status: u16) -> Then {
    then.status(status)
        .header("fly-request-id", "01HQ73A9Q2C8B1N7M3K5J0H4GF-iad")
}

/// Checks the request was sent and hit the mock exactly once (with httpmock's diff when it did
/// not match), then unwraps the result.
async fn settle<T, E>(
    mock: httpmock::Mock<'_>,
    result: Result<ResponseValue<T>, fly_machines_api::Error<E>>,
) -> ResponseValue<T> {
    // A call refused before sending explains itself better than httpmock's "no match" diff.
    if let Err(
        fly_machines_api::Error::Custom(why) | fly_machines_api::Error::InvalidRequest(why),
    ) = &result
    {
        panic!("the request was never sent: {why}");
    }
    mock.assert_async().await;
    result
        .map_err(fly_machines_api::Error::into_untyped)
        .expect("the call should succeed against the matching mock")
}

async fn read_text(value: ResponseValue<fly_machines_api::ByteStream>) -> String {
    let chunks: Vec<bytes::Bytes> = value.into_inner().into_inner().try_collect().await.unwrap();
    String::from_utf8(chunks.concat()).unwrap()
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Realistic documents shared by several tests
// ---------------------------------------------------------------------------------------------

fn machine_json(id: &str, state: &str, version: &str) -> Value {
    json!({
        "id": id,
        "name": "quiet-sun-4821",
        "state": state,
        "region": "iad",
        "instance_id": version,
        "private_ip": "fdaa:0:3ec2:a7b:5adc:6068:5b85:2",
        "host_status": "ok",
        "config": {
            "image": "registry.fly.io/my-app-name:deployment-01HQ73A7",
            "env": {"APP_ENV": "production", "PORT": "8080"},
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
            "restart": {"policy": "on-failure", "max_retries": 10},
            "services": [{
                "protocol": "tcp",
                "internal_port": 8080,
                "autostart": true,
                "autostop": "stop",
                "min_machines_running": 0,
                "ports": [
                    {"port": 80, "handlers": ["http"], "force_https": true},
                    {"port": 443, "handlers": ["tls", "http"]}
                ]
            }],
            "metadata": {"fly_platform_version": "v2", "fly_process_group": "app"}
        },
        "image_ref": {
            "registry": "registry.fly.io",
            "repository": "my-app-name",
            "tag": "deployment-01HQ73A7",
            "digest": DIGEST,
            "labels": {}
        },
        "created_at": "2024-02-22T02:41:32Z",
        "updated_at": "2024-02-22T02:41:40Z",
        "events": [
            {"id": EVENT, "type": "start", "status": "started", "source": "flyd", "timestamp": 1708569700432_i64},
            {"id": "01HQ73A5X0Y2Z4B6D8F0H2K4M6", "type": "launch", "status": "created", "source": "user", "timestamp": 1708569692765_i64}
        ],
        "checks": [{
            "name": "servicecheck-00-http-8080",
            "status": "passing",
            "output": "Success",
            "updated_at": "2024-02-22T02:41:52.011Z"
        }]
    })
}

fn assert_machine(machine: &types::Machine, id: &str, state: &str, version: &str) {
    assert_eq!(machine.id.as_deref(), Some(id));
    assert_eq!(machine.state.as_deref(), Some(state));
    assert_eq!(machine.instance_id.as_deref(), Some(version));
    assert_eq!(machine.region.as_deref(), Some("iad"));
    let config = machine.config.as_ref().expect("config");
    assert_eq!(
        config
            .env
            .as_ref()
            .unwrap()
            .get("APP_ENV")
            .map(String::as_str),
        Some("production")
    );
    assert_eq!(config.guest.as_ref().unwrap().memory_mb, Some(256));
    let service = &config.services.as_ref().unwrap()[0];
    assert_eq!(
        service.autostop,
        Some(types::MachineServiceAutostop::String("stop".into()))
    );
    assert_eq!(service.ports.as_ref().unwrap()[0].force_https, Some(true));
    assert_eq!(
        machine.image_ref.as_ref().unwrap().digest.as_deref(),
        Some(DIGEST)
    );
    let events = machine.events.as_ref().unwrap();
    assert_eq!(events[0].type_.as_deref(), Some("start"));
    assert_eq!(events[0].timestamp, Some(1708569700432));
    assert_eq!(
        machine.checks.as_ref().unwrap()[0].status.as_deref(),
        Some("passing")
    );
}

fn certificate_detail_json(status: &str) -> Value {
    json!({
        "hostname": HOSTNAME,
        "configured": status == "active",
        "acme_requested": true,
        "status": status,
        "dns_provider": "cloudflare",
        "rate_limited_until": null,
        "certificates": [{
            "source": "fly",
            "status": status,
            "created_at": "2024-03-01T09:12:44Z",
            "expires_at": "2024-05-30T09:12:43Z",
            "issuer": "R3",
            "issued": [
                {"type": "ecdsa", "expires_at": "2024-05-30T09:12:43Z", "certificate_authority": "lets_encrypt"},
                {"type": "rsa", "expires_at": "2024-05-30T09:12:43Z", "certificate_authority": "lets_encrypt"}
            ]
        }],
        "validation": {
            "dns_configured": true,
            "alpn_configured": true,
            "http_configured": false,
            "ownership_txt_configured": true
        },
        "dns_requirements": {
            "a": ["66.241.124.17"],
            "aaaa": ["2a09:8280:1::3c:7f2e"],
            "cname": "my-app-name.fly.dev",
            "acme_challenge": {
                "name": "_acme-challenge.app.example.com",
                "target": "app.example.com.5xzw.flydns.net"
            },
            "ownership": {
                "name": "_fly-ownership.app.example.com",
                "app_value": "app-5xzw7k2",
                "org_value": "org-q1v3m9d"
            }
        },
        "validation_errors": []
    })
}

fn volume_json(state: &str, size_gb: i64) -> Value {
    json!({
        "id": VOLUME,
        "name": "pg_data",
        "state": state,
        "size_gb": size_gb,
        "region": "iad",
        "zone": "a4df",
        "encrypted": true,
        "attached_machine_id": MACHINE,
        "attached_alloc_id": null,
        "created_at": "2024-01-02T21:16:38.996Z",
        "blocks": 751366,
        "block_size": 4096,
        "blocks_free": 751360,
        "blocks_avail": 708148,
        "bytes_total": 3077595136_i64,
        "bytes_used": 24576,
        "fstype": "ext4",
        "snapshot_retention": 5,
        "auto_backup_enabled": true,
        "host_status": "ok",
        "type": "local"
    })
}

// ---------------------------------------------------------------------------------------------
// The list of operations exercised here (the guard test compares it with OPERATIONS)
// ---------------------------------------------------------------------------------------------

/// Declares one `#[tokio::test]` per operation: it starts a harness, runs the body function of
/// the same name and then checks the request was attributed to that operation id.
macro_rules! operation_tests {
    ($($id:literal => $name:ident,)*) => {
        const EXERCISED: &[&str] = &[$($id),*];

        mod wire {
            $(
                #[tokio::test]
                async fn $name() {
                    let harness = super::Harness::start().await;
                    super::$name(&harness).await;
                    harness.assert_sent_as($id);
                }
            )*
        }
    };
}

operation_tests! {
    "Apps_list" => apps_list,
    "Apps_create" => apps_create,
    "Apps_show" => apps_show,
    "Apps_delete" => apps_delete,
    "App_Certificates_list" => app_certificates_list,
    "App_Certificates_acme_create" => app_certificates_acme_create,
    "App_Certificates_custom_create" => app_certificates_custom_create,
    "App_Certificates_show" => app_certificates_show,
    "App_Certificates_delete" => app_certificates_delete,
    "App_Certificates_acme_delete" => app_certificates_acme_delete,
    "App_Certificates_check" => app_certificates_check,
    "App_Certificates_custom_delete" => app_certificates_custom_delete,
    "App_create_deploy_token" => app_create_deploy_token,
    "App_IPAssignments_list" => app_ip_assignments_list,
    "App_IPAssignments_create" => app_ip_assignments_create,
    "App_IPAssignments_delete" => app_ip_assignments_delete,
    "Machines_list" => machines_list,
    "Machines_create" => machines_create,
    "Machines_show" => machines_show,
    "Machines_update" => machines_update,
    "Machines_delete" => machines_delete,
    "Machines_cordon" => machines_cordon,
    "Machines_list_events" => machines_list_events,
    "Machines_exec" => machines_exec,
    "Machines_show_lease" => machines_show_lease,
    "Machines_create_lease" => machines_create_lease,
    "Machines_release_lease" => machines_release_lease,
    "Machines_get_memory" => machines_get_memory,
    "Machines_set_memory_limit" => machines_set_memory_limit,
    "Machines_reclaim_memory" => machines_reclaim_memory,
    "Machines_show_metadata" => machines_show_metadata,
    "Machines_update_metadata" => machines_update_metadata,
    "Machines_patch_metadata" => machines_patch_metadata,
    "Machines_get_metadata_key" => machines_get_metadata_key,
    "Machines_upsert_metadata" => machines_upsert_metadata,
    "Machines_delete_metadata" => machines_delete_metadata,
    "Machines_list_processes" => machines_list_processes,
    "Machines_restart" => machines_restart,
    "Machines_signal" => machines_signal,
    "Machines_start" => machines_start,
    "Machines_stop" => machines_stop,
    "Machines_suspend" => machines_suspend,
    "Machines_uncordon" => machines_uncordon,
    "Machines_list_versions" => machines_list_versions,
    "Machines_wait" => machines_wait,
    "Secretkeys_list" => secretkeys_list,
    "Secretkey_get" => secretkey_get,
    "Secretkey_set" => secretkey_set,
    "Secretkey_delete" => secretkey_delete,
    "Secretkey_decrypt" => secretkey_decrypt,
    "Secretkey_encrypt" => secretkey_encrypt,
    "Secretkey_generate" => secretkey_generate,
    "Secretkey_sign" => secretkey_sign,
    "Secretkey_verify" => secretkey_verify,
    "Secrets_list" => secrets_list,
    "Secrets_update" => secrets_update,
    "Secret_get" => secret_get,
    "Secret_create" => secret_create,
    "Secret_delete" => secret_delete,
    "Volumes_list" => volumes_list,
    "Volumes_create" => volumes_create,
    "Volumes_get_by_id" => volumes_get_by_id,
    "Volumes_update" => volumes_update,
    "Volume_delete" => volume_delete,
    "Volumes_extend" => volumes_extend,
    "Volumes_list_snapshots" => volumes_list_snapshots,
    "createVolumeSnapshot" => create_volume_snapshot,
    "Machines_org_list" => machines_org_list,
    "Volumes_org_list" => volumes_org_list,
    "Platform_placements_post" => platform_placements_post,
    "Platform_regions_get" => platform_regions_get,
    "Tokens_authenticate" => tokens_authenticate,
    "Tokens_authorize" => tokens_authorize,
    "CurrentToken_show" => current_token_show,
    "Tokens_request_Kms" => tokens_request_kms,
    "Tokens_request_OIDC" => tokens_request_oidc,
    "Postgres_list" => postgres_list,
    "Postgres_create" => postgres_create,
    "Postgres_show" => postgres_show,
    "Postgres_delete" => postgres_delete,
    "Postgres_attachments_create" => postgres_attachments_create,
    "Postgres_attachments_delete" => postgres_attachments_delete,
    "Postgres_backups_list" => postgres_backups_list,
    "Postgres_backups_create" => postgres_backups_create,
    "Postgres_databases_list" => postgres_databases_list,
    "Postgres_databases_create" => postgres_databases_create,
    "Postgres_databases_delete" => postgres_databases_delete,
    "Postgres_extensions_list" => postgres_extensions_list,
    "Postgres_extensions_enable" => postgres_extensions_enable,
    "Postgres_extensions_disable" => postgres_extensions_disable,
    "Postgres_fork" => postgres_fork,
    "Postgres_queries_active" => postgres_queries_active,
    "Postgres_queries_slow" => postgres_queries_slow,
    "Postgres_restore" => postgres_restore,
    "Postgres_users_list" => postgres_users_list,
    "Postgres_users_create" => postgres_users_create,
    "Postgres_users_delete" => postgres_users_delete,
    "Postgres_users_update_role" => postgres_users_update_role,
    "Postgres_users_credentials" => postgres_users_credentials,
    "Postgres_users_rotate_password" => postgres_users_rotate_password,
}

#[test]
fn every_operation_in_the_table_has_a_wire_test() {
    let table: BTreeSet<&str> = OPERATIONS.iter().map(|op| op.id).collect();
    let exercised: BTreeSet<&str> = EXERCISED.iter().copied().collect();
    assert_eq!(
        exercised.len(),
        EXERCISED.len(),
        "an operation is listed twice"
    );
    let untested: Vec<&&str> = table.difference(&exercised).collect();
    let unknown: Vec<&&str> = exercised.difference(&table).collect();
    assert!(
        untested.is_empty(),
        "operations without a wire test: {untested:?}"
    );
    assert!(
        unknown.is_empty(),
        "tests for operations not in the table: {unknown:?}"
    );
    assert_eq!(table.len(), 100);
}

#[test]
fn path_templates_are_matched_segment_by_segment() {
    let t = "/apps/{app_name}/machines/{machine_id}";
    assert!(path_fits(t, "/apps/a/machines/3d8d413b29d089"));
    assert!(!path_fits(t, "/apps/a/machines/3d8d413b29d089/start"));
    assert!(!path_fits(t, "/apps/a/volumes/3d8d413b29d089"));
    assert!(!path_fits(t, "/apps//machines/3d8d413b29d089"));
}

// ---------------------------------------------------------------------------------------------
// Apps
// ---------------------------------------------------------------------------------------------

async fn apps_list(h: &Harness) {
    let mock = h.server.apps_list(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_api_version(when);
        let when = query(when, &[("org_slug", ORG), ("app_role", "postgres_cluster")]);
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "total_apps": 1,
                "apps": [{
                    "id": "682kqp6pdno9d543",
                    "name": "my-pg-cluster",
                    "machine_count": 3,
                    "volume_count": 3,
                    "network": "default",
                    "status": "deployed",
                    "internal_numeric_id": 1700318,
                    "organization": {"name": "Personal", "slug": ORG, "internal_numeric_id": 51234}
                }]
            }),
        );
    });
    let result = h
        .client
        .apps_list(Some("postgres_cluster"), None, None, ORG)
        .await;
    let list = settle(mock, result).await.into_inner();
    assert_eq!(list.total_apps, Some(1));
    let app = &list.apps.unwrap()[0];
    assert_eq!(app.name.as_deref(), Some("my-pg-cluster"));
    assert_eq!(app.machine_count, Some(3));
    assert_eq!(app.internal_numeric_id, Some(1700318));
    assert_eq!(
        app.organization.as_ref().unwrap().slug.as_deref(),
        Some(ORG)
    );
}

async fn apps_create(h: &Harness) {
    let mock = h.server.apps_create(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"name": APP, "org_slug": ORG, "network": "tenant-net"}),
        );
        reply(
            then,
            201,
            json!({"id": "z4k69dxd8r31p5mx", "created_at": 1708631799000_i64}),
        );
    });
    let body = types::CreateAppRequest {
        name: Some(APP.into()),
        org_slug: Some(ORG.into()),
        network: Some("tenant-net".into()),
        enable_subdomains: None,
        idempotency_key: None,
        app_name: None,
    };
    let response = settle(mock, h.client.apps_create(&body).await).await;
    assert_eq!(response.status().as_u16(), 201);
    let created = response.into_inner();
    assert_eq!(created.id.as_deref(), Some("z4k69dxd8r31p5mx"));
    assert_eq!(created.created_at, Some(1708631799000));
}

async fn apps_show(h: &Harness) {
    let mock = h.server.apps_get(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "id": "jlyv9r5d56v18xrg",
                "name": APP,
                "status": "pending",
                "machine_count": 0,
                "volume_count": 0,
                "network": "default",
                "organization": {"name": "My Org", "slug": ORG}
            }),
        );
    });
    let app = settle(mock, h.client.apps_show(APP).await)
        .await
        .into_inner();
    assert_eq!(app.id.as_deref(), Some("jlyv9r5d56v18xrg"));
    assert_eq!(app.status.as_deref(), Some("pending"));
    assert_eq!(app.organization.unwrap().name.as_deref(), Some("My Org"));
}

async fn apps_delete(h: &Harness) {
    let mock = h.server.apps_delete(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        empty_request(no_query(no_api_version(when)));
        reply_empty(then, 202);
    });
    let response = settle(mock, h.client.apps_delete(APP).await).await;
    assert_eq!(response.status().as_u16(), 202);
}

// ---------------------------------------------------------------------------------------------
// TLS certificates
// ---------------------------------------------------------------------------------------------

async fn app_certificates_list(h: &Harness) {
    let mock = h.server.certificates_list(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_api_version(when);
        let when = query(
            when,
            &[
                ("filter", "example.com"),
                ("cursor", "Y3Vyc29yOjUw"),
                ("limit", "50"),
            ],
        );
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "certificates": [{
                    "hostname": HOSTNAME,
                    "status": "active",
                    "dns_provider": "cloudflare",
                    "acme_dns_configured": true,
                    "acme_alpn_configured": true,
                    "acme_http_configured": false,
                    "ownership_txt_configured": true,
                    "configured": true,
                    "acme_requested": true,
                    "has_custom_certificate": false,
                    "has_fly_certificate": true,
                    "created_at": "2024-03-01T09:12:44Z",
                    "updated_at": "2024-03-01T09:14:02Z"
                }],
                "next_cursor": "Y3Vyc29yOjUx",
                "total_count": 51
            }),
        );
    });
    let result = h
        .client
        .app_certificates_list(APP, Some("Y3Vyc29yOjUw"), Some("example.com"), Some(50))
        .await;
    let list = settle(mock, result).await.into_inner();
    assert_eq!(list.total_count, Some(51));
    assert_eq!(list.next_cursor.as_deref(), Some("Y3Vyc29yOjUx"));
    let cert = &list.certificates.unwrap()[0];
    assert_eq!(cert.hostname.as_deref(), Some(HOSTNAME));
    assert_eq!(cert.acme_http_configured, Some(false));
    assert_eq!(cert.has_fly_certificate, Some(true));
}

async fn app_certificates_acme_create(h: &Harness) {
    let mock = h.server.certificates_request_acme(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"hostname": HOSTNAME}));
        reply(then, 201, certificate_detail_json("pending"));
    });
    let body = types::CreateAcmeCertificateRequest {
        hostname: Some(HOSTNAME.into()),
    };
    let response = settle(
        mock,
        h.client.app_certificates_acme_create(APP, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let detail = response.into_inner();
    assert_eq!(detail.status.as_deref(), Some("pending"));
    assert_eq!(detail.configured, Some(false));
    let requirements = detail.dns_requirements.unwrap();
    assert_eq!(requirements.a.unwrap(), vec!["66.241.124.17".to_string()]);
    assert_eq!(
        requirements.acme_challenge.unwrap().target.as_deref(),
        Some("app.example.com.5xzw.flydns.net")
    );
    assert_eq!(detail.validation_errors, Some(vec![]));
}

async fn app_certificates_custom_create(h: &Harness) {
    let fullchain =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0c2\n-----END CERTIFICATE-----\n";
    let private_key =
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBv3\n-----END EC PRIVATE KEY-----\n";
    let mock = h.server.certificates_import_custom(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"hostname": HOSTNAME, "fullchain": fullchain, "private_key": private_key}),
        );
        let mut detail = certificate_detail_json("active");
        detail["certificates"] = json!([{
            "source": "custom",
            "status": "active",
            "created_at": "2024-03-02T10:00:00Z",
            "expires_at": "2039-03-02T10:00:00Z",
            "issuer": "Cloudflare Origin Certificate",
            "issued": []
        }]);
        reply(then, 201, detail);
    });
    let body = types::CreateCustomCertificateRequest {
        hostname: Some(HOSTNAME.into()),
        fullchain: Some(fullchain.into()),
        private_key: Some(private_key.into()),
    };
    let response = settle(
        mock,
        h.client.app_certificates_custom_create(APP, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let detail = response.into_inner();
    let cert = &detail.certificates.unwrap()[0];
    assert_eq!(cert.source.as_deref(), Some("custom"));
    assert_eq!(
        cert.issuer.as_deref(),
        Some("Cloudflare Origin Certificate")
    );
    assert_eq!(cert.issued, Some(vec![]));
}

async fn app_certificates_show(h: &Harness) {
    let mock = h.server.certificates_get(|when, then| {
        let (when, then) = (
            when.app_name(APP).hostname(HOSTNAME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, certificate_detail_json("active"));
    });
    let detail = settle(mock, h.client.app_certificates_show(APP, HOSTNAME).await)
        .await
        .into_inner();
    assert_eq!(detail.hostname.as_deref(), Some(HOSTNAME));
    assert_eq!(detail.configured, Some(true));
    assert_eq!(detail.rate_limited_until, None);
    let cert = &detail.certificates.unwrap()[0];
    let issued = cert.issued.as_ref().unwrap();
    assert_eq!(issued[0].type_.as_deref(), Some("ecdsa"));
    assert_eq!(issued[1].type_.as_deref(), Some("rsa"));
    assert_eq!(detail.validation.unwrap().http_configured, Some(false));
}

async fn app_certificates_delete(h: &Harness) {
    let mock = h.server.certificates_delete(|when, then| {
        let (when, then) = (
            when.app_name(APP).hostname(HOSTNAME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply_empty(then, 204);
    });
    let response = settle(mock, h.client.app_certificates_delete(APP, HOSTNAME).await).await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn app_certificates_acme_delete(h: &Harness) {
    let mock = h.server.certificates_delete_acme(|when, then| {
        let (when, then) = (
            when.app_name(APP).hostname(HOSTNAME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        let mut detail = certificate_detail_json("active");
        detail["acme_requested"] = json!(false);
        detail["certificates"] = json!([]);
        reply(then, 200, detail);
    });
    let detail = settle(
        mock,
        h.client.app_certificates_acme_delete(APP, HOSTNAME).await,
    )
    .await
    .into_inner();
    assert_eq!(detail.acme_requested, Some(false));
    assert_eq!(detail.certificates, Some(vec![]));
}

async fn app_certificates_check(h: &Harness) {
    let mock = h.server.certificates_check_dns(|when, then| {
        let (when, then) = (
            when.app_name(APP).hostname(HOSTNAME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        let mut check = certificate_detail_json("pending");
        check["dns_records"] = json!({
            "a": ["66.241.124.17"],
            "aaaa": [],
            "cname": ["my-app-name.fly.dev"],
            "resolved_addresses": ["66.241.124.17"],
            "acme_challenge_cname": "app.example.com.5xzw.flydns.net",
            "ownership_txt": "app-5xzw7k2",
            "soa": "ns1.example-dns.net"
        });
        check["validation_errors"] = json!([{
            "code": "dns_aaaa_missing",
            "message": "No AAAA record points at the app",
            "remediation": "Add an AAAA record for app.example.com with value 2a09:8280:1::3c:7f2e",
            "timestamp": "2024-03-01T09:13:00Z"
        }]);
        reply(then, 200, check);
    });
    let check = settle(mock, h.client.app_certificates_check(APP, HOSTNAME).await)
        .await
        .into_inner();
    let records = check.dns_records.unwrap();
    assert_eq!(records.aaaa, Some(vec![]));
    assert_eq!(
        records.cname.unwrap(),
        vec!["my-app-name.fly.dev".to_string()]
    );
    assert_eq!(records.soa.as_deref(), Some("ns1.example-dns.net"));
    let errors = check.validation_errors.unwrap();
    assert_eq!(errors[0].code.as_deref(), Some("dns_aaaa_missing"));
}

async fn app_certificates_custom_delete(h: &Harness) {
    let mock = h.server.certificates_delete_custom(|when, then| {
        let (when, then) = (
            when.app_name(APP).hostname(HOSTNAME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        let mut detail = certificate_detail_json("active");
        detail["warning"] = json!("app.example.com keeps its Fly-managed certificate");
        reply(then, 200, detail);
    });
    let result = settle(
        mock,
        h.client.app_certificates_custom_delete(APP, HOSTNAME).await,
    )
    .await
    .into_inner();
    assert_eq!(
        result.warning.as_deref(),
        Some("app.example.com keeps its Fly-managed certificate")
    );
    assert_eq!(result.status.as_deref(), Some("active"));
}

async fn app_create_deploy_token(h: &Harness) {
    let mock = h.server.apps_create_deploy_token(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"expiry": "720h"}));
        reply(
            then,
            200,
            json!({"token": "FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa"}),
        );
    });
    let body = types::CreateAppDeployTokenRequest {
        expiry: Some("720h".into()),
    };
    let token = settle(mock, h.client.app_create_deploy_token(APP, &body).await)
        .await
        .into_inner();
    assert_eq!(
        token.token.as_deref(),
        Some("FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa")
    );
}

// ---------------------------------------------------------------------------------------------
// IP assignments
// ---------------------------------------------------------------------------------------------

async fn app_ip_assignments_list(h: &Harness) {
    let mock = h
        .server
        .ip_assignments_list(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!({"ips": [
                    {"ip": "66.241.124.17", "region": "global", "service_name": "", "shared": true, "created_at": "2024-02-22T02:40:11Z"},
                    {"ip": "2a09:8280:1::3c:7f2e", "region": "global", "service_name": "", "shared": false, "created_at": "2024-02-22T02:40:12Z"}
                ]}),
            );
        });
    let list = settle(mock, h.client.app_ip_assignments_list(APP).await)
        .await
        .into_inner();
    let ips = list.ips.unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0].shared, Some(true));
    assert_eq!(ips[1].ip.as_deref(), Some("2a09:8280:1::3c:7f2e"));
}

async fn app_ip_assignments_create(h: &Harness) {
    let mock = h
        .server
        .ip_assignments_assign(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({"type": "private_v6", "network": "tenant-net", "org_slug": ORG, "service_name": "api"}),
            );
            reply(
                then,
                200,
                json!({"ip": "fdaa:0:3ec2:0:1::5", "region": "", "service_name": "api", "shared": false, "created_at": "2024-02-22T02:45:00Z"}),
            );
        });
    let body = types::AssignIpRequest {
        type_: Some(types::IpAssignmentType("private_v6".into())),
        network: Some("tenant-net".into()),
        org_slug: Some(ORG.into()),
        service_name: Some("api".into()),
        region: None,
    };
    let ip = settle(mock, h.client.app_ip_assignments_create(APP, &body).await)
        .await
        .into_inner();
    assert_eq!(ip.ip.as_deref(), Some("fdaa:0:3ec2:0:1::5"));
    assert_eq!(ip.service_name.as_deref(), Some("api"));
    assert_eq!(ip.shared, Some(false));
}

async fn app_ip_assignments_delete(h: &Harness) {
    let mock = h.server.ip_assignments_release(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .ip("2a09:8280:1::3c:7f2e")
                .into_inner(),
            then.into_inner(),
        );
        // An IPv6 address in the path: ':' may travel raw or percent-encoded; httpmock
        // compares the decoded path.
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client
            .app_ip_assignments_delete(APP, "2a09:8280:1::3c:7f2e")
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

// ---------------------------------------------------------------------------------------------
// Machines
// ---------------------------------------------------------------------------------------------

async fn machines_list(h: &Harness) {
    let mock = h.server.machines_list(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_api_version(when);
        let when = query(
            when,
            &[
                ("include_deleted", "true"),
                ("region", "iad"),
                ("state", "started,stopped"),
            ],
        );
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!([
                machine_json(MACHINE, "started", VERSION),
                machine_json(OTHER_MACHINE, "stopped", NEW_VERSION)
            ]),
        );
    });
    let result = h
        .client
        .machines_list(
            APP,
            None,
            Some(true),
            None,
            None,
            Some("iad"),
            Some("started,stopped"),
            None,
        )
        .await;
    let machines = settle(mock, result).await.into_inner();
    assert_eq!(machines.len(), 2);
    assert_machine(&machines[0], MACHINE, "started", VERSION);
    assert_machine(&machines[1], OTHER_MACHINE, "stopped", NEW_VERSION);
}

async fn machines_create(h: &Harness) {
    let mock = h.server.machines_create(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({
                "name": "quiet-sun-4821",
                "region": "iad",
                "lease_ttl": 30,
                "config": {
                    "image": "registry.fly.io/my-app-name:deployment-01HQ73A7",
                    "env": {"APP_ENV": "production"},
                    "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
                    "auto_destroy": false,
                    "restart": {"policy": "on-failure", "max_retries": 10},
                    "services": [{
                        "protocol": "tcp",
                        "internal_port": 8080,
                        "autostart": true,
                        "autostop": true,
                        "ports": [{"port": 443, "handlers": ["tls", "http"]}]
                    }]
                }
            }),
        );
        reply(then, 200, machine_json(MACHINE, "created", VERSION));
    });
    let body = types::CreateMachineRequest {
        name: Some("quiet-sun-4821".into()),
        region: Some("iad".into()),
        lease_ttl: Some(30),
        config: Some(types::MachineConfig {
            image: Some("registry.fly.io/my-app-name:deployment-01HQ73A7".into()),
            env: Some(string_map(&[("APP_ENV", "production")])),
            guest: Some(types::MachineGuest {
                cpu_kind: Some("shared".into()),
                cpus: Some(1),
                memory_mb: Some(256),
                ..Default::default()
            }),
            auto_destroy: Some(false),
            restart: Some(types::MachineRestart {
                policy: Some("on-failure".into()),
                max_retries: Some(10),
                gpu_bid_price: None,
            }),
            services: Some(vec![types::MachineService {
                protocol: Some("tcp".into()),
                internal_port: Some(8080),
                autostart: Some(true),
                autostop: Some(true.into()),
                ports: Some(vec![types::MachinePort {
                    port: Some(443),
                    handlers: Some(vec!["tls".into(), "http".into()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let machine = settle(mock, h.client.machines_create(APP, &body).await)
        .await
        .into_inner();
    assert_machine(&machine, MACHINE, "created", VERSION);
}

async fn machines_show(h: &Harness) {
    let mock = h.server.machines_get(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, machine_json(MACHINE, "started", VERSION));
    });
    let machine = settle(mock, h.client.machines_show(APP, MACHINE, None, None).await)
        .await
        .into_inner();
    assert_machine(&machine, MACHINE, "started", VERSION);
    assert_eq!(machine.host_status.as_deref(), Some("ok"));
    assert_eq!(
        machine.private_ip.as_deref(),
        Some("fdaa:0:3ec2:a7b:5adc:6068:5b85:2")
    );
}

async fn machines_update(h: &Harness) {
    let mock = h.server.machines_update(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({
                "current_version": VERSION,
                "skip_launch": false,
                "config": {
                    "image": "registry.fly.io/my-app-name:deployment-01HQ73A7",
                    "guest": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096},
                    "metadata": {"fly_process_group": "app"}
                }
            }),
        );
        reply(then, 200, machine_json(MACHINE, "replacing", NEW_VERSION));
    });
    let body = types::UpdateMachineRequest {
        current_version: Some(VERSION.into()),
        skip_launch: Some(false),
        config: Some(types::MachineConfig {
            image: Some("registry.fly.io/my-app-name:deployment-01HQ73A7".into()),
            guest: Some(types::MachineGuest {
                cpu_kind: Some("performance".into()),
                cpus: Some(2),
                memory_mb: Some(4096),
                ..Default::default()
            }),
            metadata: Some(string_map(&[("fly_process_group", "app")])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let machine = settle(
        mock,
        h.client.machines_update(APP, MACHINE, None, &body).await,
    )
    .await
    .into_inner();
    assert_machine(&machine, MACHINE, "replacing", NEW_VERSION);
}

async fn machines_delete(h: &Harness) {
    let mock = h.server.machines_delete(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_api_version(when);
        empty_request(query(when, &[("force", "true")]));
        reply(then, 200, json!({"ok": true}));
    });
    let response = settle(
        mock,
        h.client
            .machines_delete(APP, MACHINE, Some(true), None)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_cordon(h: &Harness) {
    let mock = h.server.machines_cordon(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply(then, 200, json!({"ok": true}));
    });
    let response = settle(mock, h.client.machines_cordon(APP, MACHINE, None).await).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_list_events(h: &Harness) {
    let mock = h
        .server
        .machines_events(|when, then| {
            let (when, then) = (when.app_name(APP).machine_id(MACHINE).into_inner(), then.into_inner());
            let when = no_api_version(when);
            empty_request(accepts_json(query(when, &[("limit", "2")])));
            reply(
                then,
                200,
                json!([
                    {
                        "id": NEXT_EVENT,
                        "type": "exit",
                        "status": "stopped",
                        "source": "flyd",
                        "timestamp": 1708570012345_i64,
                        "request": {
                            "exit_event": {
                                "exit_code": 0,
                                "exited_at": 1708570012001_i64,
                                "guest_exit_code": 0,
                                "guest_signal": -1,
                                "oom_killed": false,
                                "requested_stop": true,
                                "restarting": false,
                                "signal": -1
                            },
                            "restart_count": 0
                        }
                    },
                    {"id": EVENT, "type": "start", "status": "started", "source": "flyd", "timestamp": 1708569700432_i64}
                ]),
            );
        });
    let events = settle(
        mock,
        h.client.machines_list_events(APP, MACHINE, Some(2)).await,
    )
    .await
    .into_inner();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id.as_deref(), Some(NEXT_EVENT));
    assert_eq!(events[0].type_.as_deref(), Some("exit"));
    let request = events[0].request.as_ref().unwrap();
    assert_eq!(request["exit_event"]["requested_stop"], json!(true));
    assert_eq!(request["restart_count"], json!(0));
    assert_eq!(events[1].request, None);
}

async fn machines_exec(h: &Harness) {
    let mock = h.server.machines_exec(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"command": ["cat", "/etc/hostname"], "timeout": 10}),
        );
        reply(
            then,
            200,
            json!({"exit_code": 0, "exit_signal": 0, "stdout": "3d8d413b29d089\n", "stderr": ""}),
        );
    });
    let body = types::MachineExecRequest {
        command: Some(vec!["cat".into(), "/etc/hostname".into()]),
        timeout: Some(10),
        ..Default::default()
    };
    let output = settle(
        mock,
        h.client.machines_exec(APP, MACHINE, None, &body).await,
    )
    .await
    .into_inner();
    assert_eq!(output.exit_code, Some(0));
    assert_eq!(output.stdout.as_deref(), Some("3d8d413b29d089\n"));
    assert_eq!(output.stderr.as_deref(), Some(""));
}

async fn machines_show_lease(h: &Harness) {
    let mock = h.server.machines_current_lease(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "status": "success",
                "data": {
                    "nonce": NONCE,
                    "expires_at": 1708569778,
                    "owner": "deployer@example.com",
                    "description": "rolling deploy",
                    "version": VERSION
                }
            }),
        );
    });
    let envelope = settle(mock, h.client.machines_show_lease(APP, MACHINE).await)
        .await
        .into_inner();
    assert_eq!(envelope.status.as_deref(), Some("success"));
    let lease = envelope.data.unwrap();
    assert_eq!(lease.nonce.as_deref(), Some(NONCE));
    assert_eq!(lease.expires_at, Some(1708569778));
    assert_eq!(lease.owner.as_deref(), Some("deployer@example.com"));
}

async fn machines_create_lease(h: &Harness) {
    // Refreshing a held lease: the nonce goes in the header.
    let mock = h.server.machines_lease(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        let when = when.header("fly-machine-lease-nonce", NONCE);
        json_request(
            accepts_json(when),
            json!({"ttl": 60, "description": "rolling deploy"}),
        );
        reply(
            then,
            201,
            json!({
                "status": "success",
                "data": {
                    "nonce": NONCE,
                    "expires_at": 1708569838,
                    "owner": "deployer@example.com",
                    "description": "rolling deploy",
                    "version": VERSION
                }
            }),
        );
    });
    let body = types::CreateLeaseRequest {
        ttl: Some(60),
        description: Some("rolling deploy".into()),
    };
    let response = settle(
        mock,
        h.client
            .machines_create_lease(APP, MACHINE, Some(NONCE), &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let lease = response.into_inner().data.unwrap();
    assert_eq!(lease.nonce.as_deref(), Some(NONCE));
    assert_eq!(lease.expires_at, Some(1708569838));
    assert_eq!(lease.version.as_deref(), Some(VERSION));
}

async fn machines_release_lease(h: &Harness) {
    let mock = h.server.machines_release_lease(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        let when = when.header("fly-machine-lease-nonce", NONCE);
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({"status": "success", "data": {"ok": true}}),
        );
    });
    let envelope = settle(
        mock,
        h.client.machines_release_lease(APP, MACHINE, NONCE).await,
    )
    .await
    .into_inner();
    assert_eq!(envelope.status.as_deref(), Some("success"));
    assert_eq!(envelope.data.unwrap().ok, Some(true));
}

async fn machines_get_memory(h: &Harness) {
    let mock = h.server.machines_memory(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, json!({"available_mb": 212, "limit_mb": 256}));
    });
    let memory = settle(mock, h.client.machines_get_memory(APP, MACHINE).await)
        .await
        .into_inner();
    assert_eq!(memory.available_mb, Some(212));
    assert_eq!(memory.limit_mb, Some(256));
}

async fn machines_set_memory_limit(h: &Harness) {
    let mock = h.server.machines_set_memory_limit(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"limit_mb": 192}));
        reply(then, 200, json!({"available_mb": 148, "limit_mb": 192}));
    });
    let body = types::SetMemoryLimitRequest {
        limit_mb: Some(192),
    };
    let memory = settle(
        mock,
        h.client
            .machines_set_memory_limit(APP, MACHINE, None, &body)
            .await,
    )
    .await
    .into_inner();
    assert_eq!(memory.limit_mb, Some(192));
    assert_eq!(memory.available_mb, Some(148));
}

async fn machines_reclaim_memory(h: &Harness) {
    let mock = h.server.machines_reclaim_memory(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"amount_mb": 64}));
        reply(then, 200, json!({"actual_mb": 48}));
    });
    let body = types::ReclaimMemoryRequest {
        amount_mb: Some(64),
    };
    let reclaimed = settle(
        mock,
        h.client
            .machines_reclaim_memory(APP, MACHINE, None, &body)
            .await,
    )
    .await
    .into_inner();
    assert_eq!(reclaimed.actual_mb, Some(48));
}

async fn machines_show_metadata(h: &Harness) {
    let mock = h.server.metadata_all(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "fly_flyctl_version": "0.2.8",
                "fly_platform_version": "v2",
                "fly_process_group": "app",
                "fly_release_version": "63"
            }),
        );
    });
    let metadata = settle(mock, h.client.machines_show_metadata(APP, MACHINE).await)
        .await
        .into_inner();
    assert_eq!(metadata.len(), 4);
    assert_eq!(
        metadata.get("fly_process_group").map(String::as_str),
        Some("app")
    );
}

fn metadata_update_body() -> (types::UpdateMetadataRequest, Value) {
    let body = types::UpdateMetadataRequest {
        machine_version: Some(VERSION.into()),
        updated_at: Some("2024-02-22T02:41:40Z".into()),
        metadata: Some(string_map(&[
            ("fly_process_group", "worker"),
            ("tenant", "acme-corp"),
        ])),
    };
    let json = json!({
        "machine_version": VERSION,
        "updated_at": "2024-02-22T02:41:40Z",
        "metadata": {"fly_process_group": "worker", "tenant": "acme-corp"}
    });
    (body, json)
}

async fn machines_update_metadata(h: &Harness) {
    let (body, expected) = metadata_update_body();
    let mock = h.server.metadata_replace(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), expected);
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client
            .machines_update_metadata(APP, MACHINE, None, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn machines_patch_metadata(h: &Harness) {
    let (body, expected) = metadata_update_body();
    let mock = h.server.metadata_merge(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), expected);
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client
            .machines_patch_metadata(APP, MACHINE, None, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn machines_get_metadata_key(h: &Harness) {
    let mock = h.server.metadata_get(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .machine_id("3d8d413b29d089")
                .key("fly_process_group")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, json!({"value": "app"}));
    });
    let value = settle(
        mock,
        h.client
            .machines_get_metadata_key(APP, MACHINE, "fly_process_group")
            .await,
    )
    .await
    .into_inner();
    assert_eq!(value.value.as_deref(), Some("app"));
}

async fn machines_upsert_metadata(h: &Harness) {
    let mock = h.server.metadata_set(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .machine_id("3d8d413b29d089")
                .key("tenant")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"value": "acme-corp", "updated_at": "2024-02-22T02:41:40Z"}),
        );
        reply_empty(then, 204);
    });
    let body = types::UpsertMetadataKeyRequest {
        value: Some("acme-corp".into()),
        updated_at: Some("2024-02-22T02:41:40Z".into()),
    };
    let response = settle(
        mock,
        h.client
            .machines_upsert_metadata(APP, MACHINE, "tenant", None, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn machines_delete_metadata(h: &Harness) {
    let mock = h.server.metadata_delete(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .machine_id("3d8d413b29d089")
                .key("tenant")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client
            .machines_delete_metadata(APP, MACHINE, "tenant", None)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn machines_list_processes(h: &Harness) {
    let mock = h.server.machines_processes(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_api_version(when);
        let when = query(when, &[("sort_by", "cpu"), ("order", "desc")]);
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!([
                {
                    "pid": 713,
                    "command": "node server.js",
                    "directory": "/app",
                    "cpu": 1520,
                    "rss": 83451904,
                    "rtime": 98231,
                    "stime": 1204,
                    "listen_sockets": [{"address": "0.0.0.0:8080", "proto": "tcp"}]
                },
                {
                    "pid": 1,
                    "command": "/.fly/init",
                    "directory": "/",
                    "cpu": 12,
                    "rss": 3276800,
                    "rtime": 98240,
                    "stime": 3,
                    "listen_sockets": null
                }
            ]),
        );
    });
    let processes = settle(
        mock,
        h.client
            .machines_list_processes(APP, MACHINE, Some("desc"), Some(types::ProcessSortKey::Cpu))
            .await,
    )
    .await
    .into_inner();
    assert_eq!(processes.len(), 2);
    assert_eq!(processes[0].pid, Some(713));
    assert_eq!(processes[0].rss, Some(83451904));
    let sockets = processes[0].listen_sockets.as_ref().unwrap();
    assert_eq!(sockets[0].address.as_deref(), Some("0.0.0.0:8080"));
    assert_eq!(processes[1].listen_sockets, None);
}

async fn machines_restart(h: &Harness) {
    let mock = h.server.machines_restart(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_api_version(when);
        let when = query(when, &[("signal", "SIGTERM"), ("timeout", "30s")]);
        empty_request(accepts_json(when));
        reply(then, 200, json!({"ok": true}));
    });
    let response = settle(
        mock,
        h.client
            .machines_restart(
                APP,
                MACHINE,
                Some(types::MachinesRestartSignal::Sigterm),
                Some("30s"),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_signal(h: &Harness) {
    let mock = h.server.machines_signal(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"signal": "SIGUSR1"}));
        reply(then, 200, json!({"ok": true}));
    });
    let body = types::SignalRequest {
        signal: Some(types::SignalRequestSignal::Sigusr1),
    };
    let response = settle(
        mock,
        h.client.machines_signal(APP, MACHINE, None, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_start(h: &Harness) {
    let mock = h.server.machines_start(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({"previous_state": "suspended", "migrated": true, "new_host": "8e72"}),
        );
    });
    let started = settle(mock, h.client.machines_start(APP, MACHINE, None).await)
        .await
        .into_inner();
    assert_eq!(started.previous_state.as_deref(), Some("suspended"));
    assert_eq!(started.migrated, Some(true));
    assert_eq!(started.new_host.as_deref(), Some("8e72"));
}

async fn machines_stop(h: &Harness) {
    let mock = h.server.machines_stop(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"signal": "SIGINT", "timeout": "30s"}),
        );
        reply(then, 200, json!({"ok": true}));
    });
    let body = types::StopRequest {
        signal: Some(types::StopRequestSignal::Sigint),
        timeout: Some("30s".into()),
    };
    let response = settle(
        mock,
        h.client.machines_stop(APP, MACHINE, None, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_suspend(h: &Harness) {
    let mock = h.server.machines_suspend(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply(then, 200, json!({"ok": true}));
    });
    let response = settle(mock, h.client.machines_suspend(APP, MACHINE, None).await).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_uncordon(h: &Harness) {
    let mock = h.server.machines_uncordon(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(when);
        reply(then, 200, json!({"ok": true}));
    });
    let response = settle(mock, h.client.machines_uncordon(APP, MACHINE, None).await).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn machines_list_versions(h: &Harness) {
    let mock = h
        .server
        .machines_versions(|when, then| {
            let (when, then) = (when.app_name(APP).machine_id(MACHINE).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!([
                    {"version": NEW_VERSION, "user_config": {"image": "registry.fly.io/my-app-name:deployment-01HQ7B2K", "guest": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}}},
                    {"version": VERSION, "user_config": {"image": "registry.fly.io/my-app-name:deployment-01HQ73A7", "env": null, "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}}}
                ]),
            );
        });
    let versions = settle(mock, h.client.machines_list_versions(APP, MACHINE).await)
        .await
        .into_inner();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version.as_deref(), Some(NEW_VERSION));
    assert_eq!(versions[0].version.as_ref().unwrap().len(), 26);
    let older = versions[1].user_config.as_ref().unwrap();
    assert_eq!(older.env, None);
    assert_eq!(older.guest.as_ref().unwrap().memory_mb, Some(256));
}

async fn machines_wait(h: &Harness) {
    let mock = h.server.machines_wait_for(|when, then| {
        let (when, then) = (
            when.app_name(APP).machine_id(MACHINE).into_inner(),
            then.into_inner(),
        );
        let when = no_api_version(when);
        // Several states travel as one comma-separated value; timeout is whole seconds.
        let when = query(
            when,
            &[
                ("from_event_id", EVENT),
                ("state", "started,stopped"),
                ("timeout", "60"),
                ("version", VERSION),
            ],
        );
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({"ok": true, "state": "stopped", "version": VERSION, "event_id": NEXT_EVENT}),
        );
    });
    let result = h
        .client
        .machines_wait(
            APP,
            MACHINE,
            Some(EVENT),
            None,
            Some("started,stopped"),
            NonZeroU64::new(60),
            Some(VERSION),
        )
        .await;
    let waited = settle(mock, result).await.into_inner();
    assert_eq!(waited.ok, Some(true));
    assert_eq!(waited.state.as_deref(), Some("stopped"));
    assert_eq!(waited.version.as_deref(), Some(VERSION));
    assert_eq!(waited.event_id.as_deref(), Some(NEXT_EVENT));
}

// ---------------------------------------------------------------------------------------------
// Secret keys (Go []byte fields travel as base64 strings)
// ---------------------------------------------------------------------------------------------

async fn secretkeys_list(h: &Harness) {
    let mock = h
        .server
        .secret_keys_list(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_api_version(when);
            let when = query(when, &[("min_version", "17"), ("types", "ed25519,hs256")]);
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!({"secret_keys": [
                    {"name": "webhook-signing", "type": "ed25519", "public_key": "GpQ1kZ8hJ3Wc9sVx0bT2mYr4nL6eA7uD5fK1oP3qS8I=", "created_at": "2024-02-22T02:50:00Z", "updated_at": "2024-02-22T02:50:00Z"},
                    {"name": "session-mac", "type": "hs256", "created_at": "2024-02-22T02:51:00Z", "updated_at": "2024-02-22T02:51:00Z"}
                ]}),
            );
        });
    let keys = settle(
        mock,
        h.client
            .secretkeys_list(APP, Some("17"), Some("ed25519,hs256"))
            .await,
    )
    .await
    .into_inner();
    let keys = keys.secret_keys.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].type_.as_deref(), Some("ed25519"));
    assert_eq!(
        keys[0].public_key.as_deref(),
        Some("GpQ1kZ8hJ3Wc9sVx0bT2mYr4nL6eA7uD5fK1oP3qS8I=")
    );
    assert_eq!(keys[1].public_key, None);
}

async fn secretkey_get(h: &Harness) {
    let mock = h
        .server
        .secret_keys_get(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("webhook-signing").into_inner(), then.into_inner());
            let when = no_api_version(when);
            empty_request(accepts_json(query(when, &[("min_version", "17")])));
            reply(
                then,
                200,
                json!({"name": "webhook-signing", "type": "ed25519", "public_key": "GpQ1kZ8hJ3Wc9sVx0bT2mYr4nL6eA7uD5fK1oP3qS8I=", "created_at": "2024-02-22T02:50:00Z", "updated_at": "2024-02-22T02:50:00Z"}),
            );
        });
    let key = settle(
        mock,
        h.client
            .secretkey_get(APP, "webhook-signing", Some("17"))
            .await,
    )
    .await
    .into_inner();
    assert_eq!(key.name.as_deref(), Some("webhook-signing"));
    assert_eq!(key.type_.as_deref(), Some("ed25519"));
}

async fn secretkey_set(h: &Harness) {
    let mock = h
        .server
        .secret_keys_set(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("session-mac").into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({"type": "hs256", "value": "c2Vzc2lvbi1tYWMta2V5LW1hdGVyaWFsLTMyYnl0ZXM="}),
            );
            reply(
                then,
                201,
                json!({"name": "session-mac", "type": "hs256", "version": 18, "created_at": "2024-02-22T02:51:00Z", "updated_at": "2024-02-22T02:51:00Z"}),
            );
        });
    let body = types::SetSecretkeyRequest {
        type_: Some("hs256".into()),
        value: Some("c2Vzc2lvbi1tYWMta2V5LW1hdGVyaWFsLTMyYnl0ZXM=".into()),
    };
    let response = settle(
        mock,
        h.client.secretkey_set(APP, "session-mac", &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let set = response.into_inner();
    assert_eq!(set.version, Some(18));
    assert_eq!(set.type_.as_deref(), Some("hs256"));
}

async fn secretkey_delete(h: &Harness) {
    let mock = h.server.secret_keys_delete(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .secret_name("session-mac")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, json!({"version": 19}));
    });
    let deleted = settle(mock, h.client.secretkey_delete(APP, "session-mac").await)
        .await
        .into_inner();
    assert_eq!(deleted.version, Some(19));
}

async fn secretkey_decrypt(h: &Harness) {
    let mock = h
        .server
        .secret_keys_decrypt(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("vault").into_inner(), then.into_inner());
            let when = no_api_version(when);
            let when = query(when, &[("min_version", "18")]);
            json_request(
                accepts_json(when),
                json!({"ciphertext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "associated_data": "dGVuYW50OmFjbWU="}),
            );
            reply(then, 200, json!({"plaintext": "aGVsbG8gd29ybGQ="}));
        });
    let body = types::DecryptSecretkeyRequest {
        ciphertext: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        associated_data: Some("dGVuYW50OmFjbWU=".into()),
    };
    let plain = settle(
        mock,
        h.client
            .secretkey_decrypt(APP, "vault", Some("18"), &body)
            .await,
    )
    .await
    .into_inner();
    assert_eq!(plain.plaintext.as_deref(), Some("aGVsbG8gd29ybGQ="));
}

async fn secretkey_encrypt(h: &Harness) {
    let mock = h.server.secret_keys_encrypt(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .secret_name("vault")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_api_version(when);
        let when = query(when, &[("min_version", "18")]);
        json_request(
            accepts_json(when),
            json!({"plaintext": "aGVsbG8gd29ybGQ=", "associated_data": "dGVuYW50OmFjbWU="}),
        );
        reply(
            then,
            200,
            json!({"ciphertext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}),
        );
    });
    let body = types::EncryptSecretkeyRequest {
        plaintext: Some("aGVsbG8gd29ybGQ=".into()),
        associated_data: Some("dGVuYW50OmFjbWU=".into()),
    };
    let sealed = settle(
        mock,
        h.client
            .secretkey_encrypt(APP, "vault", Some("18"), &body)
            .await,
    )
    .await
    .into_inner();
    assert_eq!(
        sealed.ciphertext.as_deref(),
        Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    );
}

async fn secretkey_generate(h: &Harness) {
    let mock = h
        .server
        .secret_keys_generate(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("vault").into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(accepts_json(when), json!({"type": "xaes256gcm"}));
            reply(
                then,
                201,
                json!({"name": "vault", "type": "xaes256gcm", "version": 18, "created_at": "2024-02-22T02:52:00Z", "updated_at": "2024-02-22T02:52:00Z"}),
            );
        });
    let body = types::SetSecretkeyRequest {
        type_: Some("xaes256gcm".into()),
        value: None,
    };
    let response = settle(mock, h.client.secretkey_generate(APP, "vault", &body).await).await;
    assert_eq!(response.status().as_u16(), 201);
    let generated = response.into_inner();
    assert_eq!(generated.name.as_deref(), Some("vault"));
    assert_eq!(generated.version, Some(18));
}

async fn secretkey_sign(h: &Harness) {
    let mock = h
        .server
        .secret_keys_sign(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("webhook-signing").into_inner(), then.into_inner());
            let when = no_api_version(when);
            let when = query(when, &[("min_version", "17")]);
            json_request(accepts_json(when), json!({"plaintext": "eyJldmVudCI6InBpbmcifQ=="}));
            reply(
                then,
                200,
                json!({"signature": "3q2+7w8fHh4AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA=="}),
            );
        });
    let body = types::SignSecretkeyRequest {
        plaintext: Some("eyJldmVudCI6InBpbmcifQ==".into()),
    };
    let signed = settle(
        mock,
        h.client
            .secretkey_sign(APP, "webhook-signing", Some("17"), &body)
            .await,
    )
    .await
    .into_inner();
    assert!(signed.signature.unwrap().starts_with("3q2+7w8fHh4"));
}

async fn secretkey_verify(h: &Harness) {
    let mock = h
        .server
        .secret_keys_verify(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("webhook-signing").into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({"plaintext": "eyJldmVudCI6InBpbmcifQ==", "signature": "3q2+7w8fHh4AAQIDBAUGBwgJCgs="}),
            );
            reply_empty(then, 204);
        });
    let body = types::VerifySecretkeyRequest {
        plaintext: Some("eyJldmVudCI6InBpbmcifQ==".into()),
        signature: Some("3q2+7w8fHh4AAQIDBAUGBwgJCgs=".into()),
    };
    let response = settle(
        mock,
        h.client
            .secretkey_verify(APP, "webhook-signing", None, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

// ---------------------------------------------------------------------------------------------
// App secrets
// ---------------------------------------------------------------------------------------------

async fn secrets_list(h: &Harness) {
    let mock = h
        .server
        .secrets_list(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_api_version(when);
            let when = query(when, &[("show_secrets", "false")]);
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!({"secrets": [
                    {"name": "DATABASE_URL", "digest": "9f1a7c3e2b4d6f80", "created_at": "2024-02-20T10:00:00Z", "updated_at": "2024-02-21T11:30:00Z"},
                    {"name": "SESSION_SECRET", "digest": "0b7e5d3c1a9f8e6d", "created_at": "2024-02-20T10:00:00Z", "updated_at": "2024-02-20T10:00:00Z"}
                ]}),
            );
        });
    let secrets = settle(mock, h.client.secrets_list(APP, None, Some(false)).await)
        .await
        .into_inner();
    let secrets = secrets.secrets.unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0].name.as_deref(), Some("DATABASE_URL"));
    assert_eq!(secrets[0].value, None);
}

async fn secrets_update(h: &Harness) {
    let mock = h
        .server
        .secrets_update(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({"values": {"DATABASE_URL": "postgres://app:s3cret@db.internal:5432/app", "FEATURE_FLAGS": "beta"}}),
            );
            reply(
                then,
                200,
                json!({
                    "version": 21,
                    "secrets": [
                        {"name": "DATABASE_URL", "digest": "2c4e6a8b0d1f3e5a", "created_at": "2024-02-20T10:00:00Z", "updated_at": "2024-02-22T03:00:00Z"},
                        {"name": "FEATURE_FLAGS", "digest": "7d9b1f3a5c7e9b0d", "created_at": "2024-02-22T03:00:00Z", "updated_at": "2024-02-22T03:00:00Z"}
                    ]
                }),
            );
        });
    let body = types::AppSecretsUpdateRequest {
        values: Some(string_map(&[
            ("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/app"),
            ("FEATURE_FLAGS", "beta"),
        ])),
    };
    let updated = settle(mock, h.client.secrets_update(APP, &body).await)
        .await
        .into_inner();
    assert_eq!(updated.version, Some(21));
    assert_eq!(updated.secrets.unwrap().len(), 2);
}

async fn secret_get(h: &Harness) {
    let mock = h
        .server
        .secrets_get(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("DATABASE_URL").into_inner(), then.into_inner());
            let when = no_api_version(when);
            let when = query(when, &[("min_version", "21"), ("show_secrets", "true")]);
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!({"name": "DATABASE_URL", "value": "postgres://app:s3cret@db.internal:5432/app", "digest": "2c4e6a8b0d1f3e5a", "created_at": "2024-02-20T10:00:00Z", "updated_at": "2024-02-22T03:00:00Z"}),
            );
        });
    let secret = settle(
        mock,
        h.client
            .secret_get(APP, "DATABASE_URL", Some("21"), Some(true))
            .await,
    )
    .await
    .into_inner();
    assert_eq!(
        secret.value.as_deref(),
        Some("postgres://app:s3cret@db.internal:5432/app")
    );
    assert_eq!(secret.digest.as_deref(), Some("2c4e6a8b0d1f3e5a"));
}

async fn secret_create(h: &Harness) {
    let mock = h
        .server
        .secrets_set(|when, then| {
            let (when, then) = (when.app_name("my-app-name").secret_name("SESSION_SECRET").into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(accepts_json(when), json!({"value": "c0rrect-h0rse-battery"}));
            reply(
                then,
                201,
                json!({"name": "SESSION_SECRET", "digest": "5e7a9c1b3d5f7a9c", "version": 22, "created_at": "2024-02-22T03:05:00Z", "updated_at": "2024-02-22T03:05:00Z"}),
            );
        });
    let body = types::SetAppSecretRequest {
        value: Some("c0rrect-h0rse-battery".into()),
    };
    let response = settle(
        mock,
        h.client.secret_create(APP, "SESSION_SECRET", &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let created = response.into_inner();
    assert_eq!(created.version, Some(22));
    assert_eq!(created.value, None);
}

async fn secret_delete(h: &Harness) {
    let mock = h.server.secrets_delete(|when, then| {
        let (when, then) = (
            when.app_name("my-app-name")
                .secret_name("SESSION_SECRET")
                .into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, json!({"version": 23}));
    });
    let deleted = settle(mock, h.client.secret_delete(APP, "SESSION_SECRET").await)
        .await
        .into_inner();
    assert_eq!(deleted.version, Some(23));
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

async fn volumes_list(h: &Harness) {
    let mock = h.server.volumes_list(|when, then| {
        let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
        let when = no_api_version(when);
        empty_request(accepts_json(query(when, &[("summary", "true")])));
        reply(then, 200, json!([volume_json("created", 3)]));
    });
    let volumes = settle(
        mock,
        h.client.volumes_list(APP, None, None, Some(true)).await,
    )
    .await
    .into_inner();
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].id.as_deref(), Some(VOLUME));
    assert_eq!(volumes[0].attached_alloc_id, None);
    assert_eq!(volumes[0].bytes_total, Some(3077595136));
    assert_eq!(volumes[0].type_.as_deref(), Some("local"));
}

async fn volumes_create(h: &Harness) {
    let mock = h
        .server
        .volumes_create(|when, then| {
            let (when, then) = (when.app_name(APP).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({"name": "pg_data", "region": "iad", "size_gb": 3, "encrypted": true, "require_unique_zone": true, "snapshot_retention": 5}),
            );
            reply(then, 200, volume_json("created", 3));
        });
    let body = types::CreateVolumeRequest {
        name: Some("pg_data".into()),
        region: Some("iad".into()),
        size_gb: Some(3),
        encrypted: Some(true),
        require_unique_zone: Some(true),
        snapshot_retention: Some(5),
        ..Default::default()
    };
    let volume = settle(mock, h.client.volumes_create(APP, &body).await)
        .await
        .into_inner();
    assert_eq!(volume.state.as_deref(), Some("created"));
    assert_eq!(volume.zone.as_deref(), Some("a4df"));
    assert_eq!(volume.size_gb, Some(3));
}

async fn volumes_get_by_id(h: &Harness) {
    let mock = h.server.volumes_get(|when, then| {
        let (when, then) = (
            when.app_name(APP).volume_id(VOLUME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(then, 200, volume_json("created", 3));
    });
    let volume = settle(mock, h.client.volumes_get_by_id(APP, VOLUME).await)
        .await
        .into_inner();
    assert_eq!(volume.attached_machine_id.as_deref(), Some(MACHINE));
    assert_eq!(volume.blocks_avail, Some(708148));
}

async fn volumes_update(h: &Harness) {
    let mock = h.server.volumes_update(|when, then| {
        let (when, then) = (
            when.app_name(APP).volume_id(VOLUME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"auto_backup_enabled": false, "snapshot_retention": 14}),
        );
        let mut volume = volume_json("created", 3);
        volume["auto_backup_enabled"] = json!(false);
        volume["snapshot_retention"] = json!(14);
        reply(then, 200, volume);
    });
    let body = types::UpdateVolumeRequest {
        auto_backup_enabled: Some(false),
        snapshot_retention: Some(14),
    };
    let volume = settle(mock, h.client.volumes_update(APP, VOLUME, &body).await)
        .await
        .into_inner();
    assert_eq!(volume.auto_backup_enabled, Some(false));
    assert_eq!(volume.snapshot_retention, Some(14));
}

async fn volume_delete(h: &Harness) {
    let mock = h.server.volumes_delete(|when, then| {
        let (when, then) = (
            when.app_name(APP).volume_id(VOLUME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        let mut volume = volume_json("scheduled_for_destruction", 3);
        volume["attached_machine_id"] = Value::Null;
        reply(then, 200, volume);
    });
    let volume = settle(mock, h.client.volume_delete(APP, VOLUME).await)
        .await
        .into_inner();
    assert_eq!(volume.state.as_deref(), Some("scheduled_for_destruction"));
    assert_eq!(volume.attached_machine_id, None);
}

async fn volumes_extend(h: &Harness) {
    let mock = h.server.volumes_extend(|when, then| {
        let (when, then) = (
            when.app_name(APP).volume_id(VOLUME).into_inner(),
            then.into_inner(),
        );
        let when = no_query(no_api_version(when));
        json_request(accepts_json(when), json!({"size_gb": 10}));
        reply(
            then,
            200,
            json!({"needs_restart": true, "volume": volume_json("created", 10)}),
        );
    });
    let body = types::ExtendVolumeRequest { size_gb: Some(10) };
    let extended = settle(mock, h.client.volumes_extend(APP, VOLUME, &body).await)
        .await
        .into_inner();
    assert_eq!(extended.needs_restart, Some(true));
    assert_eq!(extended.volume.unwrap().size_gb, Some(10));
}

async fn volumes_list_snapshots(h: &Harness) {
    let mock = h
        .server
        .volumes_snapshots(|when, then| {
            let (when, then) = (when.app_name(APP).volume_id(VOLUME).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!([
                    {"id": "vs_gwMAXwwLjOVuo7jL96v2kGXU2", "size": 24576, "digest": "8c2a4e6f0b1d3f5a7c9e", "created_at": "2024-02-21T04:00:12Z", "status": "created", "retention_days": 5, "volume_size": 3221225472_i64},
                    {"id": "vs_Qb1nzR0aJ4LkTm7xP2cW9vYe3", "size": 20480, "digest": "1f3b5d7a9c2e4a6c8e0b", "created_at": "2024-02-22T04:00:09Z", "status": "created", "retention_days": 5, "volume_size": 3221225472_i64}
                ]),
            );
        });
    let snapshots = settle(mock, h.client.volumes_list_snapshots(APP, VOLUME).await)
        .await
        .into_inner();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(
        snapshots[0].id.as_deref(),
        Some("vs_gwMAXwwLjOVuo7jL96v2kGXU2")
    );
    assert_eq!(snapshots[1].volume_size, Some(3221225472));
}

async fn create_volume_snapshot(h: &Harness) {
    let mock = h
        .server
        .volumes_create_snapshot(|when, then| {
            let (when, then) = (when.app_name(APP).volume_id(VOLUME).into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            empty_request(when);
            // The started backup job, under `Msg`, as Fly's docs show it.
            reply(
                then,
                200,
                json!({"Msg": {"backup": {"id": "85999", "state": "prepare", "type": "BACKUP_TYPE_ON_DEMAND", "finished_at": null, "graph_id": "vs_gwMAXwwLjOVuo7jL96v2kGXU2"}}}),
            );
        });
    let response = settle(mock, h.client.create_volume_snapshot(APP, VOLUME).await).await;
    assert_eq!(response.status().as_u16(), 200);
    let backup = response.into_inner().msg.unwrap().backup.unwrap();
    assert_eq!(backup.id.as_deref(), Some("85999"));
    assert_eq!(backup.type_.as_deref(), Some("BACKUP_TYPE_ON_DEMAND"));
    assert_eq!(backup.finished_at, None);
    assert_eq!(
        backup.graph_id.as_deref(),
        Some("vs_gwMAXwwLjOVuo7jL96v2kGXU2")
    );
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

async fn machines_org_list(h: &Harness) {
    let mock = h.server.orgs_machines(|when, then| {
        let (when, then) = (when.org_slug(ORG).into_inner(), then.into_inner());
        let when = no_api_version(when);
        let when = query(
            when,
            &[
                ("cursor", "MDFIUTczQTdCRkZERjFCNldNR0hGWlo0RTc"),
                ("include_deleted", "false"),
                ("limit", "100"),
                ("region", "iad"),
                ("state", "started"),
                ("summary", "false"),
                ("updated_after", "2024-02-01T00:00:00Z"),
            ],
        );
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({
                "machines": [{
                    "id": MACHINE,
                    "name": "quiet-sun-4821",
                    "app_name": APP,
                    "state": "started",
                    "region": "iad",
                    "version": VERSION,
                    "instance_id": VERSION,
                    "private_ip": "fdaa:0:3ec2:a7b:5adc:6068:5b85:2",
                    "created_at": "2024-02-22T02:41:32Z",
                    "updated_at": "2024-02-22T02:41:40Z",
                    "config": {
                        "image": "registry.fly.io/my-app-name:deployment-01HQ73A7",
                        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
                        "metadata": {"fly_process_group": "app"}
                    }
                }],
                "next_cursor": "MDFIUTdCMks1VjNOOEQ0UUowWFdaNlBSVE0",
                "last_machine_id": MACHINE,
                "last_updated_at": "2024-02-22T02:41:40Z",
                "error_regions": null
            }),
        );
    });
    let result = h
        .client
        .machines_org_list(
            ORG,
            Some("MDFIUTczQTdCRkZERjFCNldNR0hGWlo0RTc"),
            Some(false),
            Some(100),
            Some("iad"),
            Some("started"),
            Some(false),
            Some("2024-02-01T00:00:00Z"),
        )
        .await;
    let page = settle(mock, result).await.into_inner();
    assert_eq!(page.error_regions, None);
    assert_eq!(page.last_machine_id.as_deref(), Some(MACHINE));
    let machine = &page.machines.unwrap()[0];
    assert_eq!(machine.app_name.as_deref(), Some(APP));
    assert_eq!(machine.version.as_deref(), Some(VERSION));
    let config = machine.config.as_ref().unwrap();
    assert_eq!(
        config
            .metadata
            .as_ref()
            .unwrap()
            .get("fly_process_group")
            .map(String::as_str),
        Some("app")
    );
}

async fn volumes_org_list(h: &Harness) {
    let mock = h.server.orgs_volumes(|when, then| {
        let (when, then) = (when.org_slug(ORG).into_inner(), then.into_inner());
        let when = no_api_version(when);
        let when = query(
            when,
            &[("limit", "50"), ("state", "created"), ("summary", "true")],
        );
        empty_request(accepts_json(when));
        let mut volume = volume_json("created", 3);
        volume["app_name"] = json!(APP);
        volume["updated_at"] = json!("2024-02-22T02:41:40Z");
        reply(
            then,
            200,
            json!({
                "volumes": [volume],
                "next_cursor": "",
                "last_volume_id": VOLUME,
                "last_updated_at": "2024-02-22T02:41:40Z"
            }),
        );
    });
    let result = h
        .client
        .volumes_org_list(
            ORG,
            None,
            None,
            Some(50),
            None,
            Some("created"),
            Some(true),
            None,
        )
        .await;
    let page = settle(mock, result).await.into_inner();
    assert_eq!(page.last_volume_id.as_deref(), Some(VOLUME));
    assert_eq!(page.next_cursor.as_deref(), Some(""));
    let volume = &page.volumes.unwrap()[0];
    assert_eq!(volume.app_name.as_deref(), Some(APP));
    assert_eq!(volume.host_status.as_deref(), Some("ok"));
}

// ---------------------------------------------------------------------------------------------
// Platform
// ---------------------------------------------------------------------------------------------

async fn platform_placements_post(h: &Harness) {
    let mock = h.server.platform_placements(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({
                "org_slug": ORG,
                "region": "iad,ord",
                "count": 3,
                "compute": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096},
                "volume_size_bytes": 10737418240_i64,
                "weights": {"region": 100, "spread": 10}
            }),
        );
        reply(
            then,
            200,
            json!({"regions": [
                {"region": "iad", "count": 2, "concurrency": 2},
                {"region": "ord", "count": 1, "concurrency": 1}
            ]}),
        );
    });
    let body = types::GetPlacementsRequest {
        org_slug: ORG.into(),
        region: Some("iad,ord".into()),
        count: Some(3),
        compute: Some(types::MachineGuest {
            cpu_kind: Some("performance".into()),
            cpus: Some(2),
            memory_mb: Some(4096),
            ..Default::default()
        }),
        volume_name: None,
        volume_size_bytes: Some(10737418240),
        weights: Some(types::Weights(
            [("region".to_string(), 100), ("spread".to_string(), 10)]
                .into_iter()
                .collect(),
        )),
    };
    let placements = settle(mock, h.client.platform_placements_post(&body).await)
        .await
        .into_inner();
    let regions = placements.regions.unwrap();
    assert_eq!(regions.len(), 2);
    assert_eq!(regions[0].region.as_deref(), Some("iad"));
    assert_eq!(regions[0].count, Some(2));
}

async fn platform_regions_get(h: &Harness) {
    let mock = h
        .server
        .platform_regions(|when, then| {
            let (when, then) = (when.into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            empty_request(accepts_json(when));
            reply(
                then,
                200,
                json!({
                    "nearest": "iad",
                    "regions": [
                        {"code": "iad", "name": "Ashburn, Virginia (US)", "latitude": 39.0438, "longitude": -77.4874, "gateway_available": true, "requires_paid_plan": false, "deprecated": false, "geo_region": "america"},
                        {"code": "ams", "name": "Amsterdam, Netherlands", "latitude": 52.374342, "longitude": 4.895439, "gateway_available": true, "requires_paid_plan": false, "deprecated": false, "geo_region": "europe"}
                    ]
                }),
            );
        });
    let regions = settle(mock, h.client.platform_regions_get().await)
        .await
        .into_inner();
    assert_eq!(regions.nearest.as_deref(), Some("iad"));
    let rows = regions.regions.unwrap();
    assert_eq!(rows[1].code.as_deref(), Some("ams"));
    assert_eq!(rows[0].latitude, Some(39.0438));
    assert_eq!(rows[0].longitude, Some(-77.4874));
    assert_eq!(rows[0].deprecated, Some(false));
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

fn verified_token_json() -> Value {
    json!({
        "header": "FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa",
        "nonce": {"kid": "Yf3kZ1bT8uQ2", "rnd": "m0R5cQ9wE2aL7sN4", "proof": false},
        "caveats": {"caveats": [
            {"type": "ValidityWindow", "body": {"not_before": 1708560000, "not_after": 1711152000}},
            {"type": "Apps", "body": {"apps": {"1700318": 63}}}
        ]},
        "permission_token": "lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa"
    })
}

async fn tokens_authenticate(h: &Harness) {
    let mock = h.server.tokens_authenticate(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            accepts_json(when),
            json!({"header": "FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa"}),
        );
        reply(then, 200, json!([verified_token_json()]));
    });
    let body = types::AuthenticateTokenRequest {
        header: Some("FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa".into()),
    };
    let tokens = settle(mock, h.client.tokens_authenticate(&body).await)
        .await
        .into_inner();
    assert_eq!(tokens.len(), 1);
    let nonce = tokens[0].nonce.as_ref().unwrap();
    assert_eq!(nonce.kid.as_deref(), Some("Yf3kZ1bT8uQ2"));
    assert_eq!(nonce.proof, Some(false));
    let caveats = tokens[0]
        .caveats
        .as_ref()
        .unwrap()
        .caveats
        .as_ref()
        .unwrap();
    assert_eq!(caveats[1]["type"], json!("Apps"));
}

async fn tokens_authorize(h: &Harness) {
    let mock = h
        .server
        .tokens_authorize(|when, then| {
            let (when, then) = (when.into_inner(), then.into_inner());
            let when = no_query(no_api_version(when));
            json_request(
                accepts_json(when),
                json!({
                    "header": "FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa",
                    "access": {"action": "rw", "app_name": APP, "machine_id": MACHINE, "org_slug": ORG}
                }),
            );
            reply(
                then,
                200,
                json!({
                    "access": {"action": "rw", "orgid": 51234, "appid": 1700318, "machine": MACHINE, "sourceApp": "my-deployer", "sourceMachine": OTHER_MACHINE},
                    "verified_token": verified_token_json()
                }),
            );
        });
    let body = types::AuthorizeTokenRequest {
        header: Some("FlyV1 fm2_lJPECAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa".into()),
        access: Some(types::TokenAccess {
            action: Some(types::Action("rw".into())),
            app_name: Some(APP.into()),
            machine_id: Some(MACHINE.into()),
            org_slug: Some(ORG.into()),
            ..Default::default()
        }),
    };
    let authorized = settle(mock, h.client.tokens_authorize(&body).await)
        .await
        .into_inner();
    let access = authorized.access.unwrap();
    assert_eq!(access.action, Some(types::Action("rw".into())));
    assert_eq!(access.orgid, Some(51234));
    assert_eq!(access.source_app.as_deref(), Some("my-deployer"));
    assert_eq!(access.source_machine.as_deref(), Some(OTHER_MACHINE));
    assert!(authorized.verified_token.is_some());
}

async fn current_token_show(h: &Harness) {
    let mock = h.server.tokens_current(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({"tokens": [{
                "token_id": "tkn_01HQ73A7BFFD",
                "org_slug": ORG,
                "organization": "Q1v3m9dXk2",
                "apps": [APP],
                "user": "",
                "restricted_to_machine": "",
                "source_machine_id": MACHINE
            }]}),
        );
    });
    let current = settle(mock, h.client.current_token_show().await)
        .await
        .into_inner();
    let token = &current.tokens.unwrap()[0];
    assert_eq!(token.org_slug.as_deref(), Some(ORG));
    assert_eq!(token.apps.as_deref(), Some(&[APP.to_string()][..]));
    assert_eq!(token.source_machine_id.as_deref(), Some(MACHINE));
}

async fn tokens_request_kms(h: &Harness) {
    let mock = h.server.tokens_kms(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        empty_request(no_query(no_api_version(when)));
        then.status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body("FlyV1 fm2_kmsTokenAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa");
    });
    let response = settle(mock, h.client.tokens_request_kms().await).await;
    assert_eq!(
        read_text(response).await,
        "FlyV1 fm2_kmsTokenAAAAAAAAMGyxBD1aMnM3b2xb1vnJpWa"
    );
}

async fn tokens_request_oidc(h: &Harness) {
    let jwt =
        "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJhdWQiOiJzdHMuYW1hem9uYXdzLmNvbSJ9.c2lnbmF0dXJl";
    let mock = h.server.tokens_oidc(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = no_query(no_api_version(when));
        json_request(
            when,
            json!({"aud": "sts.amazonaws.com", "aws_principal_tags": true}),
        );
        then.status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(jwt);
    });
    let body = types::CreateOidcTokenRequest {
        aud: Some("sts.amazonaws.com".into()),
        aws_principal_tags: Some(true),
    };
    let response = settle(mock, h.client.tokens_request_oidc(&body).await).await;
    assert_eq!(read_text(response).await, jwt);
}

// ---------------------------------------------------------------------------------------------
// Managed Postgres
// ---------------------------------------------------------------------------------------------

const CLUSTER: &str = "kd8x9m2pq7w1l4ev";
const DATABASE: &str = "orders";
const PG_USER: &str = "reporting";

fn cluster_json(status: &str) -> Value {
    json!({
        "id": CLUSTER,
        "name": "orders-db",
        "status": status,
        "plan": "basic",
        "region": "iad",
        "cpu_kind": "shared",
        "cpus": 1,
        "memory_mb": 1024,
        "disk_size_gb": 10,
        "replicas": 1,
        "pg_major_version": "17",
        "postgis_enabled": false,
        "created_at": "2026-10-02T09:15:00Z",
        "organization": {"name": "Personal", "slug": ORG},
        "attached_apps": [{"name": APP}],
        "endpoints": {"primary": {
            "direct": {"host": "direct.kd8x9m2pq7w1l4ev.flympg.net", "port": 5432},
            "pooler": {"host": "pgbouncer.kd8x9m2pq7w1l4ev.flympg.net", "port": 5432}
        }},
        "storage_used_bytes": null,
        "storage_provisioned_bytes": 10737418240_i64
    })
}

/// Decodes `body` into a request type, so the test sends exactly the document it expects.
fn request_body<T: serde::de::DeserializeOwned>(body: &Value) -> T {
    serde_json::from_value(body.clone()).expect("the request document fits its type")
}

fn assert_cluster(cluster: &types::PostgresCluster, status: &str) {
    assert_eq!(cluster.id.as_deref(), Some(CLUSTER));
    assert_eq!(cluster.status.as_deref(), Some(status));
    assert_eq!(cluster.pg_major_version.as_deref(), Some("17"));
    assert_eq!(
        cluster.organization.as_ref().unwrap().slug.as_deref(),
        Some(ORG)
    );
    assert_eq!(
        cluster.attached_apps.as_ref().unwrap()[0].name.as_deref(),
        Some(APP)
    );
    let primary = cluster
        .endpoints
        .as_ref()
        .unwrap()
        .primary
        .as_ref()
        .unwrap();
    assert_eq!(primary.pooler.as_ref().unwrap().port, Some(5432));
    assert_eq!(cluster.storage_used_bytes, None);
    assert_eq!(cluster.storage_provisioned_bytes, Some(10737418240));
}

async fn postgres_list(h: &Harness) {
    let mock = h.server.postgres_list(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        let when = query(
            no_api_version(when),
            &[("org_slug", ORG), ("include_deleted", "true")],
        );
        empty_request(accepts_json(when));
        reply(
            then,
            200,
            json!({"data": [
                {"id": CLUSTER, "name": "orders-db", "status": "ready", "plan": "basic", "region": "iad",
                 "created_at": "2026-10-02T09:15:00Z", "attached_apps": null},
                {"id": "old1", "name": "old", "status": "deleted", "plan": "launch", "region": "ams",
                 "created_at": "2026-01-02T09:15:00Z", "deleted_at": "2026-03-01T00:00:00Z", "attached_apps": []}
            ]}),
        );
    });
    let list = settle(mock, h.client.postgres_list(Some(true), ORG).await)
        .await
        .into_inner();
    let data = list.data.unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].status.as_deref(), Some("ready"));
    assert_eq!(data[0].attached_apps, None);
    assert_eq!(data[1].deleted_at.as_deref(), Some("2026-03-01T00:00:00Z"));
}

async fn postgres_create(h: &Harness) {
    let sent = json!({"org_slug": ORG, "plan": "basic", "region": "iad", "name": "orders-db",
                      "pg_major_version": "17", "pool_mode": "transaction", "postgis_enabled": false,
                      "disk_size_gb": 10});
    let expected = sent.clone();
    let mock = h.server.postgres_create(|when, then| {
        let (when, then) = (when.into_inner(), then.into_inner());
        json_request(accepts_json(no_query(no_api_version(when))), expected);
        reply(then, 201, json!({"data": cluster_json("creating")}));
    });
    let body: types::CreatePostgresClusterRequest = request_body(&sent);
    let response = settle(mock, h.client.postgres_create(&body).await).await;
    assert_eq!(response.status().as_u16(), 201);
    assert_cluster(response.into_inner().data.as_ref().unwrap(), "creating");
}

async fn postgres_show(h: &Harness) {
    let mock = h.server.postgres_get(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        empty_request(accepts_json(no_query(no_api_version(when))));
        // A status this document does not list yet still decodes.
        reply(then, 200, json!({"data": cluster_json("upgrading")}));
    });
    let shown = settle(mock, h.client.postgres_show(CLUSTER).await)
        .await
        .into_inner();
    assert_cluster(shown.data.as_ref().unwrap(), "upgrading");
}

async fn postgres_delete(h: &Harness) {
    let mock = h.server.postgres_delete(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        empty_request(no_query(no_api_version(when)));
        reply_empty(then, 202);
    });
    let response = settle(mock, h.client.postgres_delete(CLUSTER).await).await;
    assert_eq!(response.status().as_u16(), 202);
}

async fn postgres_attachments_create(h: &Harness) {
    let mock = h.server.postgres_attach(|when, then| {
        let (when, then) = (when.postgres_cluster_id(CLUSTER).into_inner(), then.into_inner());
        json_request(no_query(no_api_version(when)), json!({"app_name": APP}));
        // Already attached: 200 with the existing attachment (a fresh one is 201).
        reply(
            then,
            200,
            json!({"data": {"app_name": APP, "postgres_cluster_id": CLUSTER, "attached_at": "2026-10-02T09:20:00Z"}}),
        );
    });
    let body = types::CreatePostgresAttachmentRequest {
        app_name: APP.into(),
    };
    let response = settle(
        mock,
        h.client.postgres_attachments_create(CLUSTER, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let attachment = response.into_inner().data.unwrap();
    assert_eq!(attachment.app_name.as_deref(), Some(APP));
    assert_eq!(attachment.postgres_cluster_id.as_deref(), Some(CLUSTER));
}

async fn postgres_attachments_delete(h: &Harness) {
    let mock = h.server.postgres_detach(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).app_name(APP).into_inner(),
            then.into_inner(),
        );
        empty_request(no_query(no_api_version(when)));
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client.postgres_attachments_delete(CLUSTER, APP).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn postgres_backups_list(h: &Harness) {
    let mock = h.server.postgres_backups_list(|when, then| {
        let (when, then) = (when.postgres_cluster_id(CLUSTER).into_inner(), then.into_inner());
        empty_request(accepts_json(no_query(no_api_version(when))));
        reply(
            then,
            200,
            json!({"data": [
                {"id": "20261002-091500F", "type": "full", "status": "completed", "size_bytes": 52428800,
                 "started_at": "2026-10-02T09:15:00Z", "finished_at": "2026-10-02T09:16:10Z"},
                {"id": "20261002-101500I", "type": "block", "status": "running", "size_bytes": null,
                 "started_at": "2026-10-02T10:15:00Z", "finished_at": null}
            ]}),
        );
    });
    let backups = settle(mock, h.client.postgres_backups_list(CLUSTER).await)
        .await
        .into_inner()
        .data
        .unwrap();
    assert_eq!(backups[0].size_bytes, Some(52428800));
    // A backup type this document does not list yet still decodes.
    assert_eq!(backups[1].type_.as_deref(), Some("block"));
    assert_eq!(backups[1].finished_at, None);
}

async fn postgres_backups_create(h: &Harness) {
    let mock = h.server.postgres_backups_create(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), json!({"type": "incr"}));
        reply_empty(then, 202);
    });
    let body: types::CreatePostgresBackupRequest = request_body(&json!({"type": "incr"}));
    let response = settle(mock, h.client.postgres_backups_create(CLUSTER, &body).await).await;
    assert_eq!(response.status().as_u16(), 202);
}

async fn postgres_databases_list(h: &Harness) {
    let mock = h.server.postgres_databases_list(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        empty_request(accepts_json(no_query(no_api_version(when))));
        reply(
            then,
            200,
            json!({"data": [{"name": "postgres"}, {"name": DATABASE}]}),
        );
    });
    let names: Vec<_> = settle(mock, h.client.postgres_databases_list(CLUSTER).await)
        .await
        .into_inner()
        .data
        .unwrap()
        .into_iter()
        .map(|d| d.name.unwrap())
        .collect();
    assert_eq!(names, ["postgres", DATABASE]);
}

async fn postgres_databases_create(h: &Harness) {
    let mock = h.server.postgres_databases_create(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), json!({"name": DATABASE}));
        reply(then, 201, json!({"data": {"name": DATABASE}}));
    });
    let body = types::CreatePostgresDatabaseRequest {
        name: DATABASE.into(),
    };
    let response = settle(
        mock,
        h.client.postgres_databases_create(CLUSTER, &body).await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        response.into_inner().data.unwrap().name.as_deref(),
        Some(DATABASE)
    );
}

async fn postgres_databases_delete(h: &Harness) {
    let mock = h.server.postgres_databases_delete(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .database_name(DATABASE)
                .into_inner(),
            then.into_inner(),
        );
        empty_request(no_query(no_api_version(when)));
        reply(then, 200, json!({"data": {"name": DATABASE}}));
    });
    let dropped = settle(
        mock,
        h.client.postgres_databases_delete(CLUSTER, DATABASE).await,
    )
    .await
    .into_inner();
    assert_eq!(dropped.data.unwrap().name.as_deref(), Some(DATABASE));
}

async fn postgres_extensions_list(h: &Harness) {
    let mock = h.server.postgres_extensions_list(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).database_name(DATABASE).into_inner(),
            then.into_inner(),
        );
        empty_request(accepts_json(no_query(no_api_version(when))));
        reply(
            then,
            200,
            json!({"data": [
                {"name": "pg_trgm", "default_version": "1.6", "description": "text similarity", "system": false,
                 "installed": {"schema": "public", "version": "1.6"}},
                {"name": "plpgsql", "default_version": "1.0", "description": "procedural language", "system": true,
                 "installed": null}
            ]}),
        );
    });
    let extensions = settle(
        mock,
        h.client.postgres_extensions_list(CLUSTER, DATABASE).await,
    )
    .await
    .into_inner()
    .data
    .unwrap();
    let installed = extensions[0].installed.as_ref().unwrap();
    assert_eq!(installed.schema.as_deref(), Some("public"));
    assert_eq!(extensions[1].installed, None);
    assert_eq!(extensions[1].system, Some(true));
}

async fn postgres_extensions_enable(h: &Harness) {
    let sent = json!({"name": "pg_trgm", "schema": "search", "create_schema": true});
    let expected = sent.clone();
    let mock = h.server.postgres_extensions_enable(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .database_name(DATABASE)
                .into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), expected);
        reply_empty(then, 204);
    });
    let body: types::EnablePostgresExtensionRequest = request_body(&sent);
    let response = settle(
        mock,
        h.client
            .postgres_extensions_enable(CLUSTER, DATABASE, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn postgres_extensions_disable(h: &Harness) {
    let mock = h.server.postgres_extensions_disable(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .database_name(DATABASE)
                .extension_name("pg_trgm")
                .into_inner(),
            then.into_inner(),
        );
        empty_request(query(no_api_version(when), &[("force", "true")]));
        reply_empty(then, 204);
    });
    let response = settle(
        mock,
        h.client
            .postgres_extensions_disable(CLUSTER, DATABASE, "pg_trgm", Some(true))
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn postgres_fork(h: &Harness) {
    let mock = h.server.postgres_fork(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        json_request(
            no_query(no_api_version(when)),
            json!({"name": "orders-db-fork"}),
        );
        reply(then, 201, json!({"data": cluster_json("creating")}));
    });
    let body = types::ForkPostgresClusterRequest {
        name: Some("orders-db-fork".into()),
    };
    let response = settle(mock, h.client.postgres_fork(CLUSTER, &body).await).await;
    assert_eq!(response.status().as_u16(), 201);
    assert_cluster(response.into_inner().data.as_ref().unwrap(), "creating");
}

async fn postgres_queries_active(h: &Harness) {
    let mock = h.server.postgres_active_queries(|when, then| {
        let (when, then) = (when.postgres_cluster_id(CLUSTER).into_inner(), then.into_inner());
        empty_request(query(no_api_version(when), &[("database", DATABASE)]));
        reply(
            then,
            200,
            json!({"data": [{"pid": 4242, "user": PG_USER, "database": DATABASE, "query": "select 1",
                             "state": "active", "duration_seconds": 1.5, "state_duration_seconds": 1.5,
                             "wait_event": null, "wait_event_type": null, "client": null,
                             "application_name": "psql"}]}),
        );
    });
    let database: types::PostgresQueriesActiveDatabase = DATABASE.parse().unwrap();
    let queries = settle(
        mock,
        h.client.postgres_queries_active(CLUSTER, &database).await,
    )
    .await
    .into_inner()
    .data
    .unwrap();
    assert_eq!(queries[0].pid, Some(4242));
    assert_eq!(queries[0].duration_seconds, Some(1.5));
    assert_eq!(queries[0].wait_event, None);
    // An empty name is refused before anything is sent.
    assert!("".parse::<types::PostgresQueriesActiveDatabase>().is_err());
}

async fn postgres_queries_slow(h: &Harness) {
    let mock = h.server.postgres_slow_queries(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        empty_request(query(no_api_version(when), &[("range", "86400")]));
        reply(
            then,
            200,
            json!({"data": [{"query_id": "-812345", "query": "select * from orders where id = $1",
                             "database": DATABASE, "user": PG_USER, "calls": 1200,
                             "mean_exec_time_seconds": 0.25, "max_exec_time_seconds": 3.0,
                             "total_exec_time_seconds": 300.0}]}),
        );
    });
    let slow = settle(
        mock,
        h.client
            .postgres_queries_slow(CLUSTER, std::num::NonZeroU64::new(86400))
            .await,
    )
    .await
    .into_inner()
    .data
    .unwrap();
    assert_eq!(slow[0].calls, Some(1200));
    assert_eq!(slow[0].max_exec_time_seconds, Some(3.0));
}

async fn postgres_restore(h: &Harness) {
    let sent = json!({"backup_id": "20261002-091500F", "name": "orders-db-restored"});
    let expected = sent.clone();
    let mock = h.server.postgres_restore(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), expected);
        reply(then, 201, json!({"data": cluster_json("creating")}));
    });
    let body: types::RestorePostgresClusterRequest = request_body(&sent);
    let response = settle(mock, h.client.postgres_restore(CLUSTER, &body).await).await;
    assert_eq!(response.status().as_u16(), 201);
}

async fn postgres_users_list(h: &Harness) {
    let mock = h.server.postgres_users_list(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        empty_request(accepts_json(no_query(no_api_version(when))));
        reply(
            then,
            200,
            json!({"data": [{"username": "fly-user", "role": "schema_admin"},
                            {"username": PG_USER, "role": "auditor"}]}),
        );
    });
    let users = settle(mock, h.client.postgres_users_list(CLUSTER).await)
        .await
        .into_inner()
        .data
        .unwrap();
    assert_eq!(users[0].role.as_deref(), Some("schema_admin"));
    // A role this document does not list yet still decodes.
    assert_eq!(users[1].role.as_deref(), Some("auditor"));
}

async fn postgres_users_create(h: &Harness) {
    let sent = json!({"username": PG_USER, "role": "reader"});
    let expected = sent.clone();
    let mock = h.server.postgres_users_create(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER).into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), expected);
        reply(
            then,
            201,
            json!({"data": {"username": PG_USER, "role": "reader"}}),
        );
    });
    let body: types::CreatePostgresUserRequest = request_body(&sent);
    let response = settle(mock, h.client.postgres_users_create(CLUSTER, &body).await).await;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        response.into_inner().data.unwrap().username.as_deref(),
        Some(PG_USER)
    );
}

async fn postgres_users_delete(h: &Harness) {
    let mock = h.server.postgres_users_delete(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .username(PG_USER)
                .into_inner(),
            then.into_inner(),
        );
        empty_request(no_query(no_api_version(when)));
        reply_empty(then, 204);
    });
    let response = settle(mock, h.client.postgres_users_delete(CLUSTER, PG_USER).await).await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn postgres_users_update_role(h: &Harness) {
    let mock = h.server.postgres_users_set_role(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .username(PG_USER)
                .into_inner(),
            then.into_inner(),
        );
        json_request(no_query(no_api_version(when)), json!({"role": "writer"}));
        reply_empty(then, 204);
    });
    let body: types::UpdatePostgresUserRoleRequest = request_body(&json!({"role": "writer"}));
    let response = settle(
        mock,
        h.client
            .postgres_users_update_role(CLUSTER, PG_USER, &body)
            .await,
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
}

async fn postgres_users_credentials(h: &Harness) {
    let mock = h.server.postgres_users_credentials(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .username(PG_USER)
                .into_inner(),
            then.into_inner(),
        );
        empty_request(accepts_json(no_query(no_api_version(when))));
        reply(
            then,
            200,
            json!({"data": {"username": PG_USER, "password": "pw-secret-1"}}),
        );
    });
    let credentials = settle(
        mock,
        h.client.postgres_users_credentials(CLUSTER, PG_USER).await,
    )
    .await
    .into_inner()
    .data
    .unwrap();
    assert_eq!(credentials.password.as_deref(), Some("pw-secret-1"));
    // The password is marked secret in the document: Debug never shows it.
    assert!(!format!("{credentials:?}").contains("pw-secret-1"));
}

async fn postgres_users_rotate_password(h: &Harness) {
    let mock = h.server.postgres_users_rotate_password(|when, then| {
        let (when, then) = (
            when.postgres_cluster_id(CLUSTER)
                .username(PG_USER)
                .into_inner(),
            then.into_inner(),
        );
        json_request(
            no_query(no_api_version(when)),
            json!({"kill_sessions": true}),
        );
        reply(
            then,
            200,
            json!({"data": {"username": PG_USER, "password": "pw-secret-2"}}),
        );
    });
    let body = types::RotatePostgresPasswordRequest {
        kill_sessions: Some(true),
    };
    let rotated = settle(
        mock,
        h.client
            .postgres_users_rotate_password(CLUSTER, PG_USER, &body)
            .await,
    )
    .await
    .into_inner()
    .data
    .unwrap();
    assert_eq!(rotated.password.as_deref(), Some("pw-secret-2"));
}
