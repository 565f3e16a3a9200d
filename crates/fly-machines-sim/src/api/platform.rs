//! Organization listings, regions, placements and tokens. Placements and tokens depend on
//! infrastructure the emulator does not have; they answer deterministic, plausible data.

use axum::http::{StatusCode, header};
use fly_machines_api::types;

use crate::auth::token_matches;
use crate::encoding::{b64, b64url};
use crate::errors::ApiError;
use crate::ids::{fnv64, stream_bytes};
use crate::reply::ok_json;
use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};
use crate::state::{MachineState, org_display_name, org_numeric_id};
use crate::time::{parse_rfc3339, rfc3339};

/// (code, name, latitude, longitude, geo region, gateway, paid plan only, deprecated)
type RegionEntry = (
    &'static str,
    &'static str,
    f64,
    f64,
    &'static str,
    bool,
    bool,
    bool,
);

const REGIONS: &[RegionEntry] = &[
    (
        "ams",
        "Amsterdam, Netherlands",
        52.374,
        4.8897,
        "europe",
        true,
        false,
        false,
    ),
    (
        "arn",
        "Stockholm, Sweden",
        59.6512,
        17.9178,
        "europe",
        false,
        false,
        false,
    ),
    (
        "atl",
        "Atlanta, Georgia (US)",
        33.6407,
        -84.4277,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "bog",
        "Bogotá, Colombia",
        4.7016,
        -74.1469,
        "south-america",
        false,
        false,
        true,
    ),
    (
        "bom",
        "Mumbai, India",
        19.0974,
        72.8745,
        "asia-pacific",
        true,
        true,
        false,
    ),
    (
        "bos",
        "Boston, Massachusetts (US)",
        42.3643,
        -71.0052,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "cdg",
        "Paris, France",
        48.8607,
        2.3281,
        "europe",
        true,
        false,
        false,
    ),
    (
        "den",
        "Denver, Colorado (US)",
        39.7392,
        -104.9847,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "dfw",
        "Dallas, Texas (US)",
        32.7791,
        -96.8003,
        "north-america",
        true,
        false,
        false,
    ),
    (
        "ewr",
        "Secaucus, NJ (US)",
        40.7898,
        -74.0565,
        "north-america",
        false,
        false,
        false,
    ),
    (
        "eze",
        "Ezeiza, Argentina",
        -34.8222,
        -58.5358,
        "south-america",
        false,
        false,
        true,
    ),
    (
        "fra",
        "Frankfurt, Germany",
        50.1167,
        8.6833,
        "europe",
        true,
        true,
        false,
    ),
    (
        "gdl",
        "Guadalajara, Mexico",
        20.5217,
        -103.3109,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "gru",
        "Sao Paulo, Brazil",
        -23.5505,
        -46.6333,
        "south-america",
        false,
        false,
        false,
    ),
    (
        "hkg",
        "Hong Kong, Hong Kong",
        22.2500,
        114.1667,
        "asia-pacific",
        true,
        false,
        true,
    ),
    (
        "iad",
        "Ashburn, Virginia (US)",
        39.0335,
        -77.4838,
        "north-america",
        true,
        false,
        false,
    ),
    (
        "jnb",
        "Johannesburg, South Africa",
        -26.1392,
        28.2460,
        "africa",
        false,
        false,
        false,
    ),
    (
        "lax",
        "Los Angeles, California (US)",
        33.9416,
        -118.4085,
        "north-america",
        true,
        false,
        false,
    ),
    (
        "lhr",
        "London, United Kingdom",
        51.5160,
        -0.0757,
        "europe",
        true,
        false,
        false,
    ),
    (
        "mad",
        "Madrid, Spain",
        40.4381,
        -3.8196,
        "europe",
        false,
        false,
        true,
    ),
    (
        "mia",
        "Miami, Florida (US)",
        25.7877,
        -80.2241,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "nrt",
        "Tokyo, Japan",
        35.6762,
        139.6503,
        "asia-pacific",
        true,
        false,
        false,
    ),
    (
        "ord",
        "Chicago, Illinois (US)",
        41.8919,
        -87.6051,
        "north-america",
        true,
        false,
        false,
    ),
    (
        "otp",
        "Bucharest, Romania",
        44.4325,
        26.1039,
        "europe",
        false,
        false,
        true,
    ),
    (
        "phx",
        "Phoenix, Arizona (US)",
        33.4484,
        -112.0740,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "qro",
        "Querétaro, Mexico",
        20.6200,
        -100.1863,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "scl",
        "Santiago, Chile",
        -33.4489,
        -70.6693,
        "south-america",
        true,
        false,
        true,
    ),
    (
        "sea",
        "Seattle, Washington (US)",
        47.6097,
        -122.3331,
        "north-america",
        true,
        false,
        true,
    ),
    (
        "sin",
        "Singapore, Singapore",
        1.3521,
        103.8198,
        "asia-pacific",
        true,
        false,
        false,
    ),
    (
        "sjc",
        "San Jose, California (US)",
        37.3512,
        -121.8846,
        "north-america",
        true,
        false,
        false,
    ),
    (
        "syd",
        "Sydney, Australia",
        -33.8688,
        151.2093,
        "asia-pacific",
        true,
        false,
        false,
    ),
    (
        "waw",
        "Warsaw, Poland",
        52.2297,
        21.0122,
        "europe",
        false,
        false,
        true,
    ),
    (
        "yul",
        "Montreal, Canada",
        45.5017,
        -73.5673,
        "north-america",
        false,
        false,
        true,
    ),
    (
        "yyz",
        "Toronto, Canada",
        43.6532,
        -79.3832,
        "north-america",
        true,
        false,
        false,
    ),
];

/// The region the emulator calls nearest.
const NEAREST: &str = "iad";

/// Whether `code` is a region the emulator knows.
pub(crate) fn is_region(code: &str) -> bool {
    REGIONS.iter().any(|r| r.0 == code)
}

pub(crate) fn regions(_env: &mut Env<'_>, _req: &ApiRequest) -> HandlerResult {
    let rows = REGIONS
        .iter()
        .map(
            |&(code, name, lat, long, geo, gw, paid, deprecated)| types::RegionRow {
                code: Some(code.to_string()),
                deprecated: Some(deprecated),
                gateway_available: Some(gw),
                geo_region: Some(geo.to_string()),
                latitude: Some(lat),
                longitude: Some(long),
                name: Some(name.to_string()),
                requires_paid_plan: Some(paid),
                mpg_available: Some(crate::state::postgres::catalog::offers_postgres(code)),
            },
        )
        .collect();
    ok_json(types::RegionResponse {
        nearest: Some(NEAREST.to_string()),
        regions: Some(rows),
    })
}

pub(crate) fn placements(
    _env: &mut Env<'_>,
    _req: &ApiRequest,
    body: types::GetPlacementsRequest,
) -> HandlerResult {
    if body.org_slug.is_empty() {
        return Err(ApiError::bad_request("org_slug is required"));
    }
    let count = body.count.unwrap_or(0);
    if count < 0 {
        return Err(ApiError::bad_request(format!(
            "count must not be negative, got {count}"
        )));
    }
    let wanted: Vec<String> = match body.region.as_deref().filter(|r| !r.is_empty()) {
        Some(list) => list
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        None => vec![NEAREST.to_string()],
    };
    if let Some(bad) = wanted.iter().find(|r| !is_region(r)) {
        return Err(ApiError::bad_request(format!("unknown region {bad:?}")));
    }
    let memory = body
        .compute
        .as_ref()
        .and_then(|c| c.memory_mb)
        .unwrap_or(2048)
        .max(256);
    // Each region offers room for a fixed budget of 64 GB of guests.
    let capacity = (64 * 1024 / memory).max(1);
    let mut remaining = count;
    let regions = wanted
        .iter()
        .map(|r| {
            let placed = if count == 0 {
                capacity
            } else {
                let n = remaining.min(capacity);
                remaining -= n;
                n
            };
            types::RegionPlacement {
                concurrency: Some(capacity),
                count: Some(placed),
                region: Some(r.clone()),
            }
        })
        .filter(|p| count == 0 || p.count.unwrap_or(0) > 0)
        .collect();
    ok_json(types::GetPlacementsResponse {
        regions: Some(regions),
    })
}

fn bare_token(header_value: &str) -> String {
    let v = header_value.trim();
    v.strip_prefix("FlyV1 ")
        .or_else(|| v.strip_prefix("Bearer "))
        .unwrap_or(v)
        .trim()
        .to_string()
}

fn verified(header_value: &str) -> types::VerifiedToken {
    let seed = fnv64(header_value.as_bytes());
    types::VerifiedToken {
        caveats: Some(types::CaveatSet {
            caveats: Some(Vec::new()),
        }),
        header: Some(header_value.to_string()),
        nonce: Some(types::Nonce {
            kid: Some(b64(&stream_bytes(seed ^ 1, 16))),
            proof: Some(false),
            rnd: Some(b64(&stream_bytes(seed ^ 2, 16))),
        }),
        permission_token: Some(b64(&stream_bytes(seed ^ 3, 48))),
    }
}

fn check_token(env: &Env<'_>, header_value: Option<&str>) -> Result<String, ApiError> {
    let value = header_value
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("header is required"))?;
    let bare = bare_token(value);
    let known = token_matches(&env.settings.token, &bare)
        || env
            .world
            .issued_tokens
            .iter()
            .any(|t| crate::auth::same_token(&t.token, &bare));
    if !known {
        return Err(ApiError::bad_request("the token could not be verified"));
    }
    Ok(value.to_string())
}

pub(crate) fn authenticate(
    env: &mut Env<'_>,
    _req: &ApiRequest,
    body: types::AuthenticateTokenRequest,
) -> HandlerResult {
    let header = check_token(env, body.header.as_deref())?;
    ok_json(vec![verified(&header)])
}

pub(crate) fn authorize(
    env: &mut Env<'_>,
    _req: &ApiRequest,
    body: types::AuthorizeTokenRequest,
) -> HandlerResult {
    let header = check_token(env, body.header.as_deref())?;
    let access = body.access.unwrap_or_default();
    let org = access
        .org_slug
        .clone()
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| "personal".to_string());
    let appid = match access.app_name.as_deref().filter(|a| !a.is_empty()) {
        Some(name) => Some(
            env.world
                .apps
                .get(name)
                .map(|a| a.numeric_id)
                .ok_or_else(|| ApiError::bad_request(format!("app {name} not found")))?,
        ),
        None => None,
    };
    ok_json(types::AuthorizeResponse {
        access: Some(types::Access {
            action: access.action,
            app_feature: access.app_feature,
            appid,
            command: access.command,
            machine: access.machine_id,
            machine_feature: access.machine_feature,
            mutation: access.mutation,
            orgid: Some(org_numeric_id(&org)),
            source_machine: access.source_machine,
            storage_object: access.storage_object,
            volume: access.volume_id,
            ..Default::default()
        }),
        verified_token: Some(verified(&header)),
    })
}

pub(crate) fn current(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let value = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(bare_token)
        .unwrap_or_default();
    let apps: Vec<String> = env.world.apps.keys().cloned().collect();
    ok_json(types::CurrentTokenResponse {
        tokens: Some(vec![types::TokenInfo {
            apps: Some(apps),
            org_slug: Some("personal".to_string()),
            organization: Some(org_display_name("personal")),
            restricted_to_machine: None,
            source_machine_id: None,
            token_id: Some(format!("tok_{:016x}", fnv64(value.as_bytes()))),
            user: Some(env.settings.owner.clone()),
        }]),
    })
}

pub(crate) fn kms(env: &mut Env<'_>, _req: &ApiRequest) -> HandlerResult {
    let seed = fnv64(format!("kms:{}", env.now / 1000).as_bytes());
    Ok(Reply::text(
        StatusCode::OK,
        format!("FlyV1 fm2_{}", b64(&stream_bytes(seed, 48))),
    ))
}

pub(crate) fn oidc(
    env: &mut Env<'_>,
    _req: &ApiRequest,
    body: types::CreateOidcTokenRequest,
) -> HandlerResult {
    let now_s = env.now / 1000;
    let aud = body
        .aud
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "https://fly.io/personal".to_string());
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "fly-machines-sim" });
    let mut claims = serde_json::json!({
        "iss": "https://oidc.fly.io/personal",
        "aud": aud,
        "sub": "personal:fly-machines-sim:local",
        "iat": now_s,
        "nbf": now_s,
        "exp": now_s + 600,
        "org_name": "personal",
        "app_name": "fly-machines-sim",
        "machine_id": "00000000000000",
        "region": env.settings.default_region,
    });
    if body.aws_principal_tags == Some(true) {
        claims["https://aws.amazon.com/tags"] = serde_json::json!({
            "principal_tags": { "org_name": ["personal"], "app_name": ["fly-machines-sim"] }
        });
    }
    let head = b64url(header.to_string().as_bytes());
    let payload = b64url(claims.to_string().as_bytes());
    let sig = b64url(&stream_bytes(
        fnv64(format!("{head}.{payload}").as_bytes()),
        64,
    ));
    Ok(Reply::text(
        StatusCode::OK,
        format!("{head}.{payload}.{sig}"),
    ))
}

/// Sort key and opaque cursor of org listings: `<updated ms>.<id>`.
fn cursor_key(updated_ms: u64, id: &str) -> String {
    format!("{updated_ms:016x}.{id}")
}

struct OrgQuery {
    org: String,
    include_deleted: bool,
    region: Option<String>,
    states: Vec<String>,
    summary: bool,
    updated_after: Option<u64>,
    cursor: Option<String>,
    limit: usize,
}

fn org_query(req: &ApiRequest) -> Result<OrgQuery, ApiError> {
    let updated_after = match req.query_param("updated_after").filter(|u| !u.is_empty()) {
        Some(u) => Some(parse_rfc3339(u).ok_or_else(|| {
            ApiError::bad_request(format!(
                "updated_after must be an RFC 3339 timestamp, got {u:?}"
            ))
        })?),
        None => None,
    };
    let limit = req.query_int("limit")?.unwrap_or(500);
    if limit < 1 {
        return Err(ApiError::bad_request(format!(
            "limit must be positive, got {limit}"
        )));
    }
    Ok(OrgQuery {
        org: req.path_param("org_slug").to_string(),
        include_deleted: req.query_bool("include_deleted")?.unwrap_or(false),
        region: req
            .query_param("region")
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        states: req.query_list("state"),
        summary: req.query_bool("summary")?.unwrap_or(false),
        updated_after,
        cursor: req
            .query_param("cursor")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        limit: limit.min(1000) as usize,
    })
}

pub(crate) fn org_machines(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let q = org_query(req)?;
    let now = env.now;
    let crate::state::World { apps, rng, .. } = &mut *env.world;
    let mut rows: Vec<(String, types::OrgMachine)> = Vec::new();
    for app in apps.values_mut().filter(|a| a.org_slug == q.org) {
        for m in app.machines.values_mut() {
            m.settle(now, rng);
            if now < m.visible_from_ms
                || (m.state == MachineState::Destroyed && !q.include_deleted)
                || q.region.as_deref().is_some_and(|r| r != m.region)
                || (!q.states.is_empty() && !q.states.iter().any(|s| s == m.state.as_str()))
                || q.updated_after.is_some_and(|u| m.updated_ms <= u)
            {
                continue;
            }
            let key = cursor_key(m.updated_ms, &m.id);
            if q.cursor.as_deref().is_some_and(|c| key.as_str() <= c) {
                continue;
            }
            rows.push((
                key,
                types::OrgMachine {
                    app_name: Some(app.name.clone()),
                    config: (!q.summary).then(|| types::MachineOverviewConfig {
                        guest: m.config.guest.clone(),
                        image: m.config.image.clone(),
                        metadata: m.config.metadata.clone(),
                    }),
                    created_at: Some(rfc3339(m.created_ms)),
                    id: Some(m.id.clone()),
                    instance_id: Some(m.instance_id.clone()),
                    name: Some(m.name.clone()),
                    private_ip: Some(m.private_ip.clone()),
                    region: Some(m.region.clone()),
                    state: Some(m.state.as_str().to_string()),
                    updated_at: Some(rfc3339(m.updated_ms)),
                    version: Some(m.instance_id.clone()),
                },
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let more = rows.len() > q.limit;
    rows.truncate(q.limit);
    let last = rows.last().map(|(k, m)| (k.clone(), m.clone()));
    ok_json(types::OrgMachinesResponse {
        error_regions: Some(Vec::new()),
        last_machine_id: last.as_ref().and_then(|(_, m)| m.id.clone()),
        last_updated_at: last.as_ref().and_then(|(_, m)| m.updated_at.clone()),
        machines: Some(rows.into_iter().map(|(_, m)| m).collect()),
        next_cursor: if more { last.map(|(k, _)| k) } else { None },
    })
}

pub(crate) fn org_volumes(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let q = org_query(req)?;
    let mut rows: Vec<(String, types::OrgVolume)> = Vec::new();
    for app in env.world.apps.values().filter(|a| a.org_slug == q.org) {
        for v in app.volumes.values() {
            let state = v.view.state.clone().unwrap_or_default();
            if q.region
                .as_deref()
                .is_some_and(|r| Some(r) != v.view.region.as_deref())
                || (!q.states.is_empty() && !q.states.contains(&state))
                || q.updated_after.is_some_and(|u| v.updated_ms <= u)
            {
                continue;
            }
            let id = v.view.id.clone().unwrap_or_default();
            let key = cursor_key(v.updated_ms, &id);
            if q.cursor.as_deref().is_some_and(|c| key.as_str() <= c) {
                continue;
            }
            let full = !q.summary;
            let vw = &v.view;
            rows.push((
                key,
                types::OrgVolume {
                    app_name: Some(app.name.clone()),
                    attached_alloc_id: vw.attached_alloc_id.clone(),
                    attached_machine_id: vw.attached_machine_id.clone(),
                    auto_backup_enabled: vw.auto_backup_enabled,
                    block_size: vw.block_size.filter(|_| full),
                    blocks: vw.blocks.filter(|_| full),
                    blocks_avail: vw.blocks_avail.filter(|_| full),
                    blocks_free: vw.blocks_free.filter(|_| full),
                    bytes_total: vw.bytes_total.filter(|_| full),
                    bytes_used: vw.bytes_used.filter(|_| full),
                    created_at: vw.created_at.clone(),
                    encrypted: vw.encrypted,
                    fstype: vw.fstype.clone(),
                    host_status: vw.host_status.clone(),
                    id: vw.id.clone(),
                    name: vw.name.clone(),
                    region: vw.region.clone(),
                    size_gb: vw.size_gb,
                    snapshot_retention: vw.snapshot_retention,
                    state: vw.state.clone(),
                    type_: vw.type_.clone(),
                    updated_at: Some(rfc3339(v.updated_ms)),
                    zone: vw.zone.clone(),
                    ..Default::default()
                },
            ));
        }
    }
    let _ = q.include_deleted; // deleted volumes are not kept
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let more = rows.len() > q.limit;
    rows.truncate(q.limit);
    let last = rows.last().map(|(k, v)| (k.clone(), v.clone()));
    ok_json(types::OrgVolumesResponse {
        last_updated_at: last.as_ref().and_then(|(_, v)| v.updated_at.clone()),
        last_volume_id: last.as_ref().and_then(|(_, v)| v.id.clone()),
        next_cursor: if more { last.map(|(k, _)| k) } else { None },
        volumes: Some(rows.into_iter().map(|(_, v)| v).collect()),
    })
}
