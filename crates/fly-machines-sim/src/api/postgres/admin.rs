//! Users (with their credentials) and databases of a cluster: what Fly's pg-admin serves, so
//! every call needs the cluster's database up.

use axum::http::StatusCode;

use super::body::Fields;
use super::{Needs, cluster, require_running, unprocessable, views};
use crate::errors::ApiError;
use crate::reply::{HandlerResult, Reply, ok_json};
use crate::request::{ApiRequest, Env};
use crate::state::postgres::catalog::{self, reserved_user, system_database};
use crate::state::postgres::{Database, Role, User, new_password};

/// A user name from a path or body: 400 when malformed or reserved.
fn checked_username(name: &str) -> Result<(), ApiError> {
    if !catalog::valid_user_name(name) {
        return Err(ApiError::bad_request(format!(
            "Username {name:?} is malformed: use 1 to 63 lowercase letters, digits, '-' and '_', \
             starting and ending with a letter or digit"
        )));
    }
    if reserved_user(name) {
        return Err(ApiError::bad_request(format!(
            "Username {name:?} is reserved for the platform"
        )));
    }
    Ok(())
}

/// The role field: 422 when missing or not a role.
fn role(body: &Fields) -> Result<Role, ApiError> {
    let value = body
        .string("role")?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| unprocessable(format!("role is required: one of {}", Role::ALL)))?;
    Role::parse(&value)
        .ok_or_else(|| unprocessable(format!("role {value:?} is not one of {}", Role::ALL)))
}

fn user_not_found() -> ApiError {
    ApiError::not_found("User not found")
}

pub(crate) fn users_list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let c = cluster(env, req, Needs::Running)?;
    ok_json(views::users(&c.data.users))
}

pub(crate) fn users_create(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let username = body
        .string("username")?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| unprocessable("username is required"))?;
    let role = role(&body)?;
    checked_username(&username)?;
    let now = env.now;
    let password = new_password(&mut env.world.rng);
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    if c.data.users.contains_key(&username) {
        return Err(ApiError::conflict(
            "name_taken",
            format!("User already exists: {username}"),
        ));
    }
    c.data
        .users
        .insert(username.clone(), User { role, password });
    Ok(Reply::json(
        StatusCode::CREATED,
        views::user(&username, role),
    ))
}

pub(crate) fn users_update_role(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: Fields,
) -> HandlerResult {
    let username = req.path_param("username").to_string();
    checked_username(&username)?;
    let role = role(&body)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    let user = c.data.users.get_mut(&username).ok_or_else(user_not_found)?;
    user.role = role;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn users_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let username = req.path_param("username").to_string();
    checked_username(&username)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    c.data.users.remove(&username).ok_or_else(user_not_found)?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn users_credentials(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let username = req.path_param("username").to_string();
    checked_username(&username)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    let user = c.data.users.get(&username).ok_or_else(user_not_found)?;
    ok_json(views::credentials(&username, user))
}

pub(crate) fn users_rotate_password(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: Fields,
) -> HandlerResult {
    // Sessions are not modelled: `kill_sessions` is checked and otherwise has no effect.
    body.boolean("kill_sessions")?;
    let username = req.path_param("username").to_string();
    checked_username(&username)?;
    let now = env.now;
    let password = new_password(&mut env.world.rng);
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    let user = c.data.users.get_mut(&username).ok_or_else(user_not_found)?;
    user.password = password;
    ok_json(views::rotated(&username, user))
}

/// A database name from a path or body: 400 when malformed or one of Postgres's own.
pub(crate) fn checked_database(name: &str) -> Result<(), ApiError> {
    if !catalog::valid_database_name(name) {
        return Err(ApiError::bad_request(format!(
            "Database name {name:?} is malformed: use 1 to 63 letters, digits, '-' and '_', \
             starting and ending with a letter or digit"
        )));
    }
    if system_database(name) {
        return Err(ApiError::bad_request(format!(
            "Database {name:?} is a system database"
        )));
    }
    Ok(())
}

pub(crate) fn databases_list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let c = cluster(env, req, Needs::Running)?;
    ok_json(views::databases(c.data.databases.keys()))
}

pub(crate) fn databases_create(env: &mut Env<'_>, req: &ApiRequest, body: Fields) -> HandlerResult {
    let name = body
        .string("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| unprocessable("name is required"))?;
    checked_database(&name)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    if c.data.databases.contains_key(&name) {
        // 422, not 409: Fly declares no 409 for this call (users get one, databases do not).
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name_taken",
            format!("Database {name} already exists"),
        ));
    }
    c.data.databases.insert(name.clone(), Database::new());
    Ok(Reply::json(StatusCode::CREATED, views::database(&name)))
}

pub(crate) fn databases_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let name = req.path_param("database_name").to_string();
    checked_database(&name)?;
    let now = env.now;
    let c = cluster(env, req, Needs::Alive)?;
    require_running(c, now)?;
    c.data
        .databases
        .remove(&name)
        .ok_or_else(|| ApiError::not_found("Database not found"))?;
    ok_json(views::database(&name))
}
