//! The wire shapes of Managed Postgres answers: every body is a `{data: …}` envelope.

use std::collections::BTreeMap;

use fly_machines_api::types;

use super::activity::{ActiveQuery, SlowQuery};
use crate::state::org_display_name;
use crate::state::postgres::{Backup, Cluster, ClusterStatus, Database, Role, User, catalog};
use crate::time::rfc3339;

/// Bytes in a GiB.
const GIB: i64 = 1024 * MIB;
/// Bytes in a MiB.
const MIB: i64 = 1024 * 1024;
/// Storage is measured this long after a cluster is ready (Fly measures hourly).
const STORAGE_MEASURED_AFTER_MS: u64 = 60 * 60 * 1000;
/// The Postgres port of both endpoints.
const PG_PORT: i64 = 5432;

fn attached_apps(c: &Cluster) -> Vec<types::PostgresAttachedApp> {
    c.attachments
        .keys()
        .map(|name| types::PostgresAttachedApp {
            name: Some(name.clone()),
        })
        .collect()
}

fn endpoint(host: String) -> types::PostgresEndpoint {
    types::PostgresEndpoint {
        host: Some(host),
        port: Some(PG_PORT),
    }
}

/// `GET /v1/postgres/{id}` and the answer of every call that makes a cluster.
pub(crate) fn cluster(c: &Cluster, now: u64) -> types::ShowPostgresClusterResponse {
    let status = c.status(now);
    let ready_at = c.timeline.ready_ms().filter(|&r| r <= now);
    // Endpoints exist once the cluster has been ready (and stay while it is deleted).
    let endpoints = ready_at.map(|_| types::PostgresClusterEndpoints {
        primary: Some(types::PostgresNodeEndpoints {
            direct: Some(endpoint(format!("direct.{}.flympg.net", c.id))),
            pooler: Some(endpoint(format!("pgbouncer.{}.flympg.net", c.id))),
        }),
    });
    let measured = ready_at.is_some_and(|r| now.saturating_sub(r) >= STORAGE_MEASURED_AFTER_MS);
    let replicas = c.settings.plan.replicas;
    let provisioned = c
        .settings
        .disk_size_gb
        .saturating_mul(GIB)
        .saturating_mul(replicas);
    // 16 MiB per database plus the system's own, on every replica.
    let databases = i64::try_from(c.data.databases.len()).unwrap_or(i64::MAX);
    let used = (16 * MIB)
        .saturating_mul(databases.saturating_add(1))
        .saturating_mul(replicas);
    let plan = c.settings.plan;
    types::ShowPostgresClusterResponse {
        data: Some(types::PostgresCluster {
            attached_apps: Some(attached_apps(c)),
            cpu_kind: Some(plan.cpu_kind.to_string()),
            cpus: Some(plan.cpus),
            created_at: Some(rfc3339(c.timeline.created_ms)),
            disk_size_gb: Some(c.settings.disk_size_gb),
            endpoints,
            id: Some(c.id.clone()),
            memory_mb: Some(plan.memory_mb),
            name: Some(c.name.clone()),
            organization: Some(types::OrganizationRef {
                name: Some(org_display_name(&c.settings.org_slug)),
                slug: Some(c.settings.org_slug.clone()),
            }),
            pg_major_version: Some(c.settings.pg_major_version.clone()),
            plan: Some(plan.slug.to_string()),
            postgis_enabled: Some(c.settings.postgis),
            region: Some(c.settings.region.clone()),
            replicas: Some(replicas),
            status: Some(status.as_str().to_string()),
            storage_provisioned_bytes: measured.then_some(provisioned),
            storage_used_bytes: measured.then_some(used),
        }),
    }
}

/// `GET /v1/postgres`.
pub(crate) fn summaries(clusters: &[&Cluster], now: u64) -> types::ListPostgresClustersResponse {
    let data = clusters
        .iter()
        .map(|c| {
            let status = c.status(now);
            types::PostgresClusterSummary {
                attached_apps: Some(attached_apps(c)),
                created_at: Some(rfc3339(c.timeline.created_ms)),
                deleted_at: (status == ClusterStatus::Deleted)
                    .then(|| c.timeline.deleted_ms.map(rfc3339))
                    .flatten(),
                id: Some(c.id.clone()),
                name: Some(c.name.clone()),
                plan: Some(c.settings.plan.slug.to_string()),
                region: Some(c.settings.region.clone()),
                status: Some(status.as_str().to_string()),
            }
        })
        .collect();
    types::ListPostgresClustersResponse { data: Some(data) }
}

pub(crate) fn attachment(
    cluster_id: &str,
    app: &str,
    attached_ms: u64,
) -> types::CreatePostgresAttachmentResponse {
    types::CreatePostgresAttachmentResponse {
        data: Some(types::PostgresAttachment {
            app_name: Some(app.to_string()),
            attached_at: Some(rfc3339(attached_ms)),
            postgres_cluster_id: Some(cluster_id.to_string()),
        }),
    }
}

pub(crate) fn backups(backups: &[Backup], now: u64) -> types::ListPostgresBackupsResponse {
    let data = backups
        .iter()
        .map(|b| {
            let running = b.running(now);
            types::PostgresBackup {
                finished_at: (!running).then(|| rfc3339(b.finished_ms)),
                id: Some(b.id.clone()),
                size_bytes: (!running).then_some(b.size_bytes),
                started_at: Some(rfc3339(b.started_ms)),
                status: Some(if running { "running" } else { "completed" }.to_string()),
                type_: Some(b.kind.as_str().to_string()),
            }
        })
        .collect();
    types::ListPostgresBackupsResponse { data: Some(data) }
}

pub(crate) fn database(name: &str) -> types::PostgresDatabaseResponse {
    types::PostgresDatabaseResponse {
        data: Some(types::PostgresDatabase {
            name: Some(name.to_string()),
        }),
    }
}

pub(crate) fn databases<'a>(
    names: impl Iterator<Item = &'a String>,
) -> types::ListPostgresDatabasesResponse {
    let data = names
        .map(|n| types::PostgresDatabase {
            name: Some(n.clone()),
        })
        .collect();
    types::ListPostgresDatabasesResponse { data: Some(data) }
}

/// The whole catalogue, each entry with its installation in `db` (or null).
pub(crate) fn extensions(db: &Database) -> types::ListPostgresExtensionsResponse {
    let data = catalog::EXTENSIONS
        .iter()
        .map(|e| types::PostgresExtension {
            default_version: Some(e.default_version.to_string()),
            description: Some(e.description.to_string()),
            installed: db
                .extensions
                .get(e.name)
                .map(|i| types::PostgresExtensionInstalled {
                    schema: Some(i.schema.clone()),
                    version: Some(i.version.to_string()),
                }),
            name: Some(e.name.to_string()),
            system: Some(e.system),
        })
        .collect();
    types::ListPostgresExtensionsResponse { data: Some(data) }
}

fn user_view(name: &str, role: Role) -> types::PostgresUser {
    types::PostgresUser {
        role: Some(role.as_str().to_string()),
        username: Some(name.to_string()),
    }
}

pub(crate) fn users(users: &BTreeMap<String, User>) -> types::ListPostgresUsersResponse {
    let data = users.iter().map(|(n, u)| user_view(n, u.role)).collect();
    types::ListPostgresUsersResponse { data: Some(data) }
}

pub(crate) fn user(name: &str, role: Role) -> types::CreatePostgresUserResponse {
    types::CreatePostgresUserResponse {
        data: Some(user_view(name, role)),
    }
}

fn credentials_view(name: &str, user: &User) -> types::PostgresUserCredentials {
    types::PostgresUserCredentials {
        password: Some(user.password.clone()),
        username: Some(name.to_string()),
    }
}

pub(crate) fn credentials(name: &str, user: &User) -> types::GetPostgresUserCredentialsResponse {
    types::GetPostgresUserCredentialsResponse {
        data: Some(credentials_view(name, user)),
    }
}

pub(crate) fn rotated(name: &str, user: &User) -> types::RotatePostgresPasswordResponse {
    types::RotatePostgresPasswordResponse {
        data: Some(credentials_view(name, user)),
    }
}

/// Empty strings (no wait event) are left out, as Postgres reports them as null.
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(crate) fn active_queries(rows: Vec<ActiveQuery>) -> types::ListPostgresActiveQueriesResponse {
    let data = rows
        .into_iter()
        .map(|r| types::PostgresActiveQuery {
            application_name: Some(r.application_name),
            client: Some(r.client),
            database: Some(r.database),
            duration_seconds: Some(r.duration_seconds),
            pid: Some(r.pid),
            query: Some(r.query.to_string()),
            state: Some(r.state.to_string()),
            state_duration_seconds: Some(r.state_duration_seconds),
            user: Some(r.user),
            wait_event: non_empty(r.wait_event),
            wait_event_type: non_empty(r.wait_event_type),
        })
        .collect();
    types::ListPostgresActiveQueriesResponse { data: Some(data) }
}

pub(crate) fn slow_queries(rows: Vec<SlowQuery>) -> types::ListPostgresSlowQueriesResponse {
    let data = rows
        .into_iter()
        .map(|r| types::PostgresSlowQuery {
            calls: Some(r.calls),
            database: Some(r.database),
            max_exec_time_seconds: Some(r.max_exec_time_seconds),
            mean_exec_time_seconds: Some(r.mean_exec_time_seconds),
            query: Some(r.query.to_string()),
            query_id: Some(r.query_id),
            total_exec_time_seconds: Some(r.total_exec_time_seconds),
            user: Some(r.user),
        })
        .collect();
    types::ListPostgresSlowQueriesResponse { data: Some(data) }
}
