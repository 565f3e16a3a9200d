//! Every one of the 100 operations answers its declared success status with a body that decodes
//! into the generated type; then the resource semantics that are not about machines.

use std::collections::BTreeSet;

use crate::common::*;
use fly_machines_api::types;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn decode<T: DeserializeOwned>(op: &str, a: &Answer) -> T {
    serde_json::from_value(a.body.clone())
        .unwrap_or_else(|e| panic!("{op}: body does not decode: {e}\n{}", a.text))
}

async fn call(
    http: &Http,
    op: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Answer {
    call_n(http, op, method, path, body, None, status).await
}

async fn call_n(
    http: &Http,
    op: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    nonce: Option<&str>,
    status: u16,
) -> Answer {
    let a = http.send(method, path, body, nonce).await;
    assert_eq!(a.status, status, "{op} {path}: {}", a.text);
    a
}

#[tokio::test]
async fn every_operation_answers_its_declared_status_and_shape() {
    let sim = start().await;
    let http = Http::new(&sim);
    use Method as M;

    // Apps.
    let a = call(
        &http,
        "Apps_create",
        M::POST,
        "/apps",
        Some(json!({ "name": "app", "org_slug": "acme" })),
        201,
    )
    .await;
    let _: types::CreateAppResponse = decode("Apps_create", &a);
    let a = call(&http, "Apps_list", M::GET, "/apps?org_slug=acme", None, 200).await;
    let _: types::ListAppsResponse = decode("Apps_list", &a);
    let a = call(&http, "Apps_show", M::GET, "/apps/app", None, 200).await;
    let _: types::App = decode("Apps_show", &a);
    let a = call(
        &http,
        "App_create_deploy_token",
        M::POST,
        "/apps/app/deploy_token",
        Some(json!({ "expiry": "720h" })),
        200,
    )
    .await;
    let t: types::CreateAppDeployTokenResponse = decode("App_create_deploy_token", &a);
    assert!(t.token.unwrap().starts_with("FlyV1 fm2_"));

    // Certificates and IPs.
    let a = call(
        &http,
        "App_Certificates_acme_create",
        M::POST,
        "/apps/app/certificates/acme",
        Some(json!({ "hostname": "www.example.com" })),
        201,
    )
    .await;
    let c: types::CertificateDetail = decode("acme_create", &a);
    assert_eq!(c.status.as_deref(), Some("pending_validation"));
    let pem = json!({ "hostname": "api.example.com", "fullchain": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----", "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----" });
    let a = call(
        &http,
        "App_Certificates_custom_create",
        M::POST,
        "/apps/app/certificates/custom",
        Some(pem),
        201,
    )
    .await;
    let _: types::CertificateDetail = decode("custom_create", &a);
    let a = call(
        &http,
        "App_Certificates_list",
        M::GET,
        "/apps/app/certificates?limit=1",
        None,
        200,
    )
    .await;
    let l: types::ListCertificatesResponse = decode("cert_list", &a);
    assert_eq!(l.total_count, Some(2));
    assert_eq!(l.next_cursor.as_deref(), Some("1"));
    let a = call(
        &http,
        "App_Certificates_check",
        M::POST,
        "/apps/app/certificates/www.example.com/check",
        None,
        200,
    )
    .await;
    let chk: types::CertificateCheckResponse = decode("check", &a);
    assert_eq!(chk.status.as_deref(), Some("active"));
    let a = call(
        &http,
        "App_Certificates_show",
        M::GET,
        "/apps/app/certificates/www.example.com",
        None,
        200,
    )
    .await;
    let _: types::CertificateDetail = decode("cert_show", &a);
    let a = call(
        &http,
        "App_Certificates_acme_delete",
        M::DELETE,
        "/apps/app/certificates/www.example.com/acme",
        None,
        200,
    )
    .await;
    let _: types::CertificateDetail = decode("acme_delete", &a);
    let a = call(
        &http,
        "App_Certificates_custom_delete",
        M::DELETE,
        "/apps/app/certificates/api.example.com/custom",
        None,
        200,
    )
    .await;
    let _: types::DestroyCustomCertificateResponse = decode("custom_delete", &a);
    call(
        &http,
        "App_Certificates_delete",
        M::DELETE,
        "/apps/app/certificates/api.example.com",
        None,
        204,
    )
    .await;
    let a = call(
        &http,
        "App_IPAssignments_create",
        M::POST,
        "/apps/app/ip_assignments",
        Some(json!({ "type": "v6" })),
        200,
    )
    .await;
    let ip: types::AssignIpResponse = decode("ip_create", &a);
    let a = call(
        &http,
        "App_IPAssignments_list",
        M::GET,
        "/apps/app/ip_assignments",
        None,
        200,
    )
    .await;
    let ips: types::ListIpAssignmentsResponse = decode("ip_list", &a);
    assert_eq!(ips.ips.unwrap().len(), 1);
    call(
        &http,
        "App_IPAssignments_delete",
        M::DELETE,
        &format!("/apps/app/ip_assignments/{}", ip.ip.unwrap()),
        None,
        204,
    )
    .await;

    // Volumes.
    let a = call(
        &http,
        "Volumes_create",
        M::POST,
        "/apps/app/volumes",
        Some(json!({ "name": "data", "region": "iad", "size_gb": 3 })),
        200,
    )
    .await;
    let vol: types::Volume = decode("Volumes_create", &a);
    let vid = vol.id.unwrap();
    let a = call(
        &http,
        "Volumes_list",
        M::GET,
        "/apps/app/volumes?summary=true",
        None,
        200,
    )
    .await;
    let _: Vec<types::Volume> = decode("Volumes_list", &a);
    let a = call(
        &http,
        "Volumes_get_by_id",
        M::GET,
        &format!("/apps/app/volumes/{vid}"),
        None,
        200,
    )
    .await;
    let _: types::Volume = decode("Volumes_get_by_id", &a);
    let a = call(
        &http,
        "Volumes_update",
        M::PUT,
        &format!("/apps/app/volumes/{vid}"),
        Some(json!({ "snapshot_retention": 10 })),
        200,
    )
    .await;
    let v: types::Volume = decode("Volumes_update", &a);
    assert_eq!(v.snapshot_retention, Some(10));
    let a = call(
        &http,
        "Volumes_extend",
        M::PUT,
        &format!("/apps/app/volumes/{vid}/extend"),
        Some(json!({ "size_gb": 5 })),
        200,
    )
    .await;
    let ext: types::ExtendVolumeResponse = decode("Volumes_extend", &a);
    assert_eq!(ext.volume.unwrap().size_gb, Some(5));
    call(
        &http,
        "createVolumeSnapshot",
        M::POST,
        &format!("/apps/app/volumes/{vid}/snapshots"),
        None,
        200,
    )
    .await;
    let a = call(
        &http,
        "Volumes_list_snapshots",
        M::GET,
        &format!("/apps/app/volumes/{vid}/snapshots"),
        None,
        200,
    )
    .await;
    let snaps: Vec<types::VolumeSnapshot> = decode("snapshots", &a);
    assert_eq!(snaps.len(), 1);

    // Machines.
    let a = call(&http, "Machines_create", M::POST, "/apps/app/machines", Some(json!({ "config": { "image": "nginx", "mounts": [{ "volume": vid, "path": "/data" }], "services": [{ "internal_port": 8080, "protocol": "tcp" }] } })), 200).await;
    let m: types::Machine = decode("Machines_create", &a);
    let id = m.id.unwrap();
    let mp = |p: &str| format!("/apps/app/machines/{id}{p}");
    settle(&sim);
    let a = call(
        &http,
        "Machines_list",
        M::GET,
        "/apps/app/machines",
        None,
        200,
    )
    .await;
    let _: Vec<types::Machine> = decode("Machines_list", &a);
    let a = call(&http, "Machines_show", M::GET, &mp(""), None, 200).await;
    let _: types::Machine = decode("Machines_show", &a);
    let a = call(
        &http,
        "Machines_wait",
        M::GET,
        &mp("/wait?state=started&timeout=1"),
        None,
        200,
    )
    .await;
    let _: types::WaitMachineResponse = decode("Machines_wait", &a);
    let a = call(
        &http,
        "Machines_list_events",
        M::GET,
        &mp("/events?limit=2"),
        None,
        200,
    )
    .await;
    let ev: Vec<types::MachineEvent> = decode("events", &a);
    assert_eq!(ev.len(), 2);
    let a = call(
        &http,
        "Machines_list_versions",
        M::GET,
        &mp("/versions"),
        None,
        200,
    )
    .await;
    let _: Vec<types::MachineVersion> = decode("versions", &a);
    let a = call(
        &http,
        "Machines_exec",
        M::POST,
        &mp("/exec"),
        Some(json!({ "command": ["echo", "hi", "there"] })),
        200,
    )
    .await;
    let ex: types::ExecResponse = decode("exec", &a);
    assert_eq!(ex.stdout.as_deref(), Some("hi there\n"));
    assert_eq!(ex.exit_code, Some(0));
    let a = call(
        &http,
        "Machines_list_processes",
        M::GET,
        &mp("/ps?sort_by=pid&order=desc"),
        None,
        200,
    )
    .await;
    let ps: Vec<types::ProcessStat> = decode("ps", &a);
    assert_eq!(ps[0].pid, Some(713));
    assert_eq!(
        ps[0].listen_sockets.as_ref().unwrap()[0].address.as_deref(),
        Some("0.0.0.0:8080")
    );
    let a = call(
        &http,
        "Machines_get_memory",
        M::GET,
        &mp("/memory"),
        None,
        200,
    )
    .await;
    let mem: types::MemoryResponse = decode("memory", &a);
    assert_eq!(mem.limit_mb, Some(256));
    let a = call(
        &http,
        "Machines_set_memory_limit",
        M::PUT,
        &mp("/memory"),
        Some(json!({ "limit_mb": 128 })),
        200,
    )
    .await;
    let mem: types::MemoryResponse = decode("set_memory", &a);
    assert_eq!(mem.limit_mb, Some(128));
    let a = call(
        &http,
        "Machines_reclaim_memory",
        M::POST,
        &mp("/memory/reclaim"),
        Some(json!({ "amount_mb": 10 })),
        200,
    )
    .await;
    let _: types::ReclaimMemoryResponse = decode("reclaim", &a);
    call(
        &http,
        "Machines_upsert_metadata",
        M::POST,
        &mp("/metadata/k"),
        Some(json!({ "value": "v" })),
        204,
    )
    .await;
    let a = call(
        &http,
        "Machines_get_metadata_key",
        M::GET,
        &mp("/metadata/k"),
        None,
        200,
    )
    .await;
    let _: types::MetadataValueResponse = decode("metadata_key", &a);
    let a = call(
        &http,
        "Machines_show_metadata",
        M::GET,
        &mp("/metadata"),
        None,
        200,
    )
    .await;
    let _: std::collections::BTreeMap<String, String> = decode("metadata", &a);
    call(
        &http,
        "Machines_update_metadata",
        M::PUT,
        &mp("/metadata"),
        Some(json!({ "metadata": { "x": "1" } })),
        204,
    )
    .await;
    call(
        &http,
        "Machines_patch_metadata",
        M::PATCH,
        &mp("/metadata"),
        Some(json!({ "metadata": { "y": "2" } })),
        204,
    )
    .await;
    call(
        &http,
        "Machines_delete_metadata",
        M::DELETE,
        &mp("/metadata/k"),
        None,
        204,
    )
    .await;
    call(&http, "Machines_cordon", M::POST, &mp("/cordon"), None, 200).await;
    call(
        &http,
        "Machines_uncordon",
        M::POST,
        &mp("/uncordon"),
        None,
        200,
    )
    .await;
    call(
        &http,
        "Machines_signal",
        M::POST,
        &mp("/signal"),
        Some(json!({ "signal": "SIGUSR1" })),
        200,
    )
    .await;
    let a = call(
        &http,
        "Machines_create_lease",
        M::POST,
        &mp("/lease"),
        Some(json!({ "ttl": 60 })),
        201,
    )
    .await;
    let lease: types::LeaseEnvelope = decode("create_lease", &a);
    let nonce = lease.data.unwrap().nonce.unwrap();
    let a = call(
        &http,
        "Machines_show_lease",
        M::GET,
        &mp("/lease"),
        None,
        200,
    )
    .await;
    let _: types::LeaseEnvelope = decode("show_lease", &a);
    call_n(
        &http,
        "Machines_restart",
        M::POST,
        &mp("/restart"),
        None,
        Some(&nonce),
        200,
    )
    .await;
    settle(&sim);
    call_n(
        &http,
        "Machines_suspend",
        M::POST,
        &mp("/suspend"),
        None,
        Some(&nonce),
        200,
    )
    .await;
    settle(&sim);
    let a = call_n(
        &http,
        "Machines_start",
        M::POST,
        &mp("/start"),
        None,
        Some(&nonce),
        200,
    )
    .await;
    let _: types::StartMachineResponse = decode("start", &a);
    settle(&sim);
    let a = call_n(&http, "Machines_update", M::POST, &mp(""), Some(json!({ "config": { "image": "nginx:2", "mounts": [{ "volume": vid, "path": "/data" }] } })), Some(&nonce), 200).await;
    let _: types::Machine = decode("update", &a);
    settle(&sim);
    call_n(
        &http,
        "Machines_stop",
        M::POST,
        &mp("/stop"),
        Some(json!({ "signal": "SIGTERM" })),
        Some(&nonce),
        200,
    )
    .await;
    settle(&sim);
    let a = call_n(
        &http,
        "Machines_release_lease",
        M::DELETE,
        &mp("/lease"),
        None,
        Some(&nonce),
        200,
    )
    .await;
    let _: types::LeaseReleaseEnvelope = decode("release_lease", &a);

    // Orgs.
    let a = call(
        &http,
        "Machines_org_list",
        M::GET,
        "/orgs/acme/machines?limit=10",
        None,
        200,
    )
    .await;
    let om: types::OrgMachinesResponse = decode("org_machines", &a);
    assert_eq!(om.machines.unwrap().len(), 1);
    let a = call(
        &http,
        "Volumes_org_list",
        M::GET,
        "/orgs/acme/volumes",
        None,
        200,
    )
    .await;
    let ov: types::OrgVolumesResponse = decode("org_volumes", &a);
    assert_eq!(ov.volumes.unwrap().len(), 1);

    call(&http, "Machines_delete", M::DELETE, &mp(""), None, 200).await;
    settle(&sim);
    let a = call(
        &http,
        "Volume_delete",
        M::DELETE,
        &format!("/apps/app/volumes/{vid}"),
        None,
        200,
    )
    .await;
    let _: types::Volume = decode("Volume_delete", &a);

    // Secrets and secret keys.
    let a = call(
        &http,
        "Secret_create",
        M::POST,
        "/apps/app/secrets/DB_URL",
        Some(json!({ "value": "postgres://x" })),
        201,
    )
    .await;
    let s: types::SetAppSecretResponse = decode("Secret_create", &a);
    assert_eq!(s.version, Some(1));
    let a = call(
        &http,
        "Secrets_update",
        M::POST,
        "/apps/app/secrets",
        Some(json!({ "values": { "A": "1", "B": "2", "DB_URL": null } })),
        200,
    )
    .await;
    let up: types::AppSecretsUpdateResp = decode("Secrets_update", &a);
    assert_eq!(up.version, Some(2));
    assert_eq!(up.secrets.unwrap().len(), 2);
    let a = call(
        &http,
        "Secrets_list",
        M::GET,
        "/apps/app/secrets?show_secrets=true&min_version=2",
        None,
        200,
    )
    .await;
    let list: types::AppSecrets = decode("Secrets_list", &a);
    assert_eq!(list.secrets.unwrap()[0].value.as_deref(), Some("1"));
    let a = call(
        &http,
        "Secret_get",
        M::GET,
        "/apps/app/secrets/A",
        None,
        200,
    )
    .await;
    let one: types::AppSecret = decode("Secret_get", &a);
    assert!(one.value.is_none() && one.digest.is_some());
    let a = call(
        &http,
        "Secret_delete",
        M::DELETE,
        "/apps/app/secrets/A",
        None,
        200,
    )
    .await;
    let _: types::DeleteAppSecretResponse = decode("Secret_delete", &a);
    let a = call(
        &http,
        "Secretkey_set",
        M::POST,
        "/apps/app/secretkeys/signer",
        Some(
            json!({ "type": "SECRET_TYPE_KMS_NACL_SIGN", "value": "c2VjcmV0LWtleS1tYXRlcmlhbA==" }),
        ),
        201,
    )
    .await;
    let _: types::SetSecretkeyResponse = decode("Secretkey_set", &a);
    let a = call(
        &http,
        "Secretkey_generate",
        M::POST,
        "/apps/app/secretkeys/sealer/generate",
        Some(json!({ "type": "SECRET_TYPE_KMS_XAES256GCM" })),
        201,
    )
    .await;
    let _: types::SetSecretkeyResponse = decode("Secretkey_generate", &a);
    let a = call(
        &http,
        "Secretkeys_list",
        M::GET,
        "/apps/app/secretkeys",
        None,
        200,
    )
    .await;
    let keys: types::SecretKeys = decode("Secretkeys_list", &a);
    assert_eq!(keys.secret_keys.unwrap().len(), 2);
    let a = call(
        &http,
        "Secretkey_get",
        M::GET,
        "/apps/app/secretkeys/signer",
        None,
        200,
    )
    .await;
    let k: types::SecretKey = decode("Secretkey_get", &a);
    assert!(k.public_key.is_some());
    let a = call(
        &http,
        "Secretkey_encrypt",
        M::POST,
        "/apps/app/secretkeys/sealer/encrypt",
        Some(json!({ "plaintext": "aGVsbG8=", "associated_data": "YWQ=" })),
        200,
    )
    .await;
    let enc: types::EncryptSecretkeyResponse = decode("encrypt", &a);
    let a = call(
        &http,
        "Secretkey_decrypt",
        M::POST,
        "/apps/app/secretkeys/sealer/decrypt",
        Some(json!({ "ciphertext": enc.ciphertext.clone(), "associated_data": "YWQ=" })),
        200,
    )
    .await;
    let dec: types::DecryptSecretkeyResponse = decode("decrypt", &a);
    assert_eq!(dec.plaintext.as_deref(), Some("aGVsbG8="));
    let wrong_ad = http
        .post(
            "/apps/app/secretkeys/sealer/decrypt",
            json!({ "ciphertext": enc.ciphertext, "associated_data": "eHg=" }),
        )
        .await;
    assert_eq!(wrong_ad.status, 400);
    let a = call(
        &http,
        "Secretkey_sign",
        M::POST,
        "/apps/app/secretkeys/signer/sign",
        Some(json!({ "plaintext": "aGVsbG8=" })),
        200,
    )
    .await;
    let sig: types::SignSecretkeyResponse = decode("sign", &a);
    call(
        &http,
        "Secretkey_verify",
        M::POST,
        "/apps/app/secretkeys/signer/verify",
        Some(json!({ "plaintext": "aGVsbG8=", "signature": sig.signature })),
        204,
    )
    .await;
    let forged = http
        .post(
            "/apps/app/secretkeys/signer/verify",
            json!({ "plaintext": "aGVsbG8=", "signature": "AAAA" }),
        )
        .await;
    assert_eq!(forged.status, 400);
    let a = call(
        &http,
        "Secretkey_delete",
        M::DELETE,
        "/apps/app/secretkeys/signer",
        None,
        200,
    )
    .await;
    let _: types::DeleteSecretkeyResponse = decode("Secretkey_delete", &a);

    // Platform and tokens.
    let a = call(
        &http,
        "Platform_regions_get",
        M::GET,
        "/platform/regions",
        None,
        200,
    )
    .await;
    let r: types::RegionResponse = decode("regions", &a);
    assert_eq!(r.nearest.as_deref(), Some("iad"));
    let a = call(&http, "Platform_placements_post", M::POST, "/platform/placements", Some(json!({ "org_slug": "acme", "region": "iad,ams", "count": 3, "compute": { "memory_mb": 1024 } })), 200).await;
    let p: types::GetPlacementsResponse = decode("placements", &a);
    assert_eq!(p.regions.unwrap()[0].count, Some(3));
    let a = call(
        &http,
        "Tokens_authenticate",
        M::POST,
        "/tokens/authenticate",
        Some(json!({ "header": "Bearer test-token" })),
        200,
    )
    .await;
    let _: Vec<types::VerifiedToken> = decode("authenticate", &a);
    let a = call(
        &http,
        "Tokens_authorize",
        M::POST,
        "/tokens/authorize",
        Some(
            json!({ "header": "FlyV1 test-token", "access": { "app_name": "app", "action": "r" } }),
        ),
        200,
    )
    .await;
    let _: types::AuthorizeResponse = decode("authorize", &a);
    let a = call(
        &http,
        "CurrentToken_show",
        M::GET,
        "/tokens/current",
        None,
        200,
    )
    .await;
    let _: types::CurrentTokenResponse = decode("current", &a);
    let a = call(
        &http,
        "Tokens_request_Kms",
        M::POST,
        "/tokens/kms",
        None,
        200,
    )
    .await;
    assert!(a.text.starts_with("FlyV1 "));
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let a = call(
        &http,
        "Tokens_request_OIDC",
        M::POST,
        "/tokens/oidc",
        Some(json!({ "aud": "sts.amazonaws.com" })),
        200,
    )
    .await;
    assert_eq!(a.text.split('.').count(), 3);

    // Managed Postgres: a cluster provisions (two phases of one second each), then serves.
    let a = call(
        &http,
        "Postgres_create",
        M::POST,
        "/postgres",
        Some(json!({ "org_slug": "personal", "plan": "basic", "region": "iad", "name": "pg" })),
        201,
    )
    .await;
    let c: types::ShowPostgresClusterResponse = decode("Postgres_create", &a);
    let id = c.data.and_then(|d| d.id).unwrap();
    let pg = |s: &str| format!("/postgres/{id}{s}");
    sim.advance(std::time::Duration::from_secs(2));
    let a = call(
        &http,
        "Postgres_list",
        M::GET,
        "/postgres?org_slug=personal",
        None,
        200,
    )
    .await;
    let _: types::ListPostgresClustersResponse = decode("Postgres_list", &a);
    let a = call(&http, "Postgres_show", M::GET, &pg(""), None, 200).await;
    let _: types::ShowPostgresClusterResponse = decode("Postgres_show", &a);
    let body = Some(json!({ "app_name": "app" }));
    let a = call(
        &http,
        "Postgres_attachments_create",
        M::POST,
        &pg("/attachments"),
        body,
        201,
    )
    .await;
    let _: types::CreatePostgresAttachmentResponse = decode("Postgres_attachments_create", &a);
    call(
        &http,
        "Postgres_attachments_delete",
        M::DELETE,
        &pg("/attachments/app"),
        None,
        204,
    )
    .await;
    let body = Some(json!({ "username": "u1", "role": "writer" }));
    let a = call(
        &http,
        "Postgres_users_create",
        M::POST,
        &pg("/users"),
        body,
        201,
    )
    .await;
    let _: types::CreatePostgresUserResponse = decode("Postgres_users_create", &a);
    let a = call(
        &http,
        "Postgres_users_list",
        M::GET,
        &pg("/users"),
        None,
        200,
    )
    .await;
    let _: types::ListPostgresUsersResponse = decode("Postgres_users_list", &a);
    let body = Some(json!({ "role": "reader" }));
    call(
        &http,
        "Postgres_users_update_role",
        M::PATCH,
        &pg("/users/u1"),
        body,
        204,
    )
    .await;
    let a = call(
        &http,
        "Postgres_users_credentials",
        M::GET,
        &pg("/users/u1/credentials"),
        None,
        200,
    )
    .await;
    let _: types::GetPostgresUserCredentialsResponse = decode("Postgres_users_credentials", &a);
    let body = Some(json!({ "kill_sessions": false }));
    let a = call(
        &http,
        "Postgres_users_rotate_password",
        M::POST,
        &pg("/users/u1/rotate_password"),
        body,
        200,
    )
    .await;
    let _: types::RotatePostgresPasswordResponse = decode("Postgres_users_rotate_password", &a);
    call(
        &http,
        "Postgres_users_delete",
        M::DELETE,
        &pg("/users/u1"),
        None,
        204,
    )
    .await;
    let body = Some(json!({ "name": "shop" }));
    let a = call(
        &http,
        "Postgres_databases_create",
        M::POST,
        &pg("/databases"),
        body,
        201,
    )
    .await;
    let _: types::PostgresDatabaseResponse = decode("Postgres_databases_create", &a);
    let a = call(
        &http,
        "Postgres_databases_list",
        M::GET,
        &pg("/databases"),
        None,
        200,
    )
    .await;
    let _: types::ListPostgresDatabasesResponse = decode("Postgres_databases_list", &a);
    let body = Some(json!({ "name": "citext" }));
    call(
        &http,
        "Postgres_extensions_enable",
        M::POST,
        &pg("/databases/shop/extensions"),
        body,
        204,
    )
    .await;
    let a = call(
        &http,
        "Postgres_extensions_list",
        M::GET,
        &pg("/databases/shop/extensions"),
        None,
        200,
    )
    .await;
    let _: types::ListPostgresExtensionsResponse = decode("Postgres_extensions_list", &a);
    call(
        &http,
        "Postgres_extensions_disable",
        M::DELETE,
        &pg("/databases/shop/extensions/citext"),
        None,
        204,
    )
    .await;
    let a = call(
        &http,
        "Postgres_databases_delete",
        M::DELETE,
        &pg("/databases/shop"),
        None,
        200,
    )
    .await;
    let _: types::PostgresDatabaseResponse = decode("Postgres_databases_delete", &a);
    let a = call(
        &http,
        "Postgres_queries_active",
        M::GET,
        &pg("/queries/active?database=fly-db"),
        None,
        200,
    )
    .await;
    let _: types::ListPostgresActiveQueriesResponse = decode("Postgres_queries_active", &a);
    let a = call(
        &http,
        "Postgres_queries_slow",
        M::GET,
        &pg("/queries/slow?range=60"),
        None,
        200,
    )
    .await;
    let _: types::ListPostgresSlowQueriesResponse = decode("Postgres_queries_slow", &a);
    let body = Some(json!({ "type": "full" }));
    call(
        &http,
        "Postgres_backups_create",
        M::POST,
        &pg("/backups"),
        body,
        202,
    )
    .await;
    sim.advance(std::time::Duration::from_secs(1));
    let a = call(
        &http,
        "Postgres_backups_list",
        M::GET,
        &pg("/backups"),
        None,
        200,
    )
    .await;
    let backups: types::ListPostgresBackupsResponse = decode("Postgres_backups_list", &a);
    let backup_id = backups.data.unwrap()[0].id.clone().unwrap();
    let a = call(
        &http,
        "Postgres_fork",
        M::POST,
        &pg("/fork"),
        Some(json!({})),
        201,
    )
    .await;
    let _: types::ShowPostgresClusterResponse = decode("Postgres_fork", &a);
    let body = Some(json!({ "backup_id": backup_id }));
    let a = call(
        &http,
        "Postgres_restore",
        M::POST,
        &pg("/restore"),
        body,
        201,
    )
    .await;
    let _: types::ShowPostgresClusterResponse = decode("Postgres_restore", &a);
    call(&http, "Postgres_delete", M::DELETE, &pg(""), None, 202).await;

    call(&http, "Apps_delete", M::DELETE, "/apps/app", None, 202).await;

    // Every operation of the document was answered successfully at least once.
    let served: BTreeSet<&str> = sim
        .requests()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter_map(|r| r.operation)
        .collect();
    let all: BTreeSet<&str> = fly_machines_api::OPERATIONS.iter().map(|o| o.id).collect();
    let missing: Vec<_> = all.difference(&served).collect();
    assert!(missing.is_empty(), "operations never answered: {missing:?}");
    assert_eq!(served.len(), 100);
    sim.shutdown().await;
}

#[tokio::test]
async fn volumes_attach_to_one_machine_at_a_time() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let vol = http
        .post(
            "/apps/a/volumes",
            json!({ "name": "data", "region": "ams" }),
        )
        .await;
    let vid = vol.body["id"].as_str().unwrap().to_string();
    let mount = json!({ "config": { "image": "x", "mounts": [{ "volume": vid, "path": "/d" }] } });
    let first = http.machine("a", mount.clone()).await;
    assert_eq!(first["region"], "ams", "takes the volume's region");
    let shown = http.get(&format!("/apps/a/volumes/{vid}")).await;
    assert_eq!(shown.body["attached_machine_id"], first["id"]);

    let second = http.post("/apps/a/machines", mount.clone()).await;
    assert_eq!(second.status, 412);
    assert!(second.text.contains("already attached"));
    let elsewhere = http
        .post(
            "/apps/a/machines",
            json!({ "region": "ord", "config": { "image": "x", "mounts": [{ "volume": vid, "path": "/d" }] } }),
        )
        .await;
    assert_eq!(elsewhere.status, 412);
    let in_use = http.delete(&format!("/apps/a/volumes/{vid}")).await;
    assert_eq!(in_use.status, 412);
    let shrink = http
        .put(
            &format!("/apps/a/volumes/{vid}/extend"),
            json!({ "size_gb": 1 }),
        )
        .await;
    assert_eq!(shrink.status, 400);

    // Destroying the machine frees the volume.
    let id = first["id"].as_str().unwrap();
    http.delete(&format!("/apps/a/machines/{id}?force=true"))
        .await;
    let third = http.post("/apps/a/machines", mount).await;
    assert_eq!(third.status, 200, "{}", third.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn secrets_versions_gate_machine_creation() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let ahead = http
        .post(
            "/apps/a/machines",
            json!({ "min_secrets_version": 1, "config": { "image": "x" } }),
        )
        .await;
    assert_eq!(ahead.status, 412);
    let set = http
        .post("/apps/a/secrets/TOKEN", json!({ "value": "s3cret" }))
        .await;
    assert_eq!(set.body["version"], 1);
    http.machine("a", json!({ "min_secrets_version": 1 })).await;
    assert_eq!(http.get("/apps/a/secrets?min_version=5").await.status, 412);
    assert_eq!(http.get("/apps/a/secrets/NOPE").await.status, 404);
    let bad = http
        .post("/apps/a/secrets/9bad", json!({ "value": "x" }))
        .await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_tokens_authenticate() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("a").await;
    let token = http.post("/apps/a/deploy_token", json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = http
        .client
        .get(format!("{}/apps/a", http.base))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sim.shutdown().await;
}

// The generated raw client drives a whole lifecycle against the emulator.
#[tokio::test]
async fn generated_client_drives_the_emulator() {
    let sim = start().await;
    let raw = raw_client(&sim);
    let app = types::CreateAppRequest {
        name: Some("gen".into()),
        org_slug: Some("personal".into()),
        ..Default::default()
    };
    raw.apps_create(&app).await.expect("apps_create");
    let body = types::CreateMachineRequest {
        config: Some(types::MachineConfig {
            image: Some("nginx".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let m = raw
        .machines_create("gen", &body)
        .await
        .expect("machines_create")
        .into_inner();
    let id = m.id.unwrap();
    let version = m.instance_id.unwrap();
    let waiter = {
        let raw = raw.clone();
        let id = id.clone();
        tokio::spawn(async move {
            raw.machines_wait(
                "gen",
                &id,
                None,
                None,
                Some("started"),
                std::num::NonZeroU64::new(30),
                Some(&version),
            )
            .await
            .map(|r| r.into_inner())
        })
    };
    sim.until_parked(1).await;
    settle(&sim);
    let waited = waiter.await.unwrap().expect("machines_wait");
    assert_eq!(waited.state.as_deref(), Some("started"));
    let lease = raw
        .machines_create_lease(
            "gen",
            &id,
            None,
            &types::CreateLeaseRequest {
                ttl: Some(30),
                description: None,
            },
        )
        .await
        .expect("create lease")
        .into_inner();
    assert_eq!(lease.status.as_deref(), Some("success"));
    let too_long = raw
        .machines_wait(
            "gen",
            &id,
            None,
            None,
            Some("started"),
            std::num::NonZeroU64::new(61),
            None,
        )
        .await;
    match too_long {
        Err(fly_machines_api::Error::ErrorResponse(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected a 400 error response, got {other:?}"),
    }
    sim.shutdown().await;
}
