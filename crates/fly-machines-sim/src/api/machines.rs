//! Machines: create, read, the lifecycle calls, events, versions, metadata, exec, ps, memory.

use std::collections::{BTreeMap, VecDeque};

use axum::http::StatusCode;
use fly_machines_api::types;
use rand::rngs::StdRng;
use serde::Deserialize;

use crate::api::Shared;
use crate::api::platform::is_region;
use crate::emulator::lock;
use crate::errors::ApiError;
use crate::ids::{hex_id, ulid};
use crate::reply::ok_json;
use crate::reply::{HandlerResult, Reply, ReplyBody};
use crate::request::{ApiRequest, Env};
use crate::state::{App, ImageTraits, Lease, Machine, MachineState, World};
use crate::time::rfc3339;
use crate::validation;
use crate::validation::refused;
use fly_machines_rules as rules;

/// Answer of the calls Fly acknowledges with `{"ok": true}`.
pub(crate) fn ok_true() -> HandlerResult {
    ok_json(serde_json::json!({ "ok": true }))
}

fn not_running(m: &Machine) -> ApiError {
    ApiError::precondition(format!(
        "machine {} is not running (current state {})",
        m.id,
        m.state.as_str()
    ))
}

/// Splits the world into the app and the settled, visible machine.
macro_rules! machine {
    ($env:expr, $req:expr) => {{
        let now = $env.now;
        let (app, rng) = $env.world.machine(
            $req.path_param("app_name"),
            $req.path_param("machine_id"),
            now,
        )?;
        let id = $req.path_param("machine_id");
        let m = app
            .machines
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
        (m, rng, now)
    }};
}
pub(crate) use machine;

/// What a machine listing asks for, read from its query.
struct ListFilter {
    include_deleted: bool,
    summary: bool,
    include_leases: bool,
    region: Option<String>,
    states: Vec<MachineState>,
    metadata: Vec<(String, String)>,
}

impl ListFilter {
    fn read(req: &ApiRequest) -> Result<ListFilter, ApiError> {
        let mut states = Vec::new();
        for s in req.query_list("state") {
            states
                .push(crate::state::produced_state(&s).ok_or_else(|| {
                    ApiError::bad_request(format!("unknown machine state {s:?}"))
                })?);
        }
        Ok(ListFilter {
            include_deleted: req.query_bool("include_deleted")?.unwrap_or(false),
            summary: req.query_bool("summary")?.unwrap_or(false),
            include_leases: req.query_bool("include_leases")?.unwrap_or(false),
            region: req
                .query_param("region")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            states,
            metadata: req
                .query
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("metadata.")
                        .map(|k| (k.to_string(), v.clone()))
                })
                .collect(),
        })
    }

    /// Whether the (settled) machine belongs in the listing.
    fn matches(&self, m: &Machine, now: u64) -> bool {
        if now < m.visible_from_ms || (m.state == MachineState::Destroyed && !self.include_deleted)
        {
            return false;
        }
        if self.region.as_ref().is_some_and(|r| *r != m.region)
            || (!self.states.is_empty() && !self.states.contains(&m.state))
        {
            return false;
        }
        let md = m.config.metadata.as_ref();
        self.metadata
            .iter()
            .all(|(k, v)| md.and_then(|md| md.get(k)) == Some(v))
    }

    /// The sort keys and ids of the app's matching machines, oldest first. Settles each
    /// machine but copies nothing of it beyond its id.
    fn matching(&self, app: &mut App, now: u64, rng: &mut StdRng) -> Vec<(String, String)> {
        let mut ms: Vec<&mut Machine> = app.machines.values_mut().collect();
        ms.sort_by_key(|m| m.seq);
        let mut out = Vec::new();
        for m in ms {
            m.settle(now, rng);
            if self.matches(m, now) {
                out.push((format!("{:020}", m.seq), m.id.clone()));
            }
        }
        out
    }

    /// The wire views of the machines `ids` that still match (a machine may have changed or
    /// gone since its id was picked).
    fn views(
        &self,
        app: &mut App,
        ids: &[String],
        now: u64,
        rng: &mut StdRng,
    ) -> Vec<types::Machine> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(m) = app.machines.get_mut(id) else {
                continue;
            };
            m.settle(now, rng);
            if !self.matches(m, now) {
                continue;
            }
            out.push(if self.include_leases {
                m.view_with_lease(self.summary, None, now)
            } else {
                m.view(self.summary, None)
            });
        }
        out
    }
}

/// What a listing does once the lock is released: a page is ready to encode; an unpaged
/// listing still has every matching id to read, slice by slice.
enum Listed {
    Page(Reply),
    All(Vec<String>),
}

/// Lists an app's machines without holding the world for the whole listing. Under the lock it
/// picks the matching ids (settling each machine, copying nothing else) and, for a page, takes
/// copies of that page's machines only; every answer is encoded after the lock is released.
/// An unpaged listing (no `limit`, which Fly answers in full) is read in slices of
/// [`LIST_SLICE`](crate::paging::LIST_SLICE) machines, taking the lock once per slice, so other
/// requests go on while a listing of 100,000 machines is written.
pub(crate) fn list(emu: &Shared<'_>, req: &ApiRequest) -> HandlerResult {
    let filter = ListFilter::read(req)?;
    let name = req.path_param("app_name");
    let scope = format!("machines:{name}");
    let listed = {
        let now = emu.clock.now_ms();
        let mut world = lock(emu.world);
        world.reap(now);
        let World {
            apps,
            rng,
            cursors,
            short_pages,
            ..
        } = &mut *world;
        let paging = cursors.read(req, &scope, crate::paging::MAX_LIMIT_ADVISORY, now)?;
        let app = apps
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(format!("app {name} not found")))?;
        let matching = filter.matching(app, now, rng);
        match paging {
            Some(query) => {
                let sizes = crate::paging::PageSizes::Advisory {
                    short: *short_pages,
                };
                let (ids, next) = cursors.page(matching, &query, &scope, sizes, rng);
                let page = filter.views(app, &ids, now, rng);
                Listed::Page(crate::paging::with_next_cursor(
                    crate::shapes::ok_machines_deferred(page),
                    next,
                ))
            }
            None => Listed::All(matching.into_iter().map(|(_, id)| id).collect()),
        }
    };
    let ids = match listed {
        Listed::Page(reply) => return Ok(reply),
        Listed::All(ids) => ids,
    };
    let mut body = vec![b'['];
    for (number, slice) in ids.chunks(crate::paging::LIST_SLICE).enumerate() {
        let views = {
            let now = emu.clock.now_ms();
            let mut world = lock(emu.world);
            let World { apps, rng, .. } = &mut *world;
            match apps.get_mut(name) {
                Some(app) => filter.views(app, slice, now, rng),
                // Deleted while it was being listed: what was written stands.
                None => Vec::new(),
            }
        };
        for view in &views {
            if body.len() > 1 {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, &crate::shapes::machine(view)).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unknown",
                    format!("could not encode the listing: {e}"),
                )
            })?;
        }
        emu.list_slice_hook.call(number + 1);
    }
    body.push(b']');
    Ok(Reply {
        status: StatusCode::OK,
        body: ReplyBody::Json(body),
        headers: Vec::new(),
    })
}

/// Checks the mounts of a config against the app's volumes; returns the volume ids to attach
/// and the region they impose (if any).
fn check_mounts(
    app: &App,
    machine_id: Option<&str>,
    config: &types::MachineConfig,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let mut ids = Vec::new();
    let mut region = None;
    for mount in config.mounts.iter().flatten() {
        let Some(vol_id) = mount.volume.as_deref().filter(|v| !v.is_empty()) else {
            return Err(ApiError::bad_request(
                "every entry of config.mounts needs a volume id",
            ));
        };
        if mount.path.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(format!(
                "the mount of volume {vol_id} needs a path"
            )));
        }
        let vol = app
            .volumes
            .get(vol_id)
            .ok_or_else(|| ApiError::bad_request(format!("volume {vol_id} not found")))?;
        if let Some(other) = vol
            .view
            .attached_machine_id
            .as_deref()
            .filter(|o| !o.is_empty())
            && Some(other) != machine_id
        {
            return Err(ApiError::precondition(format!(
                "volume {vol_id} is already attached to machine {other}"
            )));
        }
        if ids.iter().any(|i| i == vol_id) {
            return Err(ApiError::bad_request(format!(
                "volume {vol_id} is mounted twice"
            )));
        }
        ids.push(vol_id.to_string());
        region = vol.view.region.clone();
    }
    Ok((ids, region))
}

fn check_secrets_version(app: &App, min: Option<i64>) -> Result<(), ApiError> {
    match min {
        Some(min) if min > app.secrets_version => Err(ApiError::precondition(format!(
            "app secrets are at version {}, below min_secrets_version {min}",
            app.secrets_version
        ))),
        _ => Ok(()),
    }
}

/// A lease granted with a create or update; `ttl_secs` is already validated.
fn new_lease(
    owner: &str,
    ttl_secs: u64,
    now: u64,
    version: &str,
    rng: &mut rand::rngs::StdRng,
) -> Lease {
    Lease {
        nonce: hex_id(12, rng),
        owner: owner.to_string(),
        description: String::new(),
        expires_ms: now.saturating_add(ttl_secs.saturating_mul(1000)),
        version: version.to_string(),
    }
}

/// The checks on a create or update body that need no state.
struct CheckedBody {
    config: types::MachineConfig,
    name: Option<String>,
    lease_ttl: Option<u64>,
}

fn check_body(
    config: Option<types::MachineConfig>,
    name: Option<String>,
    lease_ttl: Option<i64>,
) -> Result<CheckedBody, ApiError> {
    let config = validation::machine_config(config)?;
    let name = name.filter(|n| !n.is_empty());
    if let Some(n) = name.as_deref() {
        validation::machine_name(n)?;
    }
    let lease_ttl = lease_ttl.map(validation::lease_ttl).transpose()?;
    Ok(CheckedBody {
        config,
        name,
        lease_ttl,
    })
}

pub(crate) fn create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateMachineRequest,
) -> HandlerResult {
    let checked = check_body(body.config, body.name, body.lease_ttl)?;
    let config = checked.config;
    let traits = ImageTraits::of_config(&config);
    let now = env.now;
    let app_name = req.path_param("app_name");
    // Every check first: nothing below the checks can fail.
    let app = env.world.app(app_name)?;
    check_secrets_version(app, body.min_secrets_version)?;
    let (volumes, volume_region) = check_mounts(app, None, &config)?;
    let region = match (body.region.filter(|r| !r.is_empty()), volume_region) {
        (Some(r), Some(v)) if r != v => {
            return Err(ApiError::precondition(format!(
                "the mounted volume is in region {v}, not {r}"
            )));
        }
        (Some(r), _) => r,
        (None, Some(v)) => v,
        (None, None) => env.settings.default_region.clone(),
    };
    if !is_region(&region) {
        return Err(ApiError::bad_request(format!("unknown region {region:?}")));
    }
    if let Some(n) = checked.name.as_deref()
        && app.machine_names.contains_key(n)
    {
        return Err(ApiError::unprocessable(
            "name_taken",
            format!("a machine named {n} already exists in app {app_name}"),
        ));
    }
    let id = env.world.new_machine_id();
    let seq = env.world.seq();
    let step = env.settings.transition_ms;
    let hide_ms = env.world.not_found_after_create_ms;
    let check_delay_ms = env.world.check_delay_ms;
    let World { apps, rng, .. } = &mut *env.world;
    let app = apps
        .get_mut(app_name)
        .ok_or_else(|| ApiError::not_found(format!("app {app_name} not found")))?;
    let name = checked
        .name
        .unwrap_or_else(|| format!("{}-{}", app_name, hex_id(6, rng)));
    let instance_id = ulid(now, rng);
    let lease = checked
        .lease_ttl
        .map(|ttl| new_lease(&env.settings.owner, ttl, now, &instance_id, rng));
    let private_ip = format!(
        "fdaa:0:{:x}:a7b:{}:{}:{}:2",
        app.numeric_id % 0xffff,
        hex_id(4, rng),
        hex_id(4, rng),
        hex_id(4, rng)
    );
    let mut m = Machine {
        id: id.clone(),
        name: name.clone(),
        region,
        seq,
        created_ms: now,
        updated_ms: now,
        visible_from_ms: now.saturating_add(hide_ms),
        state: MachineState::Created,
        pending: VecDeque::new(),
        instance_id: instance_id.clone(),
        unpullable: traits.unpullable,
        behaviour: traits.behaviour,
        check_delay_ms,
        step_ms: step,
        started_ms: None,
        seen_ms: now,
        crashes: 0,
        revert_to: None,
        serving_changes: VecDeque::new(),
        versions: VecDeque::from([types::MachineVersion {
            user_config: Some(config.clone()),
            version: Some(instance_id.clone()),
        }]),
        config,
        events: VecDeque::new(),
        lease,
        // Left out of the proxy until uncordoned, as Fly does for `skip_service_registration`.
        cordoned: body.skip_service_registration == Some(true),
        memory_limit_mb: None,
        destroyed_ms: None,
        private_ip,
        volumes: volumes.clone(),
    };
    if body.skip_launch == Some(true) {
        m.begin(now, step, &[(MachineState::Created, "launch")], rng);
    } else {
        let end = m.boot_end();
        m.begin(
            now,
            step,
            &[
                (MachineState::Created, "launch"),
                (MachineState::Starting, "start"),
                end,
            ],
            rng,
        );
    }
    for v in &volumes {
        if let Some(vol) = app.volumes.get_mut(v) {
            vol.view.attached_machine_id = Some(id.clone());
            vol.view.attached_alloc_id = Some(instance_id.clone());
        }
    }
    let nonce = m.lease.as_ref().map(|l| l.nonce.clone());
    let view = m.view(false, nonce);
    app.machine_names.insert(name, id.clone());
    app.machines.insert(id, m);
    crate::shapes::ok_machine(&view)
}

pub(crate) fn show(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let include_leases = req.query_bool("include_leases")?.unwrap_or(false);
    let version = req
        .query_param("version")
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let (m, _, now) = machine!(env, req);
    if let Some(v) = version.filter(|v| *v != m.instance_id) {
        // An earlier version: its config from the version history, the rest as it is now.
        let old = m
            .versions
            .iter()
            .find(|kept| kept.version.as_deref() == Some(v.as_str()))
            .ok_or_else(|| {
                ApiError::not_found(format!("version {v} of machine {} not found", m.id))
            })?;
        let config = old.user_config.clone();
        return crate::shapes::ok_machine(&types::Machine {
            config,
            instance_id: Some(v.clone()),
            version: Some(v),
            ..m.view(false, None)
        });
    }
    crate::shapes::ok_machine(&if include_leases {
        m.view_with_lease(false, None, now)
    } else {
        m.view(false, None)
    })
}

pub(crate) fn update(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::UpdateMachineRequest,
) -> HandlerResult {
    let checked = check_body(body.config, body.name, body.lease_ttl)?;
    let config = checked.config;
    let step = env.settings.transition_ms;
    let owner = env.settings.owner.clone();
    let versions_kept = env.settings.versions_kept;
    let now = env.now;
    let id = req.path_param("machine_id").to_string();
    let (app, rng) = env.world.machine(req.path_param("app_name"), &id, now)?;
    // Every check first: nothing below the checks can fail.
    let new_name = {
        let m = app
            .machines
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
        m.check_lease(now, req.nonce())?;
        if let Some(cv) = body.current_version.as_deref().filter(|v| !v.is_empty())
            && cv != m.instance_id
        {
            return Err(ApiError::conflict(
                "version_mismatch",
                format!(
                    "current_version {cv} does not match the machine's version {}",
                    m.instance_id
                ),
            ));
        }
        if m.gone() {
            return Err(ApiError::precondition(format!(
                "machine {id} is {} and cannot be updated",
                m.state.as_str()
            )));
        }
        checked.name.filter(|n| *n != m.name)
    };
    check_secrets_version(app, body.min_secrets_version)?;
    let (volumes, volume_region) = check_mounts(app, Some(&id), &config)?;
    if let Some(new_name) = new_name.as_deref()
        && app.machine_names.contains_key(new_name)
    {
        return Err(ApiError::unprocessable(
            "name_taken",
            format!("a machine named {new_name} already exists"),
        ));
    }
    let m = app
        .machines
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
    if let Some(vr) = volume_region
        && vr != m.region
    {
        return Err(ApiError::precondition(format!(
            "the mounted volume is in region {vr}, but the machine is in {}",
            m.region
        )));
    }
    if let Some(new_name) = new_name {
        app.machine_names.remove(&m.name);
        app.machine_names.insert(new_name.clone(), id.clone());
        m.name = new_name;
    }
    let destination = m
        .pending
        .back()
        .map_or_else(|| m.state.clone(), |p| p.state.clone());
    let reverts = ImageTraits::of_config(&config).reverted;
    let previous = reverts.then(|| Box::new(m.config.clone()));
    m.adopt_image(&config);
    m.instance_id = ulid(now, rng);
    m.push_version(
        types::MachineVersion {
            user_config: Some(config.clone()),
            version: Some(m.instance_id.clone()),
        },
        versions_kept,
    );
    m.config = config;
    let end = match destination {
        _ if body.skip_launch == Some(true) => {
            if destination == MachineState::Created {
                (MachineState::Created, "update")
            } else {
                (MachineState::Stopped, "update")
            }
        }
        MachineState::Started | MachineState::Failed => m.boot_end(),
        MachineState::Created => (MachineState::Created, "update"),
        _ => (MachineState::Stopped, "update"),
    };
    // A `:reverted` image is put back on the old config when the launch ends in `started`.
    let ends_started = end.0 == MachineState::Started;
    m.begin(now, step, &[(MachineState::Replacing, "update"), end], rng);
    m.revert_to = previous.filter(|_| ends_started);
    if let Some(ttl) = checked.lease_ttl {
        let lease = new_lease(&owner, ttl, now, &m.instance_id, rng);
        match m.lease.as_mut() {
            Some(held) => {
                held.expires_ms = lease.expires_ms;
                held.version = m.instance_id.clone();
            }
            None => m.lease = Some(lease),
        }
    }
    let old = std::mem::replace(&mut m.volumes, volumes.clone());
    let nonce = if checked.lease_ttl.is_some() {
        m.lease.as_ref().map(|l| l.nonce.clone())
    } else {
        None
    };
    let view = m.view(false, nonce);
    let instance = m.instance_id.clone();
    for v in old.iter().filter(|v| !volumes.contains(v)) {
        if let Some(vol) = app.volumes.get_mut(v) {
            vol.view.attached_machine_id = None;
            vol.view.attached_alloc_id = None;
        }
    }
    for v in &volumes {
        if let Some(vol) = app.volumes.get_mut(v) {
            vol.view.attached_machine_id = Some(id.clone());
            vol.view.attached_alloc_id = Some(instance.clone());
        }
    }
    crate::shapes::ok_machine(&view)
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let force = req
        .query_bool("force")?
        .or(req.query_bool("kill")?)
        .unwrap_or(false);
    let step = env.settings.transition_ms;
    let now = env.now;
    let id = req.path_param("machine_id").to_string();
    let (app, rng) = env.world.machine(req.path_param("app_name"), &id, now)?;
    let m = app
        .machines
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
    m.check_lease(now, req.nonce())?;
    if m.gone() {
        return ok_true();
    }
    let stoppable = !m.busy()
        && matches!(
            m.state,
            MachineState::Stopped
                | MachineState::Created
                | MachineState::Failed
                | MachineState::Suspended
        );
    if !stoppable && !force {
        return Err(ApiError::precondition(format!(
            "machine {id} is still active ({}); stop it first or pass force=true",
            m.state.as_str()
        )));
    }
    m.begin(
        now,
        step,
        &[
            (MachineState::Destroying, "destroy"),
            (MachineState::Destroyed, "destroy"),
        ],
        rng,
    );
    let destroyed_at = m.next_due().unwrap_or(now);
    m.lease = None;
    let volumes = std::mem::take(&mut m.volumes);
    let name = m.name.clone();
    if app.machine_names.get(&name) == Some(&id) {
        app.machine_names.remove(&name);
    }
    for v in volumes {
        if let Some(vol) = app.volumes.get_mut(&v) {
            vol.view.attached_machine_id = None;
            vol.view.attached_alloc_id = None;
        }
    }
    env.world
        .schedule_reap(req.path_param("app_name"), &id, destroyed_at);
    ok_true()
}

pub(crate) fn start(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let step = env.settings.transition_ms;
    let (m, rng, now) = machine!(env, req);
    m.check_lease(now, req.nonce())?;
    if m.busy()
        || !matches!(
            m.state,
            MachineState::Stopped | MachineState::Created | MachineState::Suspended
        )
    {
        return Err(ApiError::precondition(format!(
            "unable to start machine from current state {}",
            m.state.as_str()
        )));
    }
    let previous = m.state.as_str().to_string();
    let end = m.boot_end();
    m.begin(now, step, &[(MachineState::Starting, "start"), end], rng);
    ok_json(types::StartMachineResponse {
        migrated: Some(false),
        new_host: Some(String::new()),
        previous_state: Some(previous),
    })
}

/// Stop body: the generated type, with the signal left as a string so a bad value is reported
/// by name.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StopBody {
    signal: Option<String>,
    timeout: Option<serde_json::Value>,
}

/// A duration as the stop and restart calls take it: a number of seconds, or a Go duration by
/// the rules crate's reading (the same the client writes).
fn check_duration(value: &str) -> Result<(), ApiError> {
    if value.trim().parse::<f64>().is_ok() {
        return Ok(());
    }
    rules::parse_go_duration(value).map(drop).map_err(refused)
}

pub(crate) fn stop(env: &mut Env<'_>, req: &ApiRequest, body: StopBody) -> HandlerResult {
    if let Some(sig) = body.signal.as_deref() {
        rules::check_stop_signal(sig).map_err(refused)?;
    }
    match &body.timeout {
        None | Some(serde_json::Value::Null | serde_json::Value::Number(_)) => {}
        Some(serde_json::Value::String(s)) => check_duration(s)?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "timeout must be a duration string or a number, got {other}"
            )));
        }
    }
    let step = env.settings.transition_ms;
    let (m, rng, now) = machine!(env, req);
    m.check_lease(now, req.nonce())?;
    if m.busy() || m.gone() {
        return Err(ApiError::precondition(format!(
            "unable to stop machine from current state {}",
            m.state.as_str()
        )));
    }
    match m.state {
        MachineState::Started | MachineState::Suspended | MachineState::Failed => {
            m.begin(
                now,
                step,
                &[
                    (MachineState::Stopping, "stop"),
                    (MachineState::Stopped, "stop"),
                ],
                rng,
            );
        }
        _ => {}
    }
    ok_true()
}

pub(crate) fn suspend(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let step = env.settings.transition_ms;
    let (m, rng, now) = machine!(env, req);
    m.check_lease(now, req.nonce())?;
    if m.busy() || m.state != MachineState::Started {
        return Err(ApiError::precondition(format!(
            "unable to suspend machine from current state {}",
            m.state.as_str()
        )));
    }
    m.begin(
        now,
        step,
        &[
            (MachineState::Suspending, "suspend"),
            (MachineState::Suspended, "suspend"),
        ],
        rng,
    );
    ok_true()
}

pub(crate) fn restart(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    if let Some(sig) = req.query_param("signal").filter(|s| !s.is_empty()) {
        rules::check_stop_signal(sig).map_err(refused)?;
    }
    if let Some(t) = req.query_param("timeout").filter(|s| !s.is_empty()) {
        check_duration(t)?;
    }
    req.query_bool("force_stop")?;
    let step = env.settings.transition_ms;
    let (m, rng, now) = machine!(env, req);
    m.check_lease(now, req.nonce())?;
    if m.busy() || !matches!(m.state, MachineState::Started | MachineState::Failed) {
        return Err(ApiError::precondition(format!(
            "unable to restart machine from current state {}",
            m.state.as_str()
        )));
    }
    let end = if m.unpullable {
        (MachineState::Failed, "exit")
    } else {
        (MachineState::Started, "restart")
    };
    m.begin(
        now,
        step,
        &[(MachineState::Restarting, "restart"), end],
        rng,
    );
    ok_true()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignalBody {
    signal: Option<String>,
}

pub(crate) fn signal(env: &mut Env<'_>, req: &ApiRequest, body: SignalBody) -> HandlerResult {
    let sig = body
        .signal
        .ok_or_else(|| ApiError::bad_request("signal is required"))?;
    rules::check_signal(&sig).map_err(refused)?;
    let (m, _, _) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    ok_true()
}

pub(crate) fn cordon(env: &mut Env<'_>, req: &ApiRequest, on: bool) -> HandlerResult {
    let (m, _, now) = machine!(env, req);
    m.check_lease(now, req.nonce())?;
    if m.gone() {
        return Err(ApiError::precondition(format!(
            "machine {} is {}",
            m.id,
            m.state.as_str()
        )));
    }
    m.cordoned = on;
    m.updated_ms = m.updated_ms.max(now);
    m.note_serving(now);
    ok_true()
}

pub(crate) fn events(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let limit = req.query_int("limit")?.unwrap_or(20);
    if limit < 1 {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and 50, got {limit}"
        )));
    }
    let limit = limit.min(50) as usize;
    let (m, _, _) = machine!(env, req);
    let out: Vec<_> = m.events.iter().rev().take(limit).cloned().collect();
    ok_json(out)
}

pub(crate) fn versions(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let (m, _, _) = machine!(env, req);
    let out: Vec<_> = m.versions.iter().rev().cloned().collect();
    ok_json(out)
}

/// What the emulated `exec` prints for a command.
fn run_command(argv: &[String], stdin: &str) -> types::ExecResponse {
    let done = |code: i64, stdout: String| types::ExecResponse {
        exit_code: Some(code),
        exit_signal: Some(0),
        stderr: Some(String::new()),
        stdout: Some(stdout),
    };
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or_default();
    match program {
        "echo" => done(0, format!("{}\n", argv[1..].join(" "))),
        "cat" => done(0, stdin.to_string()),
        "true" => done(0, String::new()),
        "false" => done(1, String::new()),
        "sh" | "bash" if argv.get(1).map(String::as_str) == Some("-c") => {
            let script = argv.get(2).cloned().unwrap_or_default();
            let words: Vec<String> = script.split_whitespace().map(str::to_string).collect();
            match words.first().map(String::as_str) {
                Some("exit") => {
                    let code = words.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                    done(code, String::new())
                }
                Some(_) => run_command(&words, stdin),
                None => done(0, String::new()),
            }
        }
        _ => done(0, String::new()),
    }
}

pub(crate) fn exec(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::MachineExecRequest,
) -> HandlerResult {
    let argv: Vec<String> = match (body.command, body.cmd) {
        (Some(c), _) if !c.is_empty() => c,
        (_, Some(cmd)) if !cmd.trim().is_empty() => {
            cmd.split_whitespace().map(str::to_string).collect()
        }
        _ => return Err(ApiError::bad_request("command is required")),
    };
    // `machine` runs the command in the machine's own namespace; it cannot also name a
    // container. Either way the command runs by the same simulated rules.
    if body.machine == Some(true) && body.container.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(
            "machine and container are mutually exclusive: run in the machine's namespace or \
             in a container, not both",
        ));
    }
    if let Some(t) = body.timeout
        && t < 0
    {
        return Err(ApiError::bad_request(format!(
            "timeout must not be negative, got {t}"
        )));
    }
    let (m, _, _) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    ok_json(run_command(
        &argv,
        body.stdin.as_deref().unwrap_or_default(),
    ))
}

pub(crate) fn processes(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    // The sort keys are the document's `ProcessSortKey`, the type the client sends.
    let sort_by = req
        .query_param("sort_by")
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<types::ProcessSortKey>().map_err(|_| {
                ApiError::bad_request(format!(
                    "sort_by must be one of pid, cpu, rss, rtime, stime, command; got {s:?}"
                ))
            })
        })
        .transpose()?;
    let order = req.query_param("order").filter(|s| !s.is_empty());
    if let Some(o) = order
        && !["asc", "desc"].contains(&o)
    {
        return Err(ApiError::bad_request(format!(
            "order must be asc or desc, got {o:?}"
        )));
    }
    let (m, _, now) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    let uptime = now.saturating_sub(m.updated_ms) as i64;
    let command = m
        .config
        .init
        .as_ref()
        .and_then(|i| i.exec.clone().or(i.cmd.clone()))
        .filter(|c| !c.is_empty())
        .map(|c| c.join(" "))
        .unwrap_or_else(|| m.config.image.clone().unwrap_or_default());
    let sockets: Vec<types::ListenSocket> = m
        .config
        .services
        .iter()
        .flatten()
        .filter_map(|s| s.internal_port)
        .map(|p| types::ListenSocket {
            address: Some(format!("0.0.0.0:{p}")),
            proto: Some("tcp".to_string()),
        })
        .collect();
    let mut procs = vec![
        types::ProcessStat {
            command: Some("/.fly/init".to_string()),
            cpu: Some(uptime / 1000),
            directory: Some("/".to_string()),
            listen_sockets: Some(Vec::new()),
            pid: Some(1),
            rss: Some(4 * 1024 * 1024),
            rtime: Some(uptime),
            stime: Some(0),
        },
        types::ProcessStat {
            command: Some(command),
            cpu: Some(uptime / 100),
            directory: Some("/app".to_string()),
            listen_sockets: Some(sockets),
            pid: Some(713),
            rss: Some(48 * 1024 * 1024),
            rtime: Some(uptime),
            stime: Some(1),
        },
    ];
    match sort_by {
        Some(types::ProcessSortKey::Cpu) => procs.sort_by_key(|p| p.cpu),
        Some(types::ProcessSortKey::Rss) => procs.sort_by_key(|p| p.rss),
        Some(types::ProcessSortKey::Rtime) => procs.sort_by_key(|p| p.rtime),
        Some(types::ProcessSortKey::Stime) => procs.sort_by_key(|p| p.stime),
        Some(types::ProcessSortKey::Command) => procs.sort_by(|a, b| a.command.cmp(&b.command)),
        Some(types::ProcessSortKey::Pid) | None => procs.sort_by_key(|p| p.pid),
    }
    if order == Some("desc") {
        procs.reverse();
    }
    ok_json(procs)
}

fn memory_of(m: &Machine) -> (i64, i64) {
    let guest = m.config.guest.as_ref();
    let configured = guest.and_then(|g| g.memory_mb).unwrap_or(256);
    let limit = m.memory_limit_mb.unwrap_or(configured);
    let used = (64 + configured / 4).min(limit);
    (limit, limit - used)
}

pub(crate) fn memory(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let (m, _, _) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    let (limit, available) = memory_of(m);
    ok_json(types::MemoryResponse {
        available_mb: Some(available),
        limit_mb: Some(limit),
    })
}

pub(crate) fn set_memory_limit(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::SetMemoryLimitRequest,
) -> HandlerResult {
    let limit = body
        .limit_mb
        .ok_or_else(|| ApiError::bad_request("limit_mb is required"))?;
    let (m, _, now) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    let guest = m.config.guest.as_ref();
    let configured = guest.and_then(|g| g.memory_mb).unwrap_or(256);
    let max = guest
        .and_then(|g| g.max_memory_mb)
        .unwrap_or(configured)
        .max(configured);
    if limit < 128 || limit > max {
        return Err(ApiError::bad_request(format!(
            "limit_mb must be between 128 and {max}, got {limit}"
        )));
    }
    m.memory_limit_mb = Some(limit);
    m.updated_ms = m.updated_ms.max(now);
    let (limit, available) = memory_of(m);
    ok_json(types::MemoryResponse {
        available_mb: Some(available),
        limit_mb: Some(limit),
    })
}

pub(crate) fn reclaim_memory(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::ReclaimMemoryRequest,
) -> HandlerResult {
    let amount = body.amount_mb.unwrap_or(0);
    if amount < 0 {
        return Err(ApiError::bad_request(format!(
            "amount_mb must not be negative, got {amount}"
        )));
    }
    let (m, _, _) = machine!(env, req);
    if m.busy() || m.state != MachineState::Started {
        return Err(not_running(m));
    }
    let (_, available) = memory_of(m);
    ok_json(types::ReclaimMemoryResponse {
        actual_mb: Some(amount.min(available / 2)),
    })
}

pub(crate) fn metadata(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let (m, _, _) = machine!(env, req);
    ok_json(m.config.metadata.clone().unwrap_or_default())
}

/// Bulk metadata body: values may be null (removal), which the generated type cannot hold.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetadataBody {
    metadata: Option<BTreeMap<String, Option<String>>>,
    machine_version: Option<String>,
    updated_at: Option<String>,
}

fn check_metadata_guards(
    m: &Machine,
    machine_version: Option<&str>,
    updated_at: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(v) = machine_version.filter(|v| !v.is_empty())
        && v != m.instance_id
    {
        return Err(ApiError::precondition(format!(
            "machine_version {v} does not match the machine's version {}",
            m.instance_id
        )));
    }
    if let Some(u) = updated_at.filter(|u| !u.is_empty())
        && u != rfc3339(m.updated_ms)
    {
        return Err(ApiError::precondition(format!(
            "updated_at {u} does not match the machine's updated_at {}",
            rfc3339(m.updated_ms)
        )));
    }
    Ok(())
}

pub(crate) fn update_metadata(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: MetadataBody,
) -> HandlerResult {
    let (m, _, now) = machine!(env, req);
    check_metadata_guards(
        m,
        body.machine_version.as_deref(),
        body.updated_at.as_deref(),
    )?;
    let changes = body.metadata.unwrap_or_default();
    if changes.keys().any(String::is_empty) {
        return Err(ApiError::bad_request("metadata keys must not be empty"));
    }
    let md = m.config.metadata.get_or_insert_with(BTreeMap::new);
    for (k, v) in changes {
        match v.filter(|v| !v.is_empty()) {
            Some(v) => md.insert(k, v),
            None => md.remove(&k),
        };
    }
    m.updated_ms = m.updated_ms.max(now);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn metadata_key(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let key = req.path_param("key").to_string();
    let (m, _, _) = machine!(env, req);
    let value = m
        .config
        .metadata
        .as_ref()
        .and_then(|md| md.get(&key))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("metadata key {key} not found")))?;
    ok_json(types::MetadataValueResponse { value: Some(value) })
}

pub(crate) fn upsert_metadata(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::UpsertMetadataKeyRequest,
) -> HandlerResult {
    let key = req.path_param("key").to_string();
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("value is required"))?;
    let (m, _, now) = machine!(env, req);
    check_metadata_guards(m, None, body.updated_at.as_deref())?;
    m.config
        .metadata
        .get_or_insert_with(BTreeMap::new)
        .insert(key, value);
    m.updated_ms = m.updated_ms.max(now);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn delete_metadata(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let key = req.path_param("key").to_string();
    let (m, _, now) = machine!(env, req);
    if let Some(md) = m.config.metadata.as_mut() {
        md.remove(&key);
    }
    m.updated_ms = m.updated_ms.max(now);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
