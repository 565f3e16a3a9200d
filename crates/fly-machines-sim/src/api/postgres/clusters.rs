//! Clusters: list, create, show, delete, fork, restore, and attachments to apps.

use axum::http::StatusCode;

use super::body::Fields;
use super::{Needs, cluster, unprocessable, views};
use crate::api::platform::is_region;
use crate::errors::ApiError;
use crate::reply::{HandlerResult, Reply, ok_json};
use crate::request::{ApiRequest, Env};
use crate::state::World;
use crate::state::postgres::catalog::{self, DISK_GB, PG_MAJOR_VERSIONS, POOL_MODES};
use crate::state::postgres::{Cluster, ClusterData, ClusterSettings, ClusterStatus, Timeline};
use crate::time::{parse_rfc3339, rfc3339};

/// A cluster whose name ends with this fails to provision (`creating` → `initializing` →
/// `failed`), as an image named `unpullable` fails a machine's launch.
pub(crate) const FAILING_NAME_SUFFIX: &str = "unprovisionable";

/// Organizations the emulator knows: `personal`, and any that owns an app or a cluster.
fn org_known(world: &World, org: &str) -> bool {
    org == "personal"
        || world.apps.values().any(|a| a.org_slug == org)
        || world.postgres.has_org(org)
}

fn org_slug_required() -> ApiError {
    ApiError::bad_request("org_slug is required and must be a string")
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let org = req
        .query_param("org_slug")
        .filter(|o| !o.trim().is_empty())
        .ok_or_else(org_slug_required)?;
    let include_deleted = match req.query_param("include_deleted") {
        None | Some("") => false,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(unprocessable(format!(
                "include_deleted must be true or false, got {other:?}"
            )));
        }
    };
    if !org_known(env.world, org) {
        return Err(ApiError::not_found(format!("Organization {org} not found")));
    }
    let now = env.now;
    env.world.postgres.forget_deleted(now);
    let mut clusters: Vec<&Cluster> = env
        .world
        .postgres
        .by_id
        .values()
        .filter(|c| c.settings.org_slug == org)
        .filter(|c| include_deleted || c.status(now) != ClusterStatus::Deleted)
        .collect();
    clusters.sort_by(|a, b| (a.timeline.created_ms, &a.id).cmp(&(b.timeline.created_ms, &b.id)));
    ok_json(views::summaries(&clusters, now))
}

/// Reads one closed-set string field: its default when absent, 422 when not in `allowed`.
fn one_of(body: &Fields, name: &str, allowed: &[&str], default: &str) -> Result<String, ApiError> {
    match body.string(name)? {
        None => Ok(default.to_string()),
        Some(v) if allowed.contains(&v.as_str()) => Ok(v),
        Some(v) => Err(unprocessable(format!(
            "{name} {v:?} is not one of {}",
            allowed.join(", ")
        ))),
    }
}

/// The settings a create asks for, every field checked (422 on a bad one).
fn settings(body: &Fields, org_slug: String) -> Result<ClusterSettings, ApiError> {
    let plan_slug = body
        .string("plan")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            unprocessable(format!(
                "plan is required: one of {}",
                catalog::plan_slugs()
            ))
        })?;
    let plan = catalog::plan(&plan_slug).ok_or_else(|| {
        unprocessable(format!(
            "plan {plan_slug:?} is not one of {}",
            catalog::plan_slugs()
        ))
    })?;
    let region = body
        .string("region")?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| unprocessable("region is required"))?;
    if !is_region(&region) {
        return Err(unprocessable(format!(
            "region {region:?} is not a Fly region"
        )));
    }
    if !catalog::offers_postgres(&region) {
        return Err(unprocessable(format!(
            "Managed Postgres is not offered in region {region}; use one of {}",
            catalog::MPG_REGIONS.join(", ")
        )));
    }
    let disk_size_gb = body.integer("disk_size_gb")?.unwrap_or(*DISK_GB.start());
    if !DISK_GB.contains(&disk_size_gb) {
        return Err(unprocessable(format!(
            "disk_size_gb must be between {} and {}, got {disk_size_gb}",
            DISK_GB.start(),
            DISK_GB.end()
        )));
    }
    let default_version = PG_MAJOR_VERSIONS[PG_MAJOR_VERSIONS.len() - 1];
    // The pool mode is checked; nothing the emulator answers depends on it.
    one_of(body, "pool_mode", POOL_MODES, POOL_MODES[0])?;
    Ok(ClusterSettings {
        org_slug,
        region,
        plan,
        pg_major_version: one_of(body, "pg_major_version", PG_MAJOR_VERSIONS, default_version)?,
        postgis: body.boolean("postgis_enabled")?.unwrap_or(false),
        disk_size_gb,
    })
}

/// A name the caller chose: well formed and free in the organization (422 otherwise).
fn chosen_name(world: &World, org: &str, name: &str, now: u64) -> Result<String, ApiError> {
    if !catalog::valid_cluster_name(name) {
        return Err(unprocessable(format!(
            "name {name:?} is invalid: use 1 to 63 lowercase letters, digits and dashes, \
             starting and ending with a letter or digit"
        )));
    }
    if world.postgres.name_taken(org, name, now) {
        return Err(ApiError::unprocessable(
            "name_taken",
            format!("name {name:?} is already used by another cluster of {org}"),
        ));
    }
    Ok(name.to_string())
}

/// A name derived from `base` and `suffix`, cut to fit and made unique with a counter.
fn derived_name(world: &World, org: &str, base: &str, suffix: &str, now: u64) -> String {
    for n in 1u32.. {
        let tail = if n == 1 {
            format!("-{suffix}")
        } else {
            format!("-{suffix}-{n}")
        };
        let room = 63usize.saturating_sub(tail.len());
        let head = base
            .get(..room.min(base.len()))
            .unwrap_or(base)
            .trim_end_matches('-');
        let name = format!("{head}{tail}");
        if !world.postgres.name_taken(org, &name, now) {
            return name;
        }
    }
    base.to_string()
}

/// Adds a new cluster (its id drawn by `Clusters::new_id`) starting to provision now, and answers
/// it (201).
fn provision(
    env: &mut Env<'_>,
    id: String,
    name: String,
    settings: ClusterSettings,
    data: ClusterData,
) -> HandlerResult {
    let now = env.now;
    let fails = name.ends_with(FAILING_NAME_SUFFIX);
    let cluster = Cluster {
        id: id.clone(),
        name,
        settings,
        timeline: Timeline::provisioning(now, env.settings.postgres_step_ms, fails),
        data,
        backups: Vec::new(),
        attachments: Default::default(),
    };
    let view = views::cluster(&cluster, now);
    env.world.postgres.by_id.insert(id, cluster);
    Ok(Reply::json(StatusCode::CREATED, view))
}

pub(crate) fn create(env: &mut Env<'_>, _req: &ApiRequest, body: Fields) -> HandlerResult {
    let org = match body.string("org_slug") {
        Ok(Some(org)) if !org.trim().is_empty() => org,
        _ => return Err(org_slug_required()),
    };
    if !org_known(env.world, &org) {
        return Err(ApiError::not_found(format!("Organization {org} not found")));
    }
    let settings = settings(&body, org)?;
    let now = env.now;
    let asked = body.string("name")?.filter(|n| !n.trim().is_empty());
    let name = match asked {
        Some(name) => Some(chosen_name(env.world, &settings.org_slug, &name, now)?),
        None => None,
    };
    let id = env.world.postgres.new_id(&mut env.world.rng);
    // A generated name comes from the id, so it is as unique as the id.
    let name = name.unwrap_or_else(|| format!("pg-{}", id.get(..8).unwrap_or(&id)));
    let data = ClusterData::provisioned(&mut env.world.rng);
    provision(env, id, name, settings, data)
}

pub(crate) fn show(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let c = cluster(env, req, Needs::Known)?;
    ok_json(views::cluster(c, now))
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let (now, step) = (env.now, env.settings.postgres_step_ms);
    let c = cluster(env, req, Needs::Alive)?;
    c.timeline.delete(now, step);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// The name a fork or restore gets: the one asked for (checked), else one derived from the
/// source's.
fn copy_name(
    env: &Env<'_>,
    source: &Cluster,
    asked: Option<String>,
    suffix: &str,
) -> Result<String, ApiError> {
    let org = &source.settings.org_slug;
    match asked.filter(|n| !n.trim().is_empty()) {
        Some(name) => chosen_name(env.world, org, &name, env.now),
        None => Ok(derived_name(env.world, org, &source.name, suffix, env.now)),
    }
}

pub(crate) fn fork(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let asked = body.string("name")?;
    let now = env.now;
    let source = cluster(env, req, Needs::Alive)?;
    if source.status(now) != ClusterStatus::Ready {
        return Err(ApiError::conflict(
            "not_ready",
            format!(
                "The source cluster is not ready to be forked yet: it is {}",
                source.status(now).as_str()
            ),
        ));
    }
    let source = source.clone();
    let name = copy_name(env, &source, asked, "fork")?;
    let id = env.world.postgres.new_id(&mut env.world.rng);
    provision(env, id, name, source.settings, source.data)
}

pub(crate) fn restore(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let backup_id = body.string("backup_id")?.filter(|b| !b.trim().is_empty());
    let pitr_time = body.string("pitr_time")?.filter(|t| !t.trim().is_empty());
    let asked = body.string("name")?;
    let now = env.now;
    let source = cluster(env, req, Needs::Alive)?.clone();
    // A backup restores what it saved; a point in time restores what the cluster holds now
    // (the emulator keeps no history between backups).
    let data = match (&backup_id, &pitr_time) {
        (Some(_), Some(_)) => {
            return Err(unprocessable(
                "backup_id and pitr_time are mutually exclusive: give one",
            ));
        }
        (None, None) => {
            return Err(unprocessable(
                "a restore target is required: backup_id or pitr_time",
            ));
        }
        (Some(id), None) => {
            let backup = source.backups.iter().find(|b| &b.id == id).ok_or_else(|| {
                ApiError::not_found(format!("Backup {id} not found for cluster {}", source.id))
            })?;
            if backup.running(now) {
                return Err(unprocessable(format!("backup {id} has not finished yet")));
            }
            backup.data.clone()
        }
        (None, Some(time)) => {
            check_recovery_point(&source, time, now)?;
            source.data.clone()
        }
    };
    let name = copy_name(env, &source, asked, "restore")?;
    let id = env.world.postgres.new_id(&mut env.world.rng);
    provision(env, id, name, source.settings, data)
}

/// A point in time must carry its offset and fall between the moment the cluster became
/// ready and now (its recovery window).
fn check_recovery_point(source: &Cluster, time: &str, now: u64) -> Result<(), ApiError> {
    let at = parse_rfc3339(time).ok_or_else(|| {
        unprocessable(format!(
            "pitr_time {time:?} is not an RFC 3339 timestamp with an offset (e.g. Z or +02:00)"
        ))
    })?;
    let ready = source
        .timeline
        .ready_ms()
        .filter(|&r| r <= now)
        .ok_or_else(|| {
            unprocessable("point-in-time restore is unavailable: the cluster has never been ready")
        })?;
    if at < ready || at > now {
        return Err(unprocessable(format!(
            "pitr_time {time} is outside the recovery window {} to {}",
            rfc3339(ready),
            rfc3339(now)
        )));
    }
    Ok(())
}

pub(crate) fn attach(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let app = body
        .string("app_name")?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| unprocessable("app_name is required"))?;
    let now = env.now;
    let app_exists = env.world.apps.contains_key(&app);
    let c = cluster(env, req, Needs::Alive)?;
    if !app_exists {
        return Err(ApiError::not_found("App not found"));
    }
    let (status, attached_ms) = match c.attachments.get(&app) {
        Some(&since) => (StatusCode::OK, since),
        None => {
            c.attachments.insert(app.clone(), now);
            (StatusCode::CREATED, now)
        }
    };
    Ok(Reply::json(
        status,
        views::attachment(&c.id, &app, attached_ms),
    ))
}

pub(crate) fn detach(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = req.path_param("app_name").to_string();
    let app_exists = env.world.apps.contains_key(&app);
    let c = cluster(env, req, Needs::Alive)?;
    if !app_exists {
        return Err(ApiError::not_found("App not found"));
    }
    if c.attachments.remove(&app).is_none() {
        return Err(ApiError::not_found("Attachment not found"));
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
