//! Every handle method sends the right method to the right path, and every operation of the
//! document is reached by a handle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fly_machines::{IpKind, MachineState, ManualClock, OperationId, VolumeState, WaitState, types};
use fly_machines_httpmock::MockServerExt;
use futures::TryStreamExt;
use httpmock::{HttpMockResponse, MockServer};

/// Answers any request with an empty value of the right JSON kind and records (method, path).
async fn recording_server() -> (MockServer, Arc<Mutex<Vec<(String, String)>>>) {
    let server = MockServer::start_async().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    server
        .mock_async(move |when, then| {
            when.any_request();
            then.respond_with(move |req| {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                log.lock().unwrap().push((method.clone(), path.clone()));
                let lists = [
                    "/machines",
                    "/events",
                    "/versions",
                    "/ps",
                    "/volumes",
                    "/snapshots",
                ];
                let is_list = method == "GET"
                    && lists.iter().any(|l| path.ends_with(l))
                    && !path.starts_with("/v1/orgs");
                let postgres_lists = [
                    "/v1/postgres",
                    "/users",
                    "/databases",
                    "/extensions",
                    "/backups",
                    "/queries/active",
                    "/queries/slow",
                ];
                let (status, body) = if path.starts_with("/v1/postgres") {
                    // The Postgres API wraps every answer in `{data}`.
                    let list = method == "GET" && postgres_lists.iter().any(|l| path.ends_with(l));
                    let empty = method == "PATCH"
                        || path.ends_with("/extensions") && method == "POST"
                        || method == "DELETE"
                            && ["/users/", "/attachments/", "/extensions/"]
                                .iter()
                                .any(|p| path.contains(p));
                    let status = match method.as_str() {
                        _ if empty => 204,
                        "POST" if path.ends_with("/backups") => 202,
                        "DELETE" if !path.contains("/databases/") => 202,
                        "POST" if !path.ends_with("/rotate_password") => 201,
                        _ => 200,
                    };
                    let body = match () {
                        _ if empty => "",
                        _ if list => r#"{"data":[]}"#,
                        _ => r#"{"data":{}}"#,
                    };
                    (status, body.to_string())
                } else if path.ends_with("/tokens/kms") || path.ends_with("/tokens/oidc") {
                    (200, "token-text".to_string())
                } else if path == "/v1/tokens/authenticate" || is_list {
                    (200, "[]".to_string())
                } else if method == "POST" && path == "/v1/apps" {
                    (201, "{}".to_string())
                } else if method == "POST"
                    && (path.ends_with("/lease")
                        || path.contains("/secrets/")
                        || path.ends_with("/secretkeys/k")
                        || path.ends_with("/acme")
                        || path.ends_with("/custom")
                        || path.ends_with("/set")
                        || path.ends_with("/generate"))
                {
                    (
                        201,
                        r#"{"status":"success","data":{"nonce":"n1"}}"#.to_string(),
                    )
                } else if method == "DELETE" && path == "/v1/apps/a" {
                    (202, String::new())
                } else if (method == "DELETE"
                    && (path.contains("/certificates/")
                        && !path.ends_with("/acme")
                        && !path.ends_with("/custom")
                        || path.contains("/ip_assignments/")
                        || path.contains("/metadata/")))
                    || (method == "PUT" || method == "PATCH") && path.ends_with("/metadata")
                    || method == "POST"
                        && (path.contains("/metadata/") || path.ends_with("/verify"))
                {
                    (204, String::new())
                } else {
                    (200, "{}".to_string())
                };
                let mut response = HttpMockResponse::builder().status(status);
                if !body.is_empty() {
                    let kind = if body == "token-text" {
                        "text/plain"
                    } else {
                        "application/json"
                    };
                    response = response.header("content-type", kind).body(body);
                }
                response.build()
            });
        })
        .await;
    (server, seen)
}

/// The operation of the table whose method and path template match a request; where several
/// templates match, the one with the most literal segments (`/machines/list` over
/// `/machines/{id}`).
fn operation_of(method: &str, path: &str) -> Option<OperationId> {
    let path = path.strip_prefix("/v1")?;
    let segments: Vec<&str> = path.split('/').collect();
    OperationId::ALL
        .into_iter()
        .filter(|op| op.operation().method == method)
        .filter_map(|op| {
            let template: Vec<&str> = op.operation().path.split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (t, s) in template.iter().zip(&segments) {
                if t.starts_with('{') {
                    if s.is_empty() {
                        return None;
                    }
                } else if t == s {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, op))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, op)| op)
}

thread_local! {
    /// The operations the handle calls of this thread's test reached.
    static REACHED: std::cell::RefCell<BTreeSet<OperationId>> = Default::default();
}

macro_rules! expect {
    ($seen:expr, $call:expr, $method:literal, $path:literal) => {{
        let result = $call.await;
        let last = $seen.lock().unwrap().last().cloned();
        if let Some(op) = operation_of($method, $path) {
            REACHED.with(|r| r.borrow_mut().insert(op));
        }
        assert_eq!(
            last,
            Some(($method.to_string(), $path.to_string())),
            "{} ({:?})",
            stringify!($call),
            result.as_ref().err()
        );
        result.unwrap_or_else(|e| panic!("{}: {e}", stringify!($call)));
        $seen.lock().unwrap().clear();
    }};
}

#[tokio::test]
async fn every_handle_method_hits_its_operation() {
    let (server, seen) = recording_server().await;
    let c = crate::common::client(&server, ManualClock::auto_advance());
    let app = c.app("a");
    let m = app.machine("m1");
    let v = app.volume("vol_1");
    let config = types::MachineConfig {
        image: Some("nginx".into()),
        ..Default::default()
    };

    expect!(seen, c.apps().list("personal"), "GET", "/v1/apps");
    expect!(
        seen,
        c.apps().create("a", "personal").send(),
        "POST",
        "/v1/apps"
    );
    expect!(seen, app.get(), "GET", "/v1/apps/a");
    expect!(seen, app.delete(), "DELETE", "/v1/apps/a");
    expect!(
        seen,
        app.create_deploy_token()
            .expiry(Duration::from_secs(24 * 3600)),
        "POST",
        "/v1/apps/a/deploy_token"
    );

    expect!(seen, app.machines().list(), "GET", "/v1/apps/a/machines");
    expect!(
        seen,
        app.machines().create(config.clone()).send(),
        "POST",
        "/v1/apps/a/machines"
    );
    expect!(seen, m.get(), "GET", "/v1/apps/a/machines/m1");
    expect!(
        seen,
        m.update_config(config.clone()),
        "POST",
        "/v1/apps/a/machines/m1"
    );
    expect!(seen, m.start(), "POST", "/v1/apps/a/machines/m1/start");
    expect!(seen, m.stop(), "POST", "/v1/apps/a/machines/m1/stop");
    expect!(seen, m.suspend(), "POST", "/v1/apps/a/machines/m1/suspend");
    expect!(
        seen,
        m.restart().timeout(Duration::from_secs(10)),
        "POST",
        "/v1/apps/a/machines/m1/restart"
    );
    expect!(
        seen,
        m.signal(fly_machines::Signal::Usr1),
        "POST",
        "/v1/apps/a/machines/m1/signal"
    );
    expect!(seen, m.delete().force(), "DELETE", "/v1/apps/a/machines/m1");
    expect!(seen, m.cordon(), "POST", "/v1/apps/a/machines/m1/cordon");
    expect!(
        seen,
        m.uncordon(),
        "POST",
        "/v1/apps/a/machines/m1/uncordon"
    );
    expect!(
        seen,
        m.events().limit(5),
        "GET",
        "/v1/apps/a/machines/m1/events"
    );
    expect!(seen, m.versions(), "GET", "/v1/apps/a/machines/m1/versions");
    expect!(
        seen,
        m.processes()
            .sort_by(fly_machines::ProcessSort::Cpu)
            .order(fly_machines::SortOrder::Descending),
        "GET",
        "/v1/apps/a/machines/m1/ps"
    );
    expect!(
        seen,
        m.exec(["uname", "-a"]).timeout(Duration::from_secs(5)),
        "POST",
        "/v1/apps/a/machines/m1/exec"
    );
    expect!(seen, m.memory(), "GET", "/v1/apps/a/machines/m1/memory");
    expect!(
        seen,
        m.set_memory_limit(512),
        "PUT",
        "/v1/apps/a/machines/m1/memory"
    );
    expect!(
        seen,
        m.reclaim_memory(128),
        "POST",
        "/v1/apps/a/machines/m1/memory/reclaim"
    );
    expect!(
        seen,
        m.wait_once([WaitState::Started])
            .timeout(Duration::from_secs(10)),
        "GET",
        "/v1/apps/a/machines/m1/wait"
    );
    expect!(
        seen,
        m.current_lease(),
        "GET",
        "/v1/apps/a/machines/m1/lease"
    );
    let guard = m
        .lease(Duration::from_secs(30))
        .auto_refresh(false)
        .send()
        .await
        .unwrap();
    let sent = seen.lock().unwrap().drain(..).collect::<Vec<_>>();
    let acquire = (
        "POST".to_string(),
        "/v1/apps/a/machines/m1/lease".to_string(),
    );
    assert_eq!(sent, [acquire], "the lease acquire");
    REACHED.with(|r| r.borrow_mut().insert(OperationId::MachinesCreateLease));
    expect!(
        seen,
        guard.release(),
        "DELETE",
        "/v1/apps/a/machines/m1/lease"
    );
    expect!(
        seen,
        m.metadata().all(),
        "GET",
        "/v1/apps/a/machines/m1/metadata"
    );
    expect!(
        seen,
        m.metadata().get("role"),
        "GET",
        "/v1/apps/a/machines/m1/metadata/role"
    );
    expect!(
        seen,
        m.metadata().set("role", "web"),
        "POST",
        "/v1/apps/a/machines/m1/metadata/role"
    );
    expect!(
        seen,
        m.metadata().delete("role"),
        "DELETE",
        "/v1/apps/a/machines/m1/metadata/role"
    );
    expect!(
        seen,
        m.metadata().replace([("role", "web")]).send(),
        "PUT",
        "/v1/apps/a/machines/m1/metadata"
    );
    expect!(
        seen,
        m.metadata().merge([("role", "web")]).send(),
        "PATCH",
        "/v1/apps/a/machines/m1/metadata"
    );

    expect!(seen, app.volumes().list(), "GET", "/v1/apps/a/volumes");
    expect!(
        seen,
        app.volumes().create("data", "iad", 10).send(),
        "POST",
        "/v1/apps/a/volumes"
    );
    expect!(seen, v.get(), "GET", "/v1/apps/a/volumes/vol_1");
    expect!(
        seen,
        v.update().auto_backup(true).send(),
        "PUT",
        "/v1/apps/a/volumes/vol_1"
    );
    expect!(seen, v.extend(20), "PUT", "/v1/apps/a/volumes/vol_1/extend");
    expect!(seen, v.delete(), "DELETE", "/v1/apps/a/volumes/vol_1");
    expect!(
        seen,
        v.snapshots(),
        "GET",
        "/v1/apps/a/volumes/vol_1/snapshots"
    );
    expect!(
        seen,
        v.create_snapshot(),
        "POST",
        "/v1/apps/a/volumes/vol_1/snapshots"
    );

    let s = app.secrets();
    expect!(seen, s.list(), "GET", "/v1/apps/a/secrets");
    expect!(
        seen,
        s.update(BTreeMap::from([("A".to_string(), "1".to_string())])),
        "POST",
        "/v1/apps/a/secrets"
    );
    expect!(seen, s.get("A"), "GET", "/v1/apps/a/secrets/A");
    expect!(seen, s.set("A", "2"), "POST", "/v1/apps/a/secrets/A");
    expect!(seen, s.delete("A"), "DELETE", "/v1/apps/a/secrets/A");

    let k = app.secret_keys();
    expect!(seen, k.list(), "GET", "/v1/apps/a/secretkeys");
    expect!(seen, k.get("k"), "GET", "/v1/apps/a/secretkeys/k");
    expect!(
        seen,
        k.set("k", "hmac").value("c2VjcmV0").send(),
        "POST",
        "/v1/apps/a/secretkeys/k"
    );
    expect!(seen, k.delete("k"), "DELETE", "/v1/apps/a/secretkeys/k");
    expect!(
        seen,
        k.generate("k", "ed25519").send(),
        "POST",
        "/v1/apps/a/secretkeys/k/generate"
    );
    expect!(
        seen,
        k.encrypt("k", "aGk=").send(),
        "POST",
        "/v1/apps/a/secretkeys/k/encrypt"
    );
    expect!(
        seen,
        k.decrypt("k", "c2VhbGVk").send(),
        "POST",
        "/v1/apps/a/secretkeys/k/decrypt"
    );
    expect!(
        seen,
        k.sign("k", "aGk=").send(),
        "POST",
        "/v1/apps/a/secretkeys/k/sign"
    );
    expect!(
        seen,
        k.verify("k", "aGk=", "c2ln").send(),
        "POST",
        "/v1/apps/a/secretkeys/k/verify"
    );

    let certs = app.certificates();
    expect!(
        seen,
        certs.list().limit(10),
        "GET",
        "/v1/apps/a/certificates"
    );
    expect!(
        seen,
        certs.request_acme("www.example.com"),
        "POST",
        "/v1/apps/a/certificates/acme"
    );
    expect!(
        seen,
        certs.import_custom("www.example.com", "PEM", "KEY"),
        "POST",
        "/v1/apps/a/certificates/custom"
    );
    expect!(
        seen,
        certs.get("www.example.com"),
        "GET",
        "/v1/apps/a/certificates/www.example.com"
    );
    expect!(
        seen,
        certs.delete("www.example.com"),
        "DELETE",
        "/v1/apps/a/certificates/www.example.com"
    );
    expect!(
        seen,
        certs.delete_acme("www.example.com"),
        "DELETE",
        "/v1/apps/a/certificates/www.example.com/acme"
    );
    expect!(
        seen,
        certs.delete_custom("www.example.com"),
        "DELETE",
        "/v1/apps/a/certificates/www.example.com/custom"
    );
    expect!(
        seen,
        certs.check_dns("www.example.com"),
        "POST",
        "/v1/apps/a/certificates/www.example.com/check"
    );

    let ips = app.ip_assignments();
    expect!(seen, ips.list(), "GET", "/v1/apps/a/ip_assignments");
    expect!(
        seen,
        ips.assign(IpKind::V6).send(),
        "POST",
        "/v1/apps/a/ip_assignments"
    );
    expect!(
        seen,
        ips.release("2a09:8280:1::1"),
        "DELETE",
        "/v1/apps/a/ip_assignments/2a09:8280:1::1"
    );

    let org = c.org("acme");
    expect!(
        seen,
        org.machines().stream().try_collect::<Vec<_>>(),
        "GET",
        "/v1/orgs/acme/machines"
    );
    expect!(
        seen,
        org.volumes().stream().try_collect::<Vec<_>>(),
        "GET",
        "/v1/orgs/acme/volumes"
    );

    expect!(seen, c.platform().regions(), "GET", "/v1/platform/regions");
    expect!(
        seen,
        c.platform().placements("acme").send(),
        "POST",
        "/v1/platform/placements"
    );

    let t = c.tokens();
    expect!(seen, t.current(), "GET", "/v1/tokens/current");
    expect!(
        seen,
        t.authenticate("FlyV1 x"),
        "POST",
        "/v1/tokens/authenticate"
    );
    expect!(
        seen,
        t.authorize("FlyV1 x", types::TokenAccess::default()).send(),
        "POST",
        "/v1/tokens/authorize"
    );
    expect!(seen, t.kms(), "POST", "/v1/tokens/kms");
    expect!(
        seen,
        t.oidc().audience("sts.amazonaws.com").send(),
        "POST",
        "/v1/tokens/oidc"
    );

    let pg = c.postgres();
    let clusters = pg.clusters();
    expect!(seen, clusters.list("acme").send(), "GET", "/v1/postgres");
    expect!(
        seen,
        clusters
            .create("orders-db")
            .org("acme")
            .region("iad")
            .plan("basic")
            .send(),
        "POST",
        "/v1/postgres"
    );
    let cluster = pg.cluster("pg1");
    expect!(seen, cluster.get(), "GET", "/v1/postgres/pg1");
    expect!(seen, cluster.delete(), "DELETE", "/v1/postgres/pg1");
    expect!(seen, cluster.fork().send(), "POST", "/v1/postgres/pg1/fork");
    expect!(
        seen,
        cluster
            .restore(fly_machines::resources::postgres::RestorePoint::backup(
                "b1"
            ))
            .send(),
        "POST",
        "/v1/postgres/pg1/restore"
    );
    expect!(
        seen,
        cluster.attach("web"),
        "POST",
        "/v1/postgres/pg1/attachments"
    );
    expect!(
        seen,
        cluster.detach("web"),
        "DELETE",
        "/v1/postgres/pg1/attachments/web"
    );
    expect!(
        seen,
        cluster.active_queries("orders"),
        "GET",
        "/v1/postgres/pg1/queries/active"
    );
    expect!(
        seen,
        cluster.slow_queries().send(),
        "GET",
        "/v1/postgres/pg1/queries/slow"
    );
    expect!(
        seen,
        cluster.users().list(),
        "GET",
        "/v1/postgres/pg1/users"
    );
    expect!(
        seen,
        cluster
            .users()
            .create("app")
            .role(fly_machines::resources::postgres::PostgresRole::Reader)
            .send(),
        "POST",
        "/v1/postgres/pg1/users"
    );
    let user = cluster.user("app");
    expect!(
        seen,
        user.set_role(fly_machines::resources::postgres::PostgresRole::Reader),
        "PATCH",
        "/v1/postgres/pg1/users/app"
    );
    expect!(
        seen,
        user.credentials(),
        "GET",
        "/v1/postgres/pg1/users/app/credentials"
    );
    expect!(
        seen,
        user.rotate_password().send(),
        "POST",
        "/v1/postgres/pg1/users/app/rotate_password"
    );
    expect!(seen, user.delete(), "DELETE", "/v1/postgres/pg1/users/app");
    expect!(
        seen,
        cluster.databases().list(),
        "GET",
        "/v1/postgres/pg1/databases"
    );
    expect!(
        seen,
        cluster.databases().create("orders").send(),
        "POST",
        "/v1/postgres/pg1/databases"
    );
    let db = cluster.database("orders");
    expect!(
        seen,
        db.extensions().list(),
        "GET",
        "/v1/postgres/pg1/databases/orders/extensions"
    );
    expect!(
        seen,
        db.extensions().enable("citext").send(),
        "POST",
        "/v1/postgres/pg1/databases/orders/extensions"
    );
    expect!(
        seen,
        db.extension("citext").disable().send(),
        "DELETE",
        "/v1/postgres/pg1/databases/orders/extensions/citext"
    );
    expect!(
        seen,
        db.delete(),
        "DELETE",
        "/v1/postgres/pg1/databases/orders"
    );
    expect!(
        seen,
        cluster.backups().list(),
        "GET",
        "/v1/postgres/pg1/backups"
    );
    expect!(
        seen,
        cluster
            .backups()
            .create(fly_machines::resources::postgres::BackupKind::Full),
        "POST",
        "/v1/postgres/pg1/backups"
    );

    // Every operation of the document has a handle, and the calls above reached each one.
    let reached = REACHED.with(|r| r.borrow().clone());
    let missing: Vec<_> = OperationId::ALL
        .into_iter()
        .filter(|op| !reached.contains(op))
        .map(OperationId::id)
        .collect();
    assert!(
        missing.is_empty(),
        "operations no handle reached: {missing:?}"
    );
}

#[tokio::test]
async fn org_listings_follow_the_cursor_until_it_ends() {
    let server = MockServer::start_async().await;
    let first = server.orgs_machines(|when, then| {
        when.org_slug("acme").cursor(None);
        then.into_inner().status(200).json_body(
            serde_json::json!({"machines": [{"id": "m1"}, {"id": "m2"}], "next_cursor": "c2"}),
        );
    });
    let second = server.orgs_machines(|when, then| {
        when.org_slug("acme").cursor("c2");
        then.into_inner()
            .status(200)
            .json_body(serde_json::json!({"machines": [{"id": "m3"}], "next_cursor": ""}));
    });
    let c = crate::common::client(&server, ManualClock::auto_advance());
    let all: Vec<_> = c
        .org("acme")
        .machines()
        .stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|m| m.id.clone().unwrap()).collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
}

#[tokio::test]
async fn org_listing_filters_are_named_setters_that_reach_the_query() {
    let server = MockServer::start_async().await;
    let machines = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path("/v1/orgs/acme/machines")
                .query_param("include_deleted", "true")
                .query_param("region", "iad")
                .query_param("state", "started")
                .query_param("summary", "true")
                .query_param("updated_after", "2026-11-01T00:00:00Z")
                .query_param("limit", "50");
            then.status(200)
                .json_body(serde_json::json!({"machines": [{"id": "m1"}]}));
        })
        .await;
    let volumes = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path("/v1/orgs/acme/volumes")
                .query_param("state", "created")
                .query_param_missing("include_deleted")
                .query_param_missing("summary");
            then.status(200)
                .json_body(serde_json::json!({"volumes": [{"id": "vol_1"}]}));
        })
        .await;
    let org = crate::common::client(&server, ManualClock::auto_advance()).org("acme");
    let found: Vec<_> = org
        .machines()
        .include_deleted()
        .region("iad")
        .state(MachineState::Started)
        .summary()
        .updated_after("2026-11-01T00:00:00Z")
        .page_size(50)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let found: Vec<_> = org
        .volumes()
        .state(VolumeState::Created)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    machines.assert_calls_async(1).await;
    volumes.assert_calls_async(1).await;
    let err = crate::common::client(&server, ManualClock::auto_advance())
        .org("not a slug")
        .machines()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("organization slug"), "{err}");
}
