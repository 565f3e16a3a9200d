//! Backups and query statistics of a cluster.

use axum::http::StatusCode;

use super::body::Fields;
use super::{Needs, activity, cluster, require_running, unprocessable, views};
use crate::errors::ApiError;
use crate::reply::{HandlerResult, Reply, ok_json};
use crate::request::{ApiRequest, Env};
use crate::state::postgres::BackupKind;

/// Lookback of the slow-query statistics, in seconds: default and bounds.
const SLOW_RANGE_DEFAULT: i64 = 3600;
const SLOW_RANGE: std::ops::RangeInclusive<i64> = 1..=604_800;

pub(crate) fn backups_list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let c = cluster(env, req, Needs::Known)?;
    ok_json(views::backups(&c.backups, now))
}

/// Starts a backup (202); it runs for one Postgres step of the emulator's clock, and a second
/// one is refused (409) until it has finished.
pub(crate) fn backups_create(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let kind = body
        .string("type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unprocessable(format!("type is required: one of {}", BackupKind::ALL)))?;
    let kind = BackupKind::parse(&kind)
        .ok_or_else(|| unprocessable(format!("type {kind:?} is not one of {}", BackupKind::ALL)))?;
    let (now, step) = (env.now, env.settings.postgres_step_ms);
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    if let Some(running) = c.running_backup(now) {
        return Err(ApiError::conflict(
            "backup_running",
            format!("A backup is currently running: {}", running.id),
        ));
    }
    c.start_backup(kind, now, step);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

pub(crate) fn queries_active(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let database = req
        .query_param("database")
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| unprocessable("database must be a non-empty string"))?
        .to_string();
    let c = cluster(env, req, Needs::Running)?;
    ok_json(views::active_queries(activity::active(c, &database)))
}

pub(crate) fn queries_slow(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let range = match req.query_param("range") {
        None | Some("") => SLOW_RANGE_DEFAULT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|r| SLOW_RANGE.contains(r))
            .ok_or_else(|| {
                unprocessable(format!(
                    "range must be an integer between 1 and 604800 seconds, got {v:?}"
                ))
            })?,
    };
    let now = env.now;
    let c = cluster(env, req, Needs::Running)?;
    ok_json(views::slow_queries(activity::slow(c, range, now)))
}
