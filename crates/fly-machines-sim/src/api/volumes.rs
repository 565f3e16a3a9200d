//! Volumes, extension and snapshots.

use fly_machines_api::types;

use crate::api::platform::is_region;
use crate::errors::ApiError;
use crate::ids::{alnum_id, fnv64, hex_id};
use crate::reply::HandlerResult;
use crate::reply::ok_json;
use crate::request::{ApiRequest, Env};
use crate::state::{App, Volume, World};
use crate::time::rfc3339;

const GIB: i64 = 1024 * 1024 * 1024;
const BLOCK: i64 = 4096;

fn fill_sizes(v: &mut types::Volume, size_gb: i64) {
    let total = size_gb * GIB;
    let blocks = total / BLOCK;
    let used_blocks = blocks / 200;
    v.size_gb = Some(size_gb);
    v.bytes_total = Some(total);
    v.block_size = Some(BLOCK);
    v.blocks = Some(blocks);
    v.blocks_free = Some(blocks - used_blocks);
    v.blocks_avail = Some(blocks - used_blocks - blocks / 20);
    v.bytes_used = Some(used_blocks * BLOCK);
}

fn summary_view(v: &types::Volume) -> types::Volume {
    types::Volume {
        id: v.id.clone(),
        name: v.name.clone(),
        state: v.state.clone(),
        region: v.region.clone(),
        size_gb: v.size_gb,
        attached_machine_id: v.attached_machine_id.clone(),
        created_at: v.created_at.clone(),
        ..Default::default()
    }
}

fn volume<'a>(app: &'a mut App, id: &str) -> Result<&'a mut Volume, ApiError> {
    app.volumes
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found(format!("volume {id} not found")))
}

fn valid_volume_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 30
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let summary = req.query_bool("summary")?.unwrap_or(false);
    let name = req.path_param("app_name");
    let scope = format!("volumes:{name}");
    let now = env.now;
    let paging = env
        .world
        .cursors
        .read(req, &scope, crate::paging::MAX_LIMIT_ADVISORY, now)?;
    let app = env.world.app(name)?;
    let mut vols: Vec<&Volume> = app.volumes.values().collect();
    vols.sort_by(|a, b| (a.created_ms, &a.view.id).cmp(&(b.created_ms, &b.view.id)));
    let out: Vec<(String, types::Volume)> = vols
        .into_iter()
        .map(|v| {
            let key = format!(
                "{:020}-{}",
                v.created_ms,
                v.view.id.as_deref().unwrap_or_default()
            );
            let view = if summary {
                summary_view(&v.view)
            } else {
                v.view.clone()
            };
            (key, view)
        })
        .collect();
    let Some(query) = paging else {
        return ok_json(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    };
    let sizes = crate::paging::PageSizes::Advisory {
        short: env.world.short_pages,
    };
    let World { cursors, rng, .. } = &mut *env.world;
    let (page, next) = cursors.page(out, &query, &scope, sizes, rng);
    Ok(crate::paging::with_next_cursor(
        crate::reply::Reply::ok(page),
        next,
    ))
}

pub(crate) fn create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateVolumeRequest,
) -> HandlerResult {
    let name = body
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    if !valid_volume_name(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid volume name {name:?}: use at most 30 lowercase letters, digits and underscores"
        )));
    }
    let region = body
        .region
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| env.settings.default_region.clone());
    if !is_region(&region) {
        return Err(ApiError::bad_request(format!("unknown region {region:?}")));
    }
    let now = env.now;
    let app_name = req.path_param("app_name").to_string();
    let id = format!("vol_{}", alnum_id(16, &mut env.world.rng));
    let zone = hex_id(4, &mut env.world.rng);
    let app = env.world.app(&app_name)?;
    let mut min_size = 1;
    if let Some(src) = body.source_volume_id.as_deref().filter(|s| !s.is_empty()) {
        let src = app
            .volumes
            .get(src)
            .ok_or_else(|| ApiError::bad_request(format!("source volume {src} not found")))?;
        min_size = src.view.size_gb.unwrap_or(1);
    }
    if let Some(snap) = body.snapshot_id.as_deref().filter(|s| !s.is_empty()) {
        let found = app
            .volumes
            .values()
            .flat_map(|v| v.snapshots.iter())
            .find(|s| s.id.as_deref() == Some(snap))
            .ok_or_else(|| ApiError::bad_request(format!("snapshot {snap} not found")))?;
        min_size = found.volume_size.map_or(1, |b| (b / GIB).max(1));
    }
    let size_gb = body.size_gb.unwrap_or(min_size.max(1));
    if !(1..=500).contains(&size_gb) {
        return Err(ApiError::bad_request(format!(
            "size_gb must be between 1 and 500, got {size_gb}"
        )));
    }
    if size_gb < min_size {
        return Err(ApiError::bad_request(format!(
            "size_gb must be at least {min_size}, the size of the source"
        )));
    }
    let mut view = types::Volume {
        attached_alloc_id: None,
        attached_machine_id: None,
        auto_backup_enabled: Some(body.auto_backup_enabled.unwrap_or(true)),
        created_at: Some(rfc3339(now)),
        encrypted: Some(body.encrypted.unwrap_or(true)),
        fstype: Some(
            body.fstype
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "ext4".into()),
        ),
        host_status: Some("ok".to_string()),
        id: Some(id.clone()),
        name: Some(name),
        region: Some(region),
        snapshot_retention: Some(body.snapshot_retention.unwrap_or(5)),
        state: Some("created".to_string()),
        type_: Some("local".to_string()),
        zone: Some(zone),
        ..Default::default()
    };
    fill_sizes(&mut view, size_gb);
    app.volumes.insert(
        id,
        Volume {
            view: view.clone(),
            created_ms: now,
            updated_ms: now,
            snapshots: Vec::new(),
        },
    );
    ok_json(view)
}

pub(crate) fn get(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = env.world.app(req.path_param("app_name"))?;
    ok_json(volume(app, req.path_param("volume_id"))?.view.clone())
}

pub(crate) fn update(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::UpdateVolumeRequest,
) -> HandlerResult {
    if let Some(r) = body.snapshot_retention
        && !(1..=60).contains(&r)
    {
        return Err(ApiError::bad_request(format!(
            "snapshot_retention must be between 1 and 60 days, got {r}"
        )));
    }
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let vol = volume(app, req.path_param("volume_id"))?;
    if let Some(b) = body.auto_backup_enabled {
        vol.view.auto_backup_enabled = Some(b);
    }
    if let Some(r) = body.snapshot_retention {
        vol.view.snapshot_retention = Some(r);
    }
    vol.updated_ms = now;
    ok_json(vol.view.clone())
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let id = req.path_param("volume_id");
    let app = env.world.app(req.path_param("app_name"))?;
    let vol = volume(app, id)?;
    if let Some(m) = vol
        .view
        .attached_machine_id
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        return Err(ApiError::precondition(format!(
            "volume {id} is attached to machine {m}; destroy the machine or remove the mount first"
        )));
    }
    let mut view = vol.view.clone();
    view.state = Some("pending_destroy".to_string());
    app.volumes.remove(id);
    ok_json(view)
}

pub(crate) fn extend(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::ExtendVolumeRequest,
) -> HandlerResult {
    let size = body
        .size_gb
        .ok_or_else(|| ApiError::bad_request("size_gb is required"))?;
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let id = req.path_param("volume_id");
    let attached = {
        let vol = volume(app, id)?;
        let current = vol.view.size_gb.unwrap_or(1);
        if size <= current || size > 500 {
            return Err(ApiError::bad_request(format!(
                "size_gb must be larger than the current {current} GB and at most 500, got {size}"
            )));
        }
        fill_sizes(&mut vol.view, size);
        vol.updated_ms = now;
        vol.view.attached_machine_id.clone()
    };
    let needs_restart = attached
        .and_then(|m| app.machines.get(&m))
        .is_some_and(|m| m.state == crate::state::MachineState::Started);
    let view = volume(app, id)?.view.clone();
    ok_json(types::ExtendVolumeResponse {
        needs_restart: Some(needs_restart),
        volume: Some(view),
    })
}

pub(crate) fn snapshots(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = env.world.app(req.path_param("app_name"))?;
    ok_json(volume(app, req.path_param("volume_id"))?.snapshots.clone())
}

pub(crate) fn create_snapshot(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let snap_id = format!("vs_{}", alnum_id(16, &mut env.world.rng));
    let app = env.world.app(req.path_param("app_name"))?;
    let vol = volume(app, req.path_param("volume_id"))?;
    let digest = fnv64(format!("{snap_id}:{now}").as_bytes());
    let snap = types::VolumeSnapshot {
        created_at: Some(rfc3339(now)),
        digest: Some(format!("{digest:016x}")),
        id: Some(snap_id),
        retention_days: vol.view.snapshot_retention,
        size: vol.view.bytes_used,
        status: Some("created".to_string()),
        volume_size: vol.view.bytes_total,
    };
    let backup = types::VolumeBackup {
        created_at: snap.created_at.clone(),
        graph_id: snap.id.clone(),
        id: Some((digest % 100_000).to_string()),
        state: Some("prepare".to_string()),
        type_: Some("BACKUP_TYPE_ON_DEMAND".to_string()),
        updated_at: snap.created_at.clone(),
        volume_id: vol.view.id.clone(),
        ..Default::default()
    };
    vol.snapshots.push(snap);
    ok_json(types::CreateVolumeSnapshotResponse {
        msg: Some(types::CreateVolumeSnapshotMessage {
            backup: Some(backup),
        }),
    })
}
