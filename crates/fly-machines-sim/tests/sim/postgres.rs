//! Managed Postgres over raw HTTP: the cluster lifecycle on the emulator's clock, every
//! operation, and each validation error with its status and `{error}` body.

use std::time::Duration;

use crate::common::*;
use fly_machines_sim::{SimHandle, types};
use serde_json::{Value, json};

/// One Postgres phase in these tests.
const PG_STEP: Duration = Duration::from_secs(1);

async fn start_pg() -> (SimHandle, Http) {
    let sim = manual()
        .postgres_step(PG_STEP)
        .start()
        .await
        .expect("sim starts");
    let http = Http::new(&sim);
    (sim, http)
}

/// Creates a cluster in `personal`, asserting 201, and returns its id.
async fn create(http: &Http, extra: Value) -> String {
    let mut body = json!({ "org_slug": "personal", "plan": "basic", "region": "iad" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let a = http.post("/postgres", body).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["data"]["id"].as_str().expect("an id").to_string()
}

/// A cluster that is ready.
async fn ready(sim: &SimHandle, http: &Http, extra: Value) -> String {
    let id = create(http, extra).await;
    sim.advance(PG_STEP * 2);
    assert_eq!(status(http, &id).await, "ready");
    id
}

async fn status(http: &Http, id: &str) -> String {
    let a = http.get(&format!("/postgres/{id}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["data"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts a Postgres-shaped error: the status and a message containing `needle`.
fn refused(a: &Answer, status: u16, needle: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    let body = a.body.as_object().expect("a JSON object");
    // Only `error`, plus the emulator's `status` code for a taken name.
    let coded = usize::from(body.get("status").is_some_and(|s| s == "name_taken"));
    assert_eq!(body.len(), 1 + coded, "only `error`: {}", a.text);
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn a_cluster_provisions_on_the_clock_and_is_deleted_on_it() {
    let (sim, http) = start_pg().await;
    let created = http
        .post(
            "/postgres",
            json!({ "org_slug": "personal", "plan": "LAUNCH", "region": "ams", "name": "main-db",
                    "disk_size_gb": 40, "pg_major_version": "16" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let view: types::ShowPostgresClusterResponse = serde_json::from_value(created.body).unwrap();
    let data = view.data.expect("data");
    let id = data.id.clone().unwrap();
    assert_eq!(data.status.as_deref(), Some("creating"));
    assert_eq!(
        data.plan.as_deref(),
        Some("launch"),
        "plans match without case"
    );
    assert_eq!(data.pg_major_version.as_deref(), Some("16"));
    assert_eq!((data.disk_size_gb, data.replicas), (Some(40), Some(2)));
    assert!(data.endpoints.is_none(), "no endpoints before ready");
    assert_eq!(data.storage_provisioned_bytes, None);

    // Not ready: what needs the database answers 503 with the wait in Retry-After.
    let early = http.get(&format!("/postgres/{id}/users")).await;
    refused(&early, 503, "creating");
    assert_eq!(early.headers["retry-after"], "2");

    sim.advance(PG_STEP);
    assert_eq!(status(&http, &id).await, "initializing");
    let later = http.get(&format!("/postgres/{id}/databases")).await;
    refused(&later, 503, "initializing");
    assert_eq!(later.headers["retry-after"], "1");

    sim.advance(PG_STEP);
    let shown = http.get(&format!("/postgres/{id}")).await;
    let shown: types::ShowPostgresClusterResponse = serde_json::from_value(shown.body).unwrap();
    let shown = shown.data.unwrap();
    assert_eq!(shown.status.as_deref(), Some("ready"));
    let primary = shown
        .endpoints
        .and_then(|e| e.primary)
        .expect("endpoints once ready");
    assert_eq!(primary.direct.and_then(|d| d.port), Some(5432));
    assert!(primary.pooler.and_then(|p| p.host).unwrap().contains(&id));
    assert_eq!(http.get(&format!("/postgres/{id}/users")).await.status, 200);

    // Storage is measured an hour after the cluster is ready.
    sim.advance(Duration::from_secs(3600));
    let measured = http.get(&format!("/postgres/{id}")).await;
    assert_eq!(
        measured.body["data"]["storage_provisioned_bytes"],
        40i64 * 1024 * 1024 * 1024 * 2
    );

    assert_eq!(http.delete(&format!("/postgres/{id}")).await.status, 202);
    assert_eq!(status(&http, &id).await, "deleting");
    refused(
        &http.delete(&format!("/postgres/{id}")).await,
        410,
        "being deleted",
    );
    // Operations without a documented 410 answer 503 (no Retry-After) meanwhile.
    let users = http.get(&format!("/postgres/{id}/users")).await;
    refused(&users, 503, "being deleted");
    assert!(users.headers.get("retry-after").is_none());
    refused(
        &http.post(&format!("/postgres/{id}/fork"), json!({})).await,
        410,
        "being deleted",
    );

    sim.advance(PG_STEP);
    refused(
        &http.get(&format!("/postgres/{id}")).await,
        404,
        "Cluster not found",
    );
    refused(
        &http.delete(&format!("/postgres/{id}")).await,
        410,
        "has been deleted",
    );
    refused(
        &http.get(&format!("/postgres/{id}/users")).await,
        404,
        "Cluster not found",
    );
    let listed = http.get("/postgres?org_slug=personal").await;
    assert_eq!(listed.body["data"], json!([]));
    let with_deleted = http
        .get("/postgres?org_slug=personal&include_deleted=true")
        .await;
    let list: types::ListPostgresClustersResponse =
        serde_json::from_value(with_deleted.body).unwrap();
    let gone = &list.data.unwrap()[0];
    assert_eq!(gone.status.as_deref(), Some("deleted"));
    assert!(gone.deleted_at.is_some());

    // An hour later the deleted cluster is forgotten.
    sim.advance(Duration::from_secs(3600));
    let forgotten = http
        .get("/postgres?org_slug=personal&include_deleted=true")
        .await;
    assert_eq!(forgotten.body["data"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cluster_named_unprovisionable_fails() {
    let (sim, http) = start_pg().await;
    let id = create(&http, json!({ "name": "db-unprovisionable" })).await;
    sim.advance(PG_STEP);
    assert_eq!(status(&http, &id).await, "initializing");
    sim.advance(PG_STEP);
    assert_eq!(status(&http, &id).await, "failed");
    let users = http.get(&format!("/postgres/{id}/users")).await;
    refused(&users, 503, "failed to provision");
    assert!(
        users.headers.get("retry-after").is_none(),
        "waiting will not help"
    );
    refused(
        &http.post(&format!("/postgres/{id}/fork"), json!({})).await,
        409,
        "failed",
    );
    assert_eq!(http.delete(&format!("/postgres/{id}")).await.status, 202);
    sim.shutdown().await;
}

#[tokio::test]
async fn create_and_list_check_their_input() {
    let (sim, http) = start_pg().await;
    let base = json!({ "org_slug": "personal", "plan": "basic", "region": "iad" });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    refused(
        &http.post("/postgres", without("org_slug")).await,
        400,
        "org_slug is required",
    );
    refused(
        &http.post("/postgres", with("org_slug", json!(7))).await,
        400,
        "org_slug",
    );
    refused(
        &http
            .post("/postgres", with("org_slug", json!("nobody")))
            .await,
        404,
        "nobody",
    );
    refused(
        &http.post("/postgres", without("plan")).await,
        422,
        "plan is required",
    );
    refused(
        &http.post("/postgres", with("plan", json!("huge"))).await,
        422,
        "\"huge\"",
    );
    refused(
        &http.post("/postgres", without("region")).await,
        422,
        "region is required",
    );
    refused(
        &http.post("/postgres", with("region", json!("xxx"))).await,
        422,
        "not a Fly region",
    );
    refused(
        &http.post("/postgres", with("region", json!("arn"))).await,
        422,
        "not offered",
    );
    refused(
        &http.post("/postgres", with("disk_size_gb", json!(5))).await,
        422,
        "disk_size_gb",
    );
    refused(
        &http
            .post("/postgres", with("disk_size_gb", json!("big")))
            .await,
        422,
        "integer",
    );
    refused(
        &http
            .post("/postgres", with("pg_major_version", json!("15")))
            .await,
        422,
        "15",
    );
    refused(
        &http
            .post("/postgres", with("pool_mode", json!("stmt")))
            .await,
        422,
        "pool_mode",
    );
    refused(
        &http
            .post("/postgres", with("postgis_enabled", json!("y")))
            .await,
        422,
        "postgis",
    );
    refused(
        &http
            .post("/postgres", with("name", json!("Bad_Name")))
            .await,
        422,
        "invalid",
    );
    let bad_json = http
        .send(reqwest::Method::POST, "/postgres", None, None)
        .await;
    refused(&bad_json, 400, "body");
    create(&http, json!({ "name": "taken" })).await;
    refused(
        &http.post("/postgres", with("name", json!("taken"))).await,
        422,
        "already used",
    );

    // An org exists once it owns an app.
    http.post("/apps", json!({ "name": "acme-web", "org_slug": "acme" }))
        .await;
    let in_acme = create(&http, json!({ "org_slug": "acme" })).await;
    let acme = http.get("/postgres?org_slug=acme").await;
    assert_eq!(acme.body["data"][0]["id"], in_acme.as_str());
    assert_eq!(acme.body["data"].as_array().map(Vec::len), Some(1));
    let personal = http.get("/postgres?org_slug=personal").await;
    assert_eq!(personal.body["data"].as_array().map(Vec::len), Some(1));

    refused(&http.get("/postgres").await, 400, "org_slug is required");
    refused(&http.get("/postgres?org_slug=nobody").await, 404, "nobody");
    refused(
        &http
            .get("/postgres?org_slug=acme&include_deleted=maybe")
            .await,
        422,
        "include_deleted must be true or false",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_cluster_is_404_on_every_operation() {
    let (sim, http) = start_pg().await;
    use reqwest::Method as M;
    let calls: &[(M, &str, Option<Value>)] = &[
        (M::GET, "", None),
        (M::DELETE, "", None),
        (M::POST, "/attachments", Some(json!({ "app_name": "a" }))),
        (M::DELETE, "/attachments/a", None),
        (M::GET, "/backups", None),
        (M::POST, "/backups", Some(json!({ "type": "full" }))),
        (M::GET, "/databases", None),
        (M::POST, "/databases", Some(json!({ "name": "d" }))),
        (M::DELETE, "/databases/d", None),
        (M::GET, "/databases/d/extensions", None),
        (
            M::POST,
            "/databases/d/extensions",
            Some(json!({ "name": "citext" })),
        ),
        (M::DELETE, "/databases/d/extensions/citext", None),
        (M::POST, "/fork", Some(json!({}))),
        (M::GET, "/queries/active?database=d", None),
        (M::GET, "/queries/slow", None),
        (M::POST, "/restore", Some(json!({ "backup_id": "b" }))),
        (M::GET, "/users", None),
        (
            M::POST,
            "/users",
            Some(json!({ "username": "u", "role": "reader" })),
        ),
        (M::DELETE, "/users/u", None),
        (M::PATCH, "/users/u", Some(json!({ "role": "reader" }))),
        (M::GET, "/users/u/credentials", None),
        (M::POST, "/users/u/rotate_password", Some(json!({}))),
    ];
    for (method, suffix, body) in calls {
        let path = format!("/postgres/no-such-cluster{suffix}");
        let a = http.send(method.clone(), &path, body.clone(), None).await;
        refused(&a, 404, "Cluster not found");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn users_have_roles_and_passwords_that_rotate() {
    let (sim, http) = start_pg().await;
    let id = ready(&sim, &http, json!({})).await;
    let p = |s: &str| format!("/postgres/{id}{s}");

    let list: types::ListPostgresUsersResponse =
        serde_json::from_value(http.get(&p("/users")).await.body).unwrap();
    let names: Vec<_> = list
        .data
        .unwrap()
        .into_iter()
        .filter_map(|u| u.username)
        .collect();
    assert_eq!(names, ["fly-user"], "provisioning made the default user");

    let created = http
        .post(
            &p("/users"),
            json!({ "username": "app_user", "role": "writer" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body,
        json!({ "data": { "username": "app_user", "role": "writer" } })
    );
    refused(
        &http
            .post(
                &p("/users"),
                json!({ "username": "app_user", "role": "reader" }),
            )
            .await,
        409,
        "already exists",
    );

    let creds = http.get(&p("/users/app_user/credentials")).await;
    let creds: types::GetPostgresUserCredentialsResponse =
        serde_json::from_value(creds.body).unwrap();
    let first = creds.data.unwrap().password.unwrap();
    assert_eq!(first.len(), 32);

    let rotated = http
        .post(
            &p("/users/app_user/rotate_password"),
            json!({ "kill_sessions": true }),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["data"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, first, "rotation changes the password");
    let again = http.get(&p("/users/app_user/credentials")).await;
    assert_eq!(again.body["data"]["password"], new.as_str());
    // The body is optional.
    assert_eq!(
        http.post_empty(&p("/users/app_user/rotate_password"))
            .await
            .status,
        200
    );

    let patched = http
        .patch(&p("/users/app_user"), json!({ "role": "reader" }))
        .await;
    assert_eq!(patched.status, 204, "{}", patched.text);
    let list = http.get(&p("/users")).await;
    assert_eq!(
        list.body["data"][0],
        json!({ "username": "app_user", "role": "reader" })
    );

    // Validation: 422 for missing or bad fields, 400 for malformed or reserved names.
    refused(
        &http.post(&p("/users"), json!({ "role": "reader" })).await,
        422,
        "username",
    );
    refused(
        &http.post(&p("/users"), json!({ "username": "u" })).await,
        422,
        "role is required",
    );
    refused(
        &http
            .post(&p("/users"), json!({ "username": "u", "role": "owner" }))
            .await,
        422,
        "\"owner\"",
    );
    refused(
        &http
            .post(
                &p("/users"),
                json!({ "username": "Bad-", "role": "reader" }),
            )
            .await,
        400,
        "malformed",
    );
    refused(
        &http
            .post(
                &p("/users"),
                json!({ "username": "postgres", "role": "reader" }),
            )
            .await,
        400,
        "reserved",
    );
    refused(
        &http
            .patch(&p("/users/app_user"), json!({ "role": "god" }))
            .await,
        422,
        "role",
    );
    refused(
        &http.patch(&p("/users/app_user"), json!({})).await,
        422,
        "role is required",
    );
    refused(
        &http
            .patch(&p("/users/ghost"), json!({ "role": "reader" }))
            .await,
        404,
        "User not found",
    );
    refused(
        &http.get(&p("/users/ghost/credentials")).await,
        404,
        "User not found",
    );
    refused(
        &http.get(&p("/users/pg_monitor/credentials")).await,
        400,
        "reserved",
    );
    refused(
        &http
            .post(
                &p("/users/app_user/rotate_password"),
                json!({ "kill_sessions": "yes" }),
            )
            .await,
        422,
        "kill_sessions must be true or false",
    );
    refused(
        &http
            .post(&p("/users/ghost/rotate_password"), json!({}))
            .await,
        404,
        "User not found",
    );

    assert_eq!(http.delete(&p("/users/app_user")).await.status, 204);
    refused(
        &http.delete(&p("/users/app_user")).await,
        404,
        "User not found",
    );
    refused(
        &http.get(&p("/users/app_user/credentials")).await,
        404,
        "User not found",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn databases_are_created_listed_and_dropped() {
    let (sim, http) = start_pg().await;
    let id = ready(&sim, &http, json!({})).await;
    let p = |s: &str| format!("/postgres/{id}{s}");

    let list = http.get(&p("/databases")).await;
    assert_eq!(list.body, json!({ "data": [{ "name": "fly-db" }] }));
    let created = http
        .post(&p("/databases"), json!({ "name": "customer_data" }))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created: types::PostgresDatabaseResponse = serde_json::from_value(created.body).unwrap();
    assert_eq!(created.data.unwrap().name.as_deref(), Some("customer_data"));
    refused(
        &http
            .post(&p("/databases"), json!({ "name": "customer_data" }))
            .await,
        422,
        "exists",
    );
    refused(
        &http.post(&p("/databases"), json!({})).await,
        422,
        "name is required",
    );
    refused(
        &http.post(&p("/databases"), json!({ "name": "-x" })).await,
        400,
        "malformed",
    );
    refused(
        &http
            .post(&p("/databases"), json!({ "name": "template1" }))
            .await,
        400,
        "system",
    );
    refused(&http.delete(&p("/databases/postgres")).await, 400, "system");
    refused(
        &http.delete(&p("/databases/nothing")).await,
        404,
        "Database not found",
    );

    let dropped = http.delete(&p("/databases/customer_data")).await;
    assert_eq!(dropped.status, 200, "{}", dropped.text);
    assert_eq!(dropped.body, json!({ "data": { "name": "customer_data" } }));
    assert_eq!(
        http.get(&p("/databases")).await.body["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    sim.shutdown().await;
}

/// The installation of `name` in the extension listing (null when not installed).
async fn installed(http: &Http, id: &str, db: &str, name: &str) -> Value {
    let a = http
        .get(&format!("/postgres/{id}/databases/{db}/extensions"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let list: types::ListPostgresExtensionsResponse =
        serde_json::from_value(a.body.clone()).unwrap();
    assert!(!list.data.unwrap().is_empty());
    a.body["data"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == name))
        .map(|e| e["installed"].clone())
        .expect("in the catalogue")
}

#[tokio::test]
async fn extensions_install_with_their_requirements_and_uninstall() {
    let (sim, http) = start_pg().await;
    let id = ready(&sim, &http, json!({})).await;
    let p = |s: &str| format!("/postgres/{id}/databases/fly-db{s}");

    assert_eq!(installed(&http, &id, "fly-db", "citext").await, Value::Null);
    assert_eq!(
        installed(&http, &id, "fly-db", "plpgsql").await["schema"],
        "pg_catalog"
    );
    let enabled = http
        .post(&p("/extensions"), json!({ "name": "citext" }))
        .await;
    assert_eq!(enabled.status, 204, "{}", enabled.text);
    assert_eq!(
        installed(&http, &id, "fly-db", "citext").await,
        json!({ "schema": "public", "version": "1.6" })
    );
    refused(
        &http
            .post(&p("/extensions"), json!({ "name": "citext" }))
            .await,
        409,
        "already installed in schema public",
    );
    refused(
        &http
            .post(&p("/extensions"), json!({ "name": "nope" }))
            .await,
        422,
        "Unknown",
    );
    refused(
        &http.post(&p("/extensions"), json!({})).await,
        422,
        "name is required",
    );
    refused(
        &http
            .post(&p("/extensions"), json!({ "name": "postgis" }))
            .await,
        409,
        "PostGIS is not enabled",
    );

    // A schema that does not exist needs create_schema.
    refused(
        &http
            .post(
                &p("/extensions"),
                json!({ "name": "hstore", "schema": "ext" }),
            )
            .await,
        422,
        "create_schema",
    );
    let in_schema = http
        .post(
            &p("/extensions"),
            json!({ "name": "hstore", "schema": "ext", "create_schema": true }),
        )
        .await;
    assert_eq!(in_schema.status, 204, "{}", in_schema.text);
    assert_eq!(
        installed(&http, &id, "fly-db", "hstore").await["schema"],
        "ext"
    );

    // Enabling earthdistance brings cube; cube cannot go without force while it is needed.
    assert_eq!(
        http.post(&p("/extensions"), json!({ "name": "earthdistance" }))
            .await
            .status,
        204
    );
    assert_eq!(
        installed(&http, &id, "fly-db", "cube").await["version"],
        "1.5"
    );
    refused(
        &http.delete(&p("/extensions/cube")).await,
        400,
        "earthdistance",
    );
    assert_eq!(
        http.delete(&p("/extensions/cube?force=true")).await.status,
        204
    );
    assert_eq!(
        installed(&http, &id, "fly-db", "earthdistance").await,
        Value::Null
    );

    refused(
        &http.delete(&p("/extensions/plpgsql")).await,
        400,
        "System extensions cannot be disabled",
    );
    refused(
        &http.delete(&p("/extensions/Bad!")).await,
        422,
        "Invalid extension name",
    );
    refused(
        &http.delete(&p("/extensions/vector")).await,
        404,
        "not installed",
    );
    assert_eq!(http.delete(&p("/extensions/citext")).await.status, 204);
    refused(
        &http
            .get(&format!("/postgres/{id}/databases/bad%20name/extensions"))
            .await,
        400,
        "malformed",
    );
    refused(
        &http
            .get(&format!("/postgres/{id}/databases/other/extensions"))
            .await,
        404,
        "Database not found",
    );

    // PostGIS works on a cluster created for it.
    let gis = ready(&sim, &http, json!({ "postgis_enabled": true })).await;
    let on_gis = http
        .post(
            &format!("/postgres/{gis}/databases/fly-db/extensions"),
            json!({ "name": "postgis_topology" }),
        )
        .await;
    assert_eq!(on_gis.status, 204, "{}", on_gis.text);
    assert_eq!(
        installed(&http, &gis, "fly-db", "postgis").await["version"],
        "3.5.2"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn backups_run_on_the_clock_and_restore_into_new_clusters() {
    let (sim, http) = start_pg().await;
    let early = create(&http, json!({ "name": "src" })).await;
    refused(
        &http
            .post(
                &format!("/postgres/{early}/backups"),
                json!({ "type": "full" }),
            )
            .await,
        503,
        "creating",
    );
    sim.advance(PG_STEP * 2);
    let id = early;
    let p = |s: &str| format!("/postgres/{id}{s}");

    refused(
        &http.post(&p("/backups"), json!({})).await,
        422,
        "type is required",
    );
    refused(
        &http.post(&p("/backups"), json!({ "type": "weekly" })).await,
        422,
        "weekly",
    );
    assert_eq!(
        http.post(&p("/backups"), json!({ "type": "full" }))
            .await
            .status,
        202
    );
    refused(
        &http.post(&p("/backups"), json!({ "type": "incr" })).await,
        409,
        "currently running",
    );
    let running = http.get(&p("/backups")).await;
    assert_eq!(running.body["data"][0]["status"], "running");
    assert!(running.body["data"][0].get("finished_at").is_none());
    let backup_id = running.body["data"][0]["id"].as_str().unwrap().to_string();
    refused(
        &http
            .post(&p("/restore"), json!({ "backup_id": backup_id }))
            .await,
        422,
        "not finished",
    );

    sim.advance(PG_STEP);
    let done: types::ListPostgresBackupsResponse =
        serde_json::from_value(http.get(&p("/backups")).await.body).unwrap();
    let done = &done.data.unwrap()[0];
    assert_eq!(done.status.as_deref(), Some("completed"));
    assert_eq!(done.type_.as_deref(), Some("full"));
    assert!(done.size_bytes.unwrap() > 0 && done.finished_at.is_some());

    // Restoring from the backup makes a new cluster that provisions; the source is untouched.
    http.post(
        &p("/users"),
        json!({ "username": "keeper", "role": "reader" }),
    )
    .await;
    let restored = http
        .post(&p("/restore"), json!({ "backup_id": backup_id }))
        .await;
    assert_eq!(restored.status, 201, "{}", restored.text);
    let new_id = restored.body["data"]["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(restored.body["data"]["name"], "src-restore");
    assert_eq!(restored.body["data"]["status"], "creating");
    assert_eq!(status(&http, &id).await, "ready");
    sim.advance(PG_STEP * 2);
    assert_eq!(status(&http, &new_id).await, "ready");
    let users = http.get(&format!("/postgres/{new_id}/users")).await;
    assert!(users.text.contains("fly-user"), "{}", users.text);
    assert!(
        !users.text.contains("keeper"),
        "made after the backup: {}",
        users.text
    );

    // Point in time: within the window [ready, now], with an explicit offset.
    let in_window = "2025-01-01T00:00:02.500Z";
    let pitr = http
        .post(
            &p("/restore"),
            json!({ "pitr_time": in_window, "name": "at-two" }),
        )
        .await;
    assert_eq!(pitr.status, 201, "{}", pitr.text);
    assert_eq!(pitr.body["data"]["name"], "at-two");

    refused(
        &http.post(&p("/restore"), json!({})).await,
        422,
        "restore target is required",
    );
    refused(
        &http
            .post(
                &p("/restore"),
                json!({ "backup_id": backup_id, "pitr_time": in_window }),
            )
            .await,
        422,
        "mutually exclusive",
    );
    refused(
        &http
            .post(&p("/restore"), json!({ "backup_id": "nope" }))
            .await,
        404,
        "Backup nope not found",
    );
    refused(
        &http
            .post(
                &p("/restore"),
                json!({ "pitr_time": "2024-12-31T00:00:00Z" }),
            )
            .await,
        422,
        "outside the recovery window",
    );
    refused(
        &http
            .post(&p("/restore"), json!({ "pitr_time": "yesterday" }))
            .await,
        422,
        "RFC 3339",
    );
    refused(
        &http
            .post(
                &p("/restore"),
                json!({ "backup_id": backup_id, "name": "at-two" }),
            )
            .await,
        422,
        "already used",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_ready_cluster_forks_into_a_copy() {
    let (sim, http) = start_pg().await;
    let id = create(&http, json!({ "name": "origin", "plan": "starter" })).await;
    refused(
        &http.post(&format!("/postgres/{id}/fork"), json!({})).await,
        409,
        "not ready to be forked",
    );
    sim.advance(PG_STEP * 2);
    let origin_creds = http
        .get(&format!("/postgres/{id}/users/fly-user/credentials"))
        .await;

    let fork = http.post_empty(&format!("/postgres/{id}/fork")).await;
    assert_eq!(fork.status, 201, "{}", fork.text);
    let fork: types::ShowPostgresClusterResponse = serde_json::from_value(fork.body).unwrap();
    let fork = fork.data.unwrap();
    assert_eq!(fork.name.as_deref(), Some("origin-fork"));
    assert_eq!(
        fork.plan.as_deref(),
        Some("starter"),
        "settings are inherited"
    );
    let fork_id = fork.id.unwrap();
    sim.advance(PG_STEP * 2);
    let fork_creds = http
        .get(&format!("/postgres/{fork_id}/users/fly-user/credentials"))
        .await;
    assert_eq!(fork_creds.body, origin_creds.body, "the fork copies users");

    // A second fork gets a numbered name; a chosen name is checked.
    let second = http.post(&format!("/postgres/{id}/fork"), json!({})).await;
    assert_eq!(second.body["data"]["name"], "origin-fork-2");
    refused(
        &http
            .post(&format!("/postgres/{id}/fork"), json!({ "name": "origin" }))
            .await,
        422,
        "already used",
    );
    refused(
        &http
            .post(&format!("/postgres/{id}/fork"), json!({ "name": "UP" }))
            .await,
        422,
        "invalid",
    );
    refused(
        &http
            .post(&format!("/postgres/{id}/fork"), json!({ "name": 3 }))
            .await,
        422,
        "string",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn apps_attach_and_detach() {
    let (sim, http) = start_pg().await;
    let id = create(&http, json!({})).await;
    http.app("web").await;
    let p = |s: &str| format!("/postgres/{id}{s}");

    let attached = http
        .post(&p("/attachments"), json!({ "app_name": "web" }))
        .await;
    assert_eq!(attached.status, 201, "{}", attached.text);
    let body: types::CreatePostgresAttachmentResponse =
        serde_json::from_value(attached.body.clone()).unwrap();
    let data = body.data.unwrap();
    assert_eq!(data.app_name.as_deref(), Some("web"));
    assert_eq!(data.postgres_cluster_id.as_deref(), Some(id.as_str()));
    sim.advance(PG_STEP);
    let again = http
        .post(&p("/attachments"), json!({ "app_name": "web" }))
        .await;
    assert_eq!(again.status, 200, "already attached");
    assert_eq!(again.body, attached.body, "same attachment, same time");
    assert_eq!(
        http.get(&p("")).await.body["data"]["attached_apps"],
        json!([{ "name": "web" }])
    );
    let listed = http.get("/postgres?org_slug=personal").await;
    assert_eq!(
        listed.body["data"][0]["attached_apps"],
        json!([{ "name": "web" }])
    );

    refused(
        &http
            .post(&p("/attachments"), json!({ "app_name": "ghost" }))
            .await,
        404,
        "App not found",
    );
    refused(
        &http.post(&p("/attachments"), json!({})).await,
        422,
        "app_name is required",
    );
    assert_eq!(http.delete(&p("/attachments/web")).await.status, 204);
    refused(
        &http.delete(&p("/attachments/web")).await,
        404,
        "Attachment not found",
    );
    refused(
        &http.delete(&p("/attachments/ghost")).await,
        404,
        "App not found",
    );

    // Deleting the app removes its attachment.
    http.post(&p("/attachments"), json!({ "app_name": "web" }))
        .await;
    assert_eq!(http.delete("/apps/web").await.status, 202);
    assert_eq!(
        http.get(&p("")).await.body["data"]["attached_apps"],
        json!([])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn query_statistics_are_deterministic_samples() {
    let (sim, http) = start_pg().await;
    let id = ready(&sim, &http, json!({})).await;
    http.app("api").await;
    http.post(
        &format!("/postgres/{id}/attachments"),
        json!({ "app_name": "api" }),
    )
    .await;
    let p = |s: &str| format!("/postgres/{id}/queries{s}");

    refused(
        &http.get(&p("/active")).await,
        422,
        "database must be a non-empty string",
    );
    refused(
        &http.get(&p("/active?database=%20%20")).await,
        422,
        "non-empty",
    );
    let active = http.get(&p("/active?database=fly-db")).await;
    assert_eq!(active.status, 200, "{}", active.text);
    let rows: types::ListPostgresActiveQueriesResponse =
        serde_json::from_value(active.body.clone()).unwrap();
    let rows = rows.data.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].user.as_deref(), Some("fly-user"));
    assert_eq!(rows[0].application_name.as_deref(), Some("api"));
    assert_eq!(rows[1].wait_event.as_deref(), Some("ClientRead"));
    assert_eq!(
        http.get(&p("/active?database=fly-db")).await.body,
        active.body
    );
    assert_eq!(
        http.get(&p("/active?database=other")).await.body,
        json!({ "data": [] })
    );

    refused(
        &http.get(&p("/slow?range=0")).await,
        422,
        "range must be an integer between 1 and 604800",
    );
    refused(&http.get(&p("/slow?range=604801")).await, 422, "range");
    refused(&http.get(&p("/slow?range=soon")).await, 422, "range");
    assert_eq!(
        http.get(&p("/slow")).await.body,
        json!({ "data": [] }),
        "no metrics scraped yet"
    );

    sim.advance(Duration::from_secs(600));
    let slow = http.get(&p("/slow?range=3600")).await;
    let slow: types::ListPostgresSlowQueriesResponse = serde_json::from_value(slow.body).unwrap();
    let slow = slow.data.unwrap();
    assert_eq!(slow.len(), 3, "three statements on the one database");
    let totals: Vec<f64> = slow
        .iter()
        .filter_map(|q| q.total_exec_time_seconds)
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "sorted by total time: {totals:?}"
    );
    for q in &slow {
        let (mean, calls, total) = (
            q.mean_exec_time_seconds.unwrap(),
            q.calls.unwrap() as f64,
            q.total_exec_time_seconds.unwrap(),
        );
        assert!((mean * calls - total).abs() < 1e-6);
    }
    assert_eq!(
        slow.iter()
            .find(|q| q.query.as_deref().unwrap().starts_with("INSERT"))
            .and_then(|q| q.calls),
        Some(600)
    );
    // The latest scrape is 30 s old: a 10 s lookback finds none.
    sim.advance(Duration::from_secs(30));
    assert_eq!(
        http.get(&p("/slow?range=10")).await.body,
        json!({ "data": [] })
    );
    sim.shutdown().await;
}

/// A taken cluster name (422), user (409) or database (422) carries `"status": "name_taken"`, so a
/// client can tell it from any other refusal.
#[tokio::test]
async fn taken_names_answer_with_the_name_taken_code() {
    let (sim, http) = start_pg().await;
    let id = ready(&sim, &http, json!({ "name": "coded" })).await;
    let again = http
        .post(
            "/postgres",
            json!({ "org_slug": "personal", "plan": "basic", "region": "iad", "name": "coded" }),
        )
        .await;
    assert_eq!(
        (again.status, &again.body["status"]),
        (422, &json!("name_taken"))
    );
    // Each with the status the document declares for it: 409 for a user, 422 for a database.
    for (path, body, status) in [
        ("users", json!({ "username": "app", "role": "writer" }), 409),
        ("databases", json!({ "name": "orders" }), 422),
    ] {
        let path = format!("/postgres/{id}/{path}");
        assert_eq!(http.post(&path, body.clone()).await.status, 201);
        let taken = http.post(&path, body).await;
        assert_eq!(
            (taken.status, &taken.body["status"]),
            (status, &json!("name_taken")),
            "{path}"
        );
    }
    // Other refusals keep the plain `{error}` shape.
    let bad = http
        .post(
            &format!("/postgres/{id}/users"),
            json!({ "username": "x", "role": "boss" }),
        )
        .await;
    assert!(bad.body.get("status").is_none(), "{}", bad.text);
    sim.shutdown().await;
}
