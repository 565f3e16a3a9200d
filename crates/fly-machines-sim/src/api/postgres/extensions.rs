//! Extensions of a database: the catalogue with what is installed, enabling (with what an
//! extension requires, as `CREATE EXTENSION … CASCADE` would) and disabling (refused, 400, while
//! another installed extension needs it, unless `force`).

use axum::http::StatusCode;

use super::admin::checked_database;
use super::body::Fields;
use super::{Needs, cluster, require_running, unprocessable, views};
use crate::errors::ApiError;
use crate::reply::{HandlerResult, Reply, ok_json};
use crate::request::{ApiRequest, Env};
use crate::state::postgres::catalog::{self, Extension};
use crate::state::postgres::{Database, InstalledExtension};

fn database_not_found() -> ApiError {
    ApiError::not_found("Database not found")
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let database = req.path_param("database_name").to_string();
    checked_database(&database)?;
    let c = cluster(env, req, Needs::Running)?;
    let db = c
        .data
        .databases
        .get(&database)
        .ok_or_else(database_not_found)?;
    ok_json(views::extensions(db))
}

/// `ext` and everything it requires, requirements first.
fn with_requirements(ext: &'static Extension, into: &mut Vec<&'static Extension>) {
    for name in ext.requires {
        if let Some(required) = catalog::extension(name)
            && !into.iter().any(|e| e.name == required.name)
        {
            with_requirements(required, into);
        }
    }
    if !into.iter().any(|e| e.name == ext.name) {
        into.push(ext);
    }
}

pub(crate) fn enable(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let name = body
        .string("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| unprocessable("name is required"))?;
    let ext = catalog::extension(&name)
        .ok_or_else(|| unprocessable(format!("Unknown or unsupported extension {name:?}")))?;
    let schema = body
        .string("schema")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "public".to_string());
    if !catalog::valid_schema_name(&schema) {
        return Err(unprocessable(format!(
            "schema {schema:?} is not a valid schema name"
        )));
    }
    let create_schema = body.boolean("create_schema")?.unwrap_or(false);
    let database = req.path_param("database_name").to_string();
    checked_database(&database)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    let postgis = c.settings.postgis;
    let db = c
        .data
        .databases
        .get_mut(&database)
        .ok_or_else(database_not_found)?;
    let mut plan = Vec::new();
    with_requirements(ext, &mut plan);
    if plan.iter().any(|e| e.needs_postgis) && !postgis {
        return Err(ApiError::conflict(
            "postgis_disabled",
            "PostGIS is not enabled on this cluster",
        ));
    }
    if let Some(installed) = db.extensions.get(&name) {
        return Err(ApiError::conflict(
            "already_installed",
            format!(
                "Extension {name} is already installed in schema {}",
                installed.schema
            ),
        ));
    }
    if !db.schemas.contains(&schema) {
        if !create_schema {
            return Err(unprocessable(format!(
                "schema {schema:?} does not exist in database {database}; set create_schema \
                 to create it"
            )));
        }
        db.schemas.insert(schema.clone());
    }
    for e in plan {
        db.extensions
            .entry(e.name.to_string())
            .or_insert_with(|| InstalledExtension {
                schema: schema.clone(),
                version: e.default_version,
            });
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// Installed extensions that need `name`, directly or through another.
fn dependents(db: &Database, name: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        for installed in db.extensions.keys() {
            let needs_it = catalog::extension(installed)
                .is_some_and(|e| e.requires.contains(&current.as_str()));
            if needs_it && !found.contains(installed) {
                found.push(installed.clone());
                frontier.push(installed.clone());
            }
        }
    }
    found
}

pub(crate) fn disable(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let name = req.path_param("extension_name").to_string();
    if !catalog::valid_extension_name(&name) {
        return Err(unprocessable(format!("Invalid extension name {name:?}")));
    }
    if catalog::extension(&name).is_some_and(|e| e.system) {
        return Err(ApiError::bad_request(format!(
            "System extensions cannot be disabled: {name}"
        )));
    }
    let database = req.path_param("database_name").to_string();
    checked_database(&database)?;
    let force = req.query_bool("force")?.unwrap_or(false);
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    let db = c
        .data
        .databases
        .get_mut(&database)
        .ok_or_else(database_not_found)?;
    if !db.extensions.contains_key(&name) {
        return Err(ApiError::not_found(format!(
            "Extension {name} is not installed in database {database}"
        )));
    }
    let needing = dependents(db, &name);
    if !needing.is_empty() && !force {
        return Err(ApiError::bad_request(format!(
            "Extension {name} is required by {}; pass force=true to drop them too",
            needing.join(", ")
        )));
    }
    for n in needing.iter().chain(std::iter::once(&name)) {
        db.extensions.remove(n);
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
