//! Managed Postgres handles against typed httpmock mocks: each sends the right method, path,
//! query and body, and hands back what is inside Fly's `{"data": ...}` envelope; Postgres error
//! bodies, `503` with `Retry-After`, and bad input; `wait_ready` on paused tokio time against a
//! cluster that becomes ready, fails, vanishes or never gets there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use fly_machines::resources::postgres::{
    BackupKind, ClusterStatus, ClusterWaitError, PoolMode, PostgresPlan, PostgresRole, RestorePoint,
};
use fly_machines::{Client, Error, ManualClock, types};
use fly_machines_httpmock::MockServerExt;
use httpmock::MockServer;

const CLUSTER: &str = "pgc_8xq2m7kd";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .test_server(server.base_url())
        .build()
        .unwrap()
}

fn cluster(status: &str) -> types::PostgresCluster {
    types::PostgresCluster {
        id: Some(CLUSTER.into()),
        name: Some("orders-db".into()),
        status: Some(status.into()),
        region: Some("iad".into()),
        plan: Some("basic".into()),
        ..Default::default()
    }
}

fn shown(status: &str) -> types::ShowPostgresClusterResponse {
    types::ShowPostgresClusterResponse {
        data: Some(cluster(status)),
    }
}

fn user(name: &str, role: &str) -> types::PostgresUser {
    types::PostgresUser {
        username: Some(name.into()),
        role: Some(role.into()),
    }
}

fn credentials(password: &str) -> types::PostgresUserCredentials {
    types::PostgresUserCredentials {
        username: Some("orders_app".into()),
        password: Some(password.into()),
    }
}

fn pg_error(message: &str) -> types::PostgresErrorResponse {
    types::PostgresErrorResponse {
        error: Some(message.into()),
    }
}

#[tokio::test]
async fn clusters_are_listed_and_created() {
    let server = MockServer::start_async().await;
    let summaries = vec![types::PostgresClusterSummary {
        id: Some(CLUSTER.into()),
        status: Some("ready".into()),
        ..Default::default()
    }];
    let with_deleted = server.postgres_list(|when, then| {
        when.org_slug("my-org").include_deleted(true);
        then.ok_envelope(&types::ListPostgresClustersResponse {
            data: Some(summaries.clone()),
        });
    });
    let live_only = server.postgres_list(|when, then| {
        when.org_slug("personal")
            .into_inner()
            .query_param_missing("include_deleted");
        then.ok_envelope(&types::ListPostgresClustersResponse { data: None });
    });
    let body = types::CreatePostgresClusterRequest {
        name: Some("orders-db".into()),
        org_slug: "my-org".into(),
        region: "iad".into(),
        plan: types::CreatePostgresClusterRequestPlan::Performance,
        pg_major_version: Some(types::CreatePostgresClusterRequestPgMajorVersion::X17),
        pool_mode: Some(PoolMode::Transaction),
        disk_size_gb: Some(40),
        postgis_enabled: Some(true),
    };
    let create = server.postgres_create(|when, then| {
        when.body(&body);
        then.created_envelope(&shown("creating"));
    });
    let client = client(&server);
    let clusters = client.postgres().clusters();

    let listed = clusters.list("my-org").include_deleted().await.unwrap();
    assert_eq!(listed, summaries);
    assert_eq!(listed[0].status(), ClusterStatus::Ready);
    assert!(clusters.list("personal").send().await.unwrap().is_empty());
    let created = clusters
        .create("orders-db")
        .org("my-org")
        .region("iad")
        .plan("performance") // Fly matches plans without regard to case
        .pg_major_version(17)
        .pool_mode(PoolMode::Transaction)
        .disk_size_gb(40)
        .postgis()
        .await
        .unwrap();
    assert_eq!(created, cluster("creating"));
    with_deleted.assert_calls_async(1).await;
    live_only.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_cluster_is_read_deleted_forked_and_restored() {
    let server = MockServer::start_async().await;
    let show = server.postgres_get(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&shown("ready"));
    });
    let delete = server.postgres_delete(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.accepted();
    });
    let fork = server.postgres_fork(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::ForkPostgresClusterRequest {
                name: Some("orders-copy".into()),
            });
        then.created_envelope(&shown("creating"));
    });
    let from_backup = server.postgres_restore(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::RestorePostgresClusterRequest {
                backup_id: Some("20261001T000000F".into()),
                name: Some("orders-restored".into()),
                pitr_time: None,
            });
        then.created_envelope(&shown("creating"));
    });
    let to_time = server.postgres_restore(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::RestorePostgresClusterRequest {
                backup_id: None,
                name: None,
                pitr_time: Some("2026-10-01T12:30:05Z".into()),
            });
        then.created_envelope(&shown("creating"));
    });
    let client = client(&server);
    let handle = client.postgres().cluster(CLUSTER);

    let got = handle.get().await.unwrap();
    assert!(got.is_ready());
    assert_eq!(got.plan(), PostgresPlan::Basic);
    handle.delete().await.unwrap();
    assert_eq!(
        handle.fork().name("orders-copy").await.unwrap(),
        cluster("creating")
    );
    handle
        .restore(RestorePoint::backup("20261001T000000F"))
        .name("orders-restored")
        .await
        .unwrap();
    let noon = UNIX_EPOCH + Duration::from_secs(1_790_857_805) + Duration::from_millis(700);
    handle.restore(RestorePoint::time(noon)).await.unwrap();
    for mock in [show, delete, fork, from_backup, to_time] {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn apps_are_attached_and_detached_and_queries_read() {
    let server = MockServer::start_async().await;
    let attachment = types::PostgresAttachment {
        app_name: Some("orders-web".into()),
        postgres_cluster_id: Some(CLUSTER.into()),
        attached_at: Some("2026-10-01T00:00:00Z".into()),
    };
    let attach = server.postgres_attach(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::CreatePostgresAttachmentRequest {
                app_name: "orders-web".into(),
            });
        then.created_envelope(&types::CreatePostgresAttachmentResponse {
            data: Some(attachment.clone()),
        });
    });
    let detach = server.postgres_detach(|when, then| {
        when.postgres_cluster_id(CLUSTER).app_name("orders-web");
        then.no_content();
    });
    let active = server.postgres_active_queries(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .database(&"orders".parse().unwrap());
        then.ok_envelope(&types::ListPostgresActiveQueriesResponse {
            data: Some(vec![types::PostgresActiveQuery {
                pid: Some(4242),
                duration_seconds: Some(1.5),
                ..Default::default()
            }]),
        });
    });
    let slow_day = server.postgres_slow_queries(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .range(std::num::NonZeroU64::new(86_400));
        then.ok_envelope(&types::ListPostgresSlowQueriesResponse {
            data: Some(vec![types::PostgresSlowQuery {
                calls: Some(7),
                ..Default::default()
            }]),
        });
    });
    let slow_default = server.postgres_slow_queries(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .into_inner()
            .query_param_missing("range");
        then.ok_envelope(&types::ListPostgresSlowQueriesResponse { data: Some(vec![]) });
    });
    let client = client(&server);
    let handle = client.postgres().cluster(CLUSTER);

    let attached = handle.attach("orders-web").await.unwrap();
    assert_eq!(attached, attachment);
    assert_eq!(attached.cluster_id(), CLUSTER);
    handle.detach("orders-web").await.unwrap();
    let running = handle.active_queries("orders").await.unwrap();
    assert_eq!(running[0].duration(), Some(Duration::from_millis(1500)));
    let slow = handle
        .slow_queries()
        .range(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(slow[0].calls(), Some(7));
    assert!(handle.slow_queries().await.unwrap().is_empty());
    for mock in [attach, detach, active, slow_day, slow_default] {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn users_are_managed_and_their_passwords_stay_out_of_debug() {
    let server = MockServer::start_async().await;
    let list = server.postgres_users_list(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&types::ListPostgresUsersResponse {
            data: Some(vec![
                user("orders_app", "writer"),
                user("auditor", "auditor"),
            ]),
        });
    });
    let create = server.postgres_users_create(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::CreatePostgresUserRequest {
                role: types::CreatePostgresUserRequestRole::Writer,
                username: "orders_app".into(),
            });
        then.created_envelope(&types::CreatePostgresUserResponse {
            data: Some(user("orders_app", "writer")),
        });
    });
    let set_role = server.postgres_users_set_role(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .username("orders_app")
            .body(&types::UpdatePostgresUserRoleRequest {
                role: types::UpdatePostgresUserRoleRequestRole::Reader,
            });
        then.no_content();
    });
    let delete = server.postgres_users_delete(|when, then| {
        when.postgres_cluster_id(CLUSTER).username("orders_app");
        then.no_content();
    });
    let read = server.postgres_users_credentials(|when, then| {
        when.postgres_cluster_id(CLUSTER).username("orders_app");
        then.ok_envelope(&types::GetPostgresUserCredentialsResponse {
            data: Some(credentials("first-s3cret")),
        });
    });
    let rotate = server.postgres_users_rotate_password(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .username("orders_app")
            .body(&types::RotatePostgresPasswordRequest {
                kill_sessions: Some(true),
            });
        then.ok_envelope(&types::RotatePostgresPasswordResponse {
            data: Some(credentials("second-s3cret")),
        });
    });
    let client = client(&server);
    let handle = client.postgres().cluster(CLUSTER);

    let users = handle.users().list().await.unwrap();
    assert_eq!(users[0].role(), PostgresRole::Writer);
    // A role this version does not name is kept, not refused.
    assert_eq!(users[1].role(), PostgresRole::Other("auditor".into()));
    let created = handle
        .users()
        .create("orders_app")
        .role(PostgresRole::Writer)
        .await
        .unwrap();
    assert_eq!(created, user("orders_app", "writer"));
    let orders_app = handle.user("orders_app");
    orders_app.set_role(PostgresRole::Reader).await.unwrap();
    let first = orders_app.credentials().await.unwrap();
    assert_eq!(first.password(), "first-s3cret");
    let second = orders_app.rotate_password().kill_sessions().await.unwrap();
    assert_eq!(second.password(), "second-s3cret");
    let shown = format!("{first:?} {second:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    orders_app.delete().await.unwrap();
    for mock in [list, create, set_role, delete, read, rotate] {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn databases_and_extensions_are_managed() {
    let server = MockServer::start_async().await;
    let orders = types::PostgresDatabase {
        name: Some("orders".into()),
    };
    let list = server.postgres_databases_list(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&types::ListPostgresDatabasesResponse {
            data: Some(vec![orders.clone()]),
        });
    });
    let create = server.postgres_databases_create(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::CreatePostgresDatabaseRequest {
                name: "orders".into(),
            });
        then.created_envelope(&types::PostgresDatabaseResponse {
            data: Some(orders.clone()),
        });
    });
    let delete = server.postgres_databases_delete(|when, then| {
        when.postgres_cluster_id(CLUSTER).database_name("orders");
        then.ok_envelope(&types::PostgresDatabaseResponse {
            data: Some(orders.clone()),
        });
    });
    let extensions = server.postgres_extensions_list(|when, then| {
        when.postgres_cluster_id(CLUSTER).database_name("orders");
        then.ok_envelope(&types::ListPostgresExtensionsResponse {
            data: Some(vec![types::PostgresExtension {
                name: Some("citext".into()),
                installed: Some(types::PostgresExtensionInstalled {
                    schema: Some("public".into()),
                    version: Some("1.6".into()),
                }),
                ..Default::default()
            }]),
        });
    });
    let enable = server.postgres_extensions_enable(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .database_name("orders")
            .body(&types::EnablePostgresExtensionRequest {
                create_schema: Some(true),
                name: "citext".into(),
                schema: Some("util".into()),
            });
        then.no_content();
    });
    let disable = server.postgres_extensions_disable(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .database_name("orders")
            .extension_name("citext")
            .force(true);
        then.no_content();
    });
    let client = client(&server);
    let handle = client.postgres().cluster(CLUSTER);

    assert_eq!(
        handle.databases().list().await.unwrap(),
        std::slice::from_ref(&orders)
    );
    assert_eq!(handle.databases().create("orders").await.unwrap(), orders);
    let db = handle.database("orders");
    let listed = db.extensions().list().await.unwrap();
    assert!(listed[0].is_installed());
    assert_eq!(listed[0].installed_version(), Some("1.6"));
    db.extensions()
        .enable("citext")
        .schema("util")
        .create_schema()
        .await
        .unwrap();
    db.extension("citext").disable().force().await.unwrap();
    assert_eq!(db.delete().await.unwrap().name(), "orders");
    for mock in [list, create, delete, extensions, enable, disable] {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn backups_are_listed_and_started() {
    let server = MockServer::start_async().await;
    let list = server.postgres_backups_list(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&types::ListPostgresBackupsResponse {
            data: Some(vec![types::PostgresBackup {
                id: Some("20261001T000000F".into()),
                type_: Some("full".into()),
                size_bytes: Some(1 << 30),
                ..Default::default()
            }]),
        });
    });
    let create = server.postgres_backups_create(|when, then| {
        when.postgres_cluster_id(CLUSTER)
            .body(&types::CreatePostgresBackupRequest {
                type_: types::CreatePostgresBackupRequestType::Diff,
            });
        then.accepted();
    });
    let client = client(&server);
    let backups = client.postgres().cluster(CLUSTER).backups();

    let listed = backups.list().await.unwrap();
    assert_eq!(listed[0].kind(), BackupKind::Full);
    assert_eq!(listed[0].size_bytes(), Some(1 << 30));
    backups.create(BackupKind::Differential).await.unwrap();
    list.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
}

#[tokio::test]
async fn postgres_error_bodies_give_the_message_and_unsafe_calls_are_not_repeated() {
    let server = MockServer::start_async().await;
    let taken = server.postgres_users_create(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.conflict(&pg_error("role \"orders_app\" already exists"));
    });
    let invalid = server.postgres_create(|_, then| {
        then.unprocessable_entity(&pg_error("region \"xyz\" is not available"));
    });
    let client = client(&server);

    let err = client
        .postgres()
        .cluster(CLUSTER)
        .users()
        .create("orders_app")
        .role("writer")
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let api = err.api().expect("an API error");
    assert_eq!(api.message, "role \"orders_app\" already exists");
    assert_eq!(
        (api.operation, api.attempts),
        (fly_machines::OperationId::PostgresUsersCreate, 1)
    );
    let err = client
        .postgres()
        .clusters()
        .create("orders-db")
        .org("my-org")
        .region("xyz")
        .plan("basic")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(
        err.to_string().contains("region \"xyz\" is not available"),
        "{err}"
    );
    taken.assert_calls_async(1).await;
    invalid.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_for_safe_calls_only() {
    let server = MockServer::start_async().await;
    let unavailable = server.postgres_users_list(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.service_unavailable(&pg_error("cluster is restarting"))
            .into_inner()
            .header("retry-after", "7")
            .up_to_n_times(1);
    });
    let listed = server.postgres_users_list(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&types::ListPostgresUsersResponse {
            data: Some(vec![user("orders_app", "writer")]),
        });
    });
    let create_unavailable = server.postgres_databases_create(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.service_unavailable(&pg_error("cluster is restarting"))
            .into_inner()
            .header("retry-after", "7");
    });
    let clock = ManualClock::auto_advance();
    let client = Client::builder()
        .test_server(server.base_url())
        .clock(clock.clone())
        .build()
        .unwrap();
    let handle = client.postgres().cluster(CLUSTER);

    let users = handle.users().list().await.unwrap();
    assert_eq!(users.len(), 1);
    unavailable.assert_calls_async(1).await;
    listed.assert_calls_async(1).await;
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(7)],
        "the pause Fly asked for"
    );

    // A create might have gone through before the 503: it is not repeated.
    let err = handle.databases().create("orders").await.unwrap_err();
    assert_eq!((err.status(), err.attempts()), (Some(503), Some(1)));
    create_unavailable.assert_calls_async(1).await;
    assert_eq!(clock.sleeps().len(), 1, "no pause for a call not retried");
}

#[tokio::test]
async fn an_answer_without_data_is_a_decode_error_naming_the_operation() {
    let server = MockServer::start_async().await;
    server.postgres_get(|when, then| {
        when.postgres_cluster_id(CLUSTER);
        then.ok_envelope(&types::ShowPostgresClusterResponse { data: None });
    });
    let err = client(&server)
        .postgres()
        .cluster(CLUSTER)
        .get()
        .await
        .unwrap_err();
    match &err {
        Error::Decode(d) => assert_eq!(
            (d.operation, d.status),
            (fly_machines::OperationId::PostgresShow, 200)
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_input_is_refused_by_name_before_anything_is_sent() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let client = client(&server);
    let postgres = client.postgres();
    let clusters = postgres.clusters();
    let create = || clusters.create("orders-db").org("my-org").region("iad");

    let cases: Vec<(Error, &str)> = vec![
        (
            create().plan("basic").disk_size_gb(5).await.unwrap_err(),
            "disk_size_gb \"5\": expected a size from 10 to 1000 GB",
        ),
        (
            create()
                .plan("basic")
                .pg_major_version(15)
                .await
                .unwrap_err(),
            "pg_major_version \"15\": expected 16 or 17",
        ),
        (
            create().plan("enterprise").await.unwrap_err(),
            "plan \"enterprise\": expected basic, starter, launch, scale or Performance",
        ),
        (
            postgres
                .cluster(CLUSTER)
                .slow_queries()
                .range(Duration::from_secs(8 * 86_400))
                .await
                .unwrap_err(),
            "slow query range \"691200s\": expected a duration from 1 s to 604800 s",
        ),
        (
            postgres
                .cluster(CLUSTER)
                .users()
                .create("bob")
                .role("superuser")
                .await
                .unwrap_err(),
            "role \"superuser\": expected schema_admin, writer or reader",
        ),
        (
            postgres.cluster("../admin").get().await.unwrap_err(),
            "postgres cluster id \"../admin\"",
        ),
        (
            postgres
                .cluster(CLUSTER)
                .restore(RestorePoint::time(UNIX_EPOCH - Duration::from_secs(1)))
                .await
                .unwrap_err(),
            "pitr time",
        ),
        (
            postgres
                .cluster(CLUSTER)
                .database("orders/x")
                .delete()
                .await
                .unwrap_err(),
            "database name \"orders/x\"",
        ),
    ];
    for (err, expected) in cases {
        assert!(matches!(err, Error::InvalidInput(_)), "{expected}: {err:?}");
        assert!(err.to_string().contains(expected), "{err} / {expected}");
    }
    anything.assert_calls_async(0).await;
}

/// `wait_ready` against a server on this (paused) runtime that answers Get Cluster with the
/// statuses in `script`, one per poll (the last one repeating); `None` is a 404.
mod wait_ready {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;

    struct Script {
        statuses: Vec<Option<&'static str>>,
        polls: AtomicUsize,
    }

    async fn show(State(script): State<Arc<Script>>) -> axum::response::Response {
        let n = script.polls.fetch_add(1, Ordering::SeqCst);
        let last = script.statuses.len() - 1;
        match script.statuses[n.min(last)] {
            Some(status) => axum::Json(shown(status)).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                axum::Json(pg_error("postgres cluster not found")),
            )
                .into_response(),
        }
    }

    async fn serve(statuses: Vec<Option<&'static str>>) -> (Client, Arc<Script>) {
        let script = Arc::new(Script {
            statuses,
            polls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/postgres/{id}", get(show))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = Client::builder()
            .token("test-token")
            .base_url(format!("http://{addr}"))
            .rate_limits(fly_machines::RateLimits::off())
            .build()
            .unwrap();
        (client, script)
    }

    #[tokio::test(start_paused = true)]
    async fn returns_the_cluster_once_it_is_ready() {
        let (client, script) =
            serve(vec![Some("creating"), Some("initializing"), Some("ready")]).await;
        let started = tokio::time::Instant::now();
        let ready = client
            .postgres()
            .cluster(CLUSTER)
            .wait_ready(Duration::from_secs(900))
            .await
            .unwrap();
        assert!(ready.is_ready());
        assert_eq!(script.polls.load(Ordering::SeqCst), 3);
        // Two pauses: 1-2 s, then 2-4 s (each half to all of its step).
        let waited = started.elapsed();
        assert!(
            (Duration::from_secs(3)..=Duration::from_secs(6)).contains(&waited),
            "{waited:?}"
        );
    }

    /// `.poll_interval(d)` sets the first pause (it doubles from there), for an emulator whose
    /// Postgres steps are short.
    #[tokio::test(start_paused = true)]
    async fn the_poll_interval_sets_the_first_pause() {
        let (client, script) =
            serve(vec![Some("creating"), Some("initializing"), Some("ready")]).await;
        let started = tokio::time::Instant::now();
        let ready = client
            .postgres()
            .cluster(CLUSTER)
            .wait_ready(Duration::from_secs(900))
            .poll_interval(Duration::from_millis(100))
            .await
            .unwrap();
        assert!(ready.is_ready());
        assert_eq!(script.polls.load(Ordering::SeqCst), 3);
        // Two pauses: 50-100 ms, then 100-200 ms: far under the default's 3 s.
        let waited = started.elapsed();
        assert!(
            (Duration::from_millis(150)..=Duration::from_millis(300)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_cluster_ends_the_wait_at_once() {
        let (client, script) = serve(vec![Some("creating"), Some("failed")]).await;
        let err = client
            .postgres()
            .cluster(CLUSTER)
            .wait_ready(Duration::from_secs(900))
            .await
            .unwrap_err();
        match &err {
            Error::ClusterWait(w) if matches!(**w, ClusterWaitError::Failed { .. }) => {
                let ClusterWaitError::Failed { cluster_id, status } = &**w else {
                    unreachable!()
                };
                assert_eq!(
                    (cluster_id.as_str(), status),
                    (CLUSTER, &ClusterStatus::Failed)
                );
            }
            other => panic!("expected a failed cluster, got {other:?}"),
        }
        assert!(!err.is_timeout());
        assert_eq!(script.polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cluster_that_vanishes_ends_the_wait() {
        let (client, _) = serve(vec![Some("creating"), None]).await;
        let err = client
            .postgres()
            .cluster(CLUSTER)
            .wait_ready(Duration::from_secs(900))
            .await
            .unwrap_err();
        assert!(
            matches!(err.cluster_wait(), Some(ClusterWaitError::Vanished { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(CLUSTER), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_times_out_at_its_deadline_with_the_last_status() {
        let (client, script) = serve(vec![Some("initializing")]).await;
        let started = tokio::time::Instant::now();
        let err = client
            .postgres()
            .cluster(CLUSTER)
            .wait_ready(Duration::from_secs(120))
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(120),
            "not a pause past it"
        );
        assert!(
            err.to_string().contains("last status: initializing"),
            "{err}"
        );
        // Pauses grow to 30 s: at least 120 / 30 looks, and far fewer than one a second.
        let polls = script.polls.load(Ordering::SeqCst);
        assert!((5..=20).contains(&polls), "{polls}");
    }
}
