//! Managed Postgres (`/v1/postgres…`): clusters, their users, databases, extensions, backups,
//! attachments to apps and query statistics. Every error here is `{"error": message}`
//! (`PostgresErrorResponse`).
//!
//! What an operation may do depends on the cluster's status: reading a cluster (show, its
//! backups) works until it is deleted (then 404). Once deletion has started, the operations
//! Fly documents a 410 for (delete, attachments, fork, password rotation) answer 410; the
//! others answer 503 without `Retry-After` while the cluster is being deleted and 404 once it
//! is gone. Operations that need the running database (users, databases, extensions,
//! credentials, backups, queries) answer 503 with `Retry-After` while it is provisioning, and
//! 503 without it when provisioning failed.

pub(crate) mod activity;
pub(crate) mod admin;
pub(crate) mod body;
pub(crate) mod clusters;
pub(crate) mod extensions;
pub(crate) mod ops;
pub(crate) mod views;

use axum::http::{HeaderValue, StatusCode, header};

use fly_machines_api::OperationId;

use crate::errors::ApiError;
use crate::reply::HandlerResult;
use crate::request::{ApiRequest, Env};
use crate::state::postgres::{Cluster, ClusterStatus};

/// What an operation needs of the cluster it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// The cluster in any status but deleted (show, backup listing).
    Known,
    /// A cluster whose deletion has not started.
    Alive,
    /// A cluster whose database is up (`ready`).
    Running,
}

/// Runs a handler and sends its error, if any, in the Postgres shape.
pub(crate) fn shaped(result: HandlerResult) -> HandlerResult {
    result.map_err(ApiError::in_postgres_shape)
}

pub(crate) fn gone(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::GONE, "gone", message)
}

pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_argument", message)
}

/// The cluster named by the path, if its status allows an operation that `needs` this. An
/// operation that validates its input first asks for [`Needs::Alive`] and calls
/// [`require_running`] after.
pub(crate) fn cluster<'w>(
    env: &'w mut Env<'_>,
    req: &ApiRequest,
    needs: Needs,
) -> Result<&'w mut Cluster, ApiError> {
    let now = env.now;
    env.world.postgres.forget_deleted(now);
    let id = req.path_param("postgres_cluster_id");
    let c = env
        .world
        .postgres
        .by_id
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("Cluster not found"))?;
    let answers_gone = documents_gone(req.op.op);
    match (c.status(now), needs) {
        (ClusterStatus::Deleted, Needs::Alive | Needs::Running) if answers_gone => {
            Err(gone("This cluster has been deleted"))
        }
        (ClusterStatus::Deleted, _) => Err(ApiError::not_found("Cluster not found")),
        (ClusterStatus::Deleting, Needs::Alive | Needs::Running) if answers_gone => {
            Err(gone("This cluster is being deleted"))
        }
        (ClusterStatus::Deleting, Needs::Alive | Needs::Running) => Err(unavailable(format!(
            "pg-admin is unavailable: cluster {} is being deleted",
            c.id
        ))),
        (_, Needs::Running) => require_running(c, now).map(|()| c),
        _ => Ok(c),
    }
}

/// The operations Fly documents a 410 for, on a cluster being deleted or deleted.
fn documents_gone(op: OperationId) -> bool {
    matches!(
        op,
        OperationId::PostgresDelete
            | OperationId::PostgresAttachmentsCreate
            | OperationId::PostgresAttachmentsDelete
            | OperationId::PostgresFork
            | OperationId::PostgresUsersRotatePassword
    )
}

/// 503 unless the cluster's database is up: with `Retry-After` (whole seconds until it is
/// ready) while provisioning, without it when provisioning failed.
pub(crate) fn require_running(c: &Cluster, now: u64) -> Result<(), ApiError> {
    let status = c.status(now);
    match status {
        ClusterStatus::Ready => Ok(()),
        ClusterStatus::Creating | ClusterStatus::Initializing => {
            let secs = c
                .timeline
                .settled_ms
                .saturating_sub(now)
                .div_ceil(1000)
                .max(1);
            Err(unavailable(format!(
                "pg-admin is unavailable: cluster {} is {}; retry after {secs} s",
                c.id,
                status.as_str()
            ))
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs)))
        }
        ClusterStatus::Failed => Err(unavailable(format!(
            "pg-admin is unavailable: cluster {} failed to provision",
            c.id
        ))),
        ClusterStatus::Deleting | ClusterStatus::Deleted => Err(unavailable(format!(
            "pg-admin is unavailable: cluster {} is being deleted",
            c.id
        ))),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}
