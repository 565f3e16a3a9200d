//! Apps and app deploy tokens.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use fly_machines_api::types;
use serde::Deserialize;

use crate::encoding::b64;
use crate::errors::ApiError;
use crate::ids::{alnum_id, fnv64};
use crate::reply::ok_json;
use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};
use crate::state::{App, AppKey};

/// Create-app body: Fly's spec says `name`, its docs page says `app_name`; both are accepted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateBody {
    name: Option<String>,
    app_name: Option<String>,
    org_slug: Option<String>,
    network: Option<String>,
    /// Makes a repeat of the same create answer the app the first one made.
    idempotency_key: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    enable_subdomains: Option<bool>,
}

/// App names: Fly's rule, the one the client checks too.
pub(crate) fn valid_app_name(name: &str) -> bool {
    fly_machines_rules::is_app_name(name)
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let org = req.query_param("org_slug").filter(|o| !o.is_empty());
    let now = env.now;
    let dv = env.world.destroyed_visible_ms;
    let scope = format!("apps:{}", org.unwrap_or_default());
    let paging = env
        .world
        .cursors
        .read(req, &scope, crate::paging::MAX_LIMIT_APPS, now)?;
    let apps: Vec<(String, types::App)> = env
        .world
        .apps
        .values()
        .filter(|a| org.is_none_or(|o| o == a.org_slug))
        .map(|a| (a.name.clone(), a.view(now, dv)))
        .collect();
    let total_apps = Some(i64::try_from(apps.len()).unwrap_or(i64::MAX));
    let (apps, next_cursor) = match paging {
        None => (apps.into_iter().map(|(_, a)| a).collect(), None),
        Some(query) => {
            let crate::state::World { cursors, rng, .. } = &mut *env.world;
            let sizes = crate::paging::PageSizes::Exact;
            cursors.page(apps, &query, &scope, sizes, rng)
        }
    };
    ok_json(types::ListAppsResponse {
        total_apps,
        apps: Some(apps),
        next_cursor,
    })
}

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 256;

/// The answer to a create: the app's id and creation time.
fn created(app: &App) -> HandlerResult {
    Ok(Reply::json(
        StatusCode::CREATED,
        types::CreateAppResponse {
            created_at: Some(i64::try_from(app.created_ms).unwrap_or(i64::MAX)),
            id: Some(app.id.clone()),
        },
    ))
}

/// A repeat of a create made with the same idempotency key: the app it made, when the name
/// agrees (or is left out); 422 when it names another app. `None` when the key is new, or
/// its app has been deleted since (the key is then forgotten).
fn replay(env: &mut Env<'_>, key: &str, name: Option<&str>) -> Option<HandlerResult> {
    let world = &mut *env.world;
    let first = world.app_idempotency_keys.get(key)?;
    let Some(app) = world.apps.get(&first.name).filter(|a| a.id == first.app_id) else {
        world.app_idempotency_keys.remove(key);
        return None;
    };
    Some(match name {
        Some(name) if name != app.name => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            format!(
                "idempotency key {key:?} was used to create app {:?}; it cannot create {name:?}",
                app.name
            ),
        )),
        _ => created(app),
    })
}

pub(crate) fn create(env: &mut Env<'_>, _req: &ApiRequest, body: CreateBody) -> HandlerResult {
    let requested = if env.world.documented_shapes {
        // Servers that follow Fly's documentation read `app_name` only.
        Some(
            body.app_name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::bad_request("app_name is required"))?,
        )
    } else {
        body.name.or(body.app_name).filter(|n| !n.is_empty())
    };
    let key = body.idempotency_key.filter(|k| !k.is_empty());
    if let Some(key) = &key {
        if key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(ApiError::bad_request(format!(
                "idempotency_key is {} bytes long; at most {MAX_IDEMPOTENCY_KEY} are accepted",
                key.len()
            )));
        }
        if let Some(answer) = replay(env, key, requested.as_deref()) {
            return answer;
        }
    }
    let name = requested.ok_or_else(|| ApiError::bad_request("name is required"))?;
    if !valid_app_name(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid app name {name:?}: use lowercase letters, digits and dashes"
        )));
    }
    if env.world.apps.contains_key(&name) {
        return Err(ApiError::unprocessable(
            "name_taken",
            format!("Name has already been taken: an app named {name} exists"),
        ));
    }
    let org_slug = body
        .org_slug
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| "personal".to_string());
    let id = alnum_id(16, &mut env.world.rng);
    let numeric_id = (fnv64(id.as_bytes()) % 9_000_000 + 1_000_000) as i64;
    let app = App {
        id: id.clone(),
        numeric_id,
        name: name.clone(),
        created_ms: env.now,
        org_slug,
        network: body
            .network
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string()),
        machines: HashMap::new(),
        machine_names: HashMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        secret_keys: BTreeMap::new(),
        secrets_version: 0,
        certs: BTreeMap::new(),
        ips: Vec::new(),
    };
    let answer = created(&app);
    if let Some(key) = key {
        let record = AppKey {
            name: name.clone(),
            app_id: id,
        };
        env.world.app_idempotency_keys.insert(key, record);
    }
    env.world.apps.insert(name, app);
    answer
}

pub(crate) fn show(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let dv = env.world.destroyed_visible_ms;
    let app = env.world.app(req.path_param("app_name"))?;
    ok_json(app.view(now, dv))
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let name = req.path_param("app_name");
    env.world.app(name)?;
    env.world.apps.remove(name);
    env.world.app_idempotency_keys.retain(|_, k| k.name != name);
    env.world.issued_tokens.retain(|t| t.app != name);
    env.world.postgres.detach_app(name);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

pub(crate) fn deploy_token(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateAppDeployTokenRequest,
) -> HandlerResult {
    if let Some(expiry) = body.expiry.as_deref().filter(|e| !e.is_empty()) {
        fly_machines_rules::parse_go_duration(expiry).map_err(crate::validation::refused)?;
    }
    let app = env.world.app(req.path_param("app_name"))?.name.clone();
    // Random, not from the seed: a token others could work out would be no token.
    let mut secret = [0u8; 48];
    rand::Rng::fill(&mut rand::rng(), &mut secret[..]);
    let token = format!("FlyV1 fm2_{}", b64(&secret));
    env.world.issued_tokens.push(crate::auth::IssuedToken {
        token: token.clone(),
        app,
    });
    ok_json(types::CreateAppDeployTokenResponse { token: Some(token) })
}
