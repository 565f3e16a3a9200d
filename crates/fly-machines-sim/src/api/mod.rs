//! The operations, one function each, grouped by resource.

use crate::errors::ApiError;
use axum::http::StatusCode;

use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};

pub(crate) mod apps;
pub(crate) mod certs;
pub(crate) mod leases;
pub(crate) mod machines;
pub(crate) mod platform;
pub(crate) mod secrets;
pub(crate) mod volumes;
pub(crate) mod wait;

/// An operation's work on the locked world, its body already parsed.
pub(crate) type LockedWork = Box<dyn FnOnce(&mut Env<'_>, &ApiRequest) -> HandlerResult + Send>;

/// What an operation does, decided before the world is locked.
pub(crate) enum Work {
    /// Runs under the world lock; the body is already parsed into the closure.
    Locked(LockedWork),
    /// Parks until the machine reaches a state (`Machines_wait`).
    LongPoll,
    /// Answered without touching the world.
    Answer(Reply),
}

fn locked(
    f: impl FnOnce(&mut Env<'_>, &ApiRequest) -> HandlerResult + Send + 'static,
) -> Result<Work, ApiError> {
    Ok(Work::Locked(Box::new(f)))
}

/// Work on a body parsed outside the lock.
fn with<B: Send + 'static>(
    body: B,
    f: impl FnOnce(&mut Env<'_>, &ApiRequest, B) -> HandlerResult + Send + 'static,
) -> Result<Work, ApiError> {
    locked(move |env, req| f(env, req, body))
}

/// Parses the request and picks the work its operation does; nothing here touches the world,
/// so the (possibly large) body is decoded without the state lock.
pub(crate) fn plan(req: &ApiRequest) -> Result<Work, ApiError> {
    match req.op.id {
        "Machines_wait" => Ok(Work::LongPoll),
        "Apps_list" => locked(apps::list),
        "Apps_create" => with(req.json()?, apps::create),
        "Apps_show" => locked(apps::show),
        "Apps_delete" => locked(apps::delete),
        "App_create_deploy_token" => with(req.json_or_default()?, apps::deploy_token),

        "App_Certificates_list" => locked(certs::list),
        "App_Certificates_acme_create" => with(req.json()?, certs::acme_create),
        "App_Certificates_custom_create" => with(req.json()?, certs::custom_create),
        "App_Certificates_show" => locked(certs::show),
        "App_Certificates_delete" => locked(certs::delete),
        "App_Certificates_acme_delete" => locked(certs::acme_delete),
        "App_Certificates_check" => locked(certs::check),
        "App_Certificates_custom_delete" => locked(certs::custom_delete),
        "App_IPAssignments_list" => locked(certs::ips_list),
        "App_IPAssignments_create" => with(req.json()?, certs::ips_create),
        "App_IPAssignments_delete" => locked(certs::ips_delete),

        "Machines_list" => locked(machines::list),
        "Machines_create" => with(req.json()?, machines::create),
        "Machines_show" => locked(machines::show),
        "Machines_update" => with(req.json()?, machines::update),
        "Machines_delete" => locked(machines::delete),
        "Machines_start" => locked(machines::start),
        "Machines_stop" => with(req.json_or_default()?, machines::stop),
        "Machines_suspend" => locked(machines::suspend),
        "Machines_restart" => locked(machines::restart),
        "Machines_signal" => with(req.json()?, machines::signal),
        "Machines_cordon" => locked(|env, req| machines::cordon(env, req, true)),
        "Machines_uncordon" => locked(|env, req| machines::cordon(env, req, false)),
        "Machines_list_events" => locked(machines::events),
        "Machines_list_versions" => locked(machines::versions),
        "Machines_exec" => with(req.json()?, machines::exec),
        "Machines_list_processes" => locked(machines::processes),
        "Machines_get_memory" => locked(machines::memory),
        "Machines_set_memory_limit" => with(req.json()?, machines::set_memory_limit),
        "Machines_reclaim_memory" => with(req.json_or_default()?, machines::reclaim_memory),
        "Machines_show_metadata" => locked(machines::metadata),
        "Machines_update_metadata" | "Machines_patch_metadata" => {
            with(req.json()?, machines::update_metadata)
        }
        "Machines_get_metadata_key" => locked(machines::metadata_key),
        "Machines_upsert_metadata" => with(req.json()?, machines::upsert_metadata),
        "Machines_delete_metadata" => locked(machines::delete_metadata),
        "Machines_show_lease" => locked(leases::show),
        "Machines_create_lease" => with(
            req.json_or_default().map_err(ApiError::in_envelope)?,
            leases::create,
        ),
        "Machines_release_lease" => locked(leases::release),

        "Secrets_list" => locked(secrets::list),
        "Secrets_update" => with(req.json()?, secrets::update),
        "Secret_get" => locked(secrets::get),
        "Secret_create" => with(req.json()?, secrets::set),
        "Secret_delete" => locked(secrets::delete),
        "Secretkeys_list" => locked(secrets::keys_list),
        "Secretkey_get" => locked(secrets::key_get),
        "Secretkey_set" => with(req.json()?, |env, req, body| {
            secrets::key_set(env, req, false, body)
        }),
        "Secretkey_generate" => with(req.json()?, |env, req, body| {
            secrets::key_set(env, req, true, body)
        }),
        "Secretkey_delete" => locked(secrets::key_delete),
        "Secretkey_encrypt" => with(req.json()?, secrets::key_encrypt),
        "Secretkey_decrypt" => with(req.json()?, secrets::key_decrypt),
        "Secretkey_sign" => with(req.json()?, secrets::key_sign),
        "Secretkey_verify" => with(req.json()?, secrets::key_verify),

        "Volumes_list" => locked(volumes::list),
        "Volumes_create" => with(req.json()?, volumes::create),
        "Volumes_get_by_id" => locked(volumes::get),
        "Volumes_update" => with(req.json()?, volumes::update),
        "Volume_delete" => locked(volumes::delete),
        "Volumes_extend" => with(req.json()?, volumes::extend),
        "Volumes_list_snapshots" => locked(volumes::snapshots),
        "createVolumeSnapshot" => locked(volumes::create_snapshot),

        "Machines_org_list" => locked(platform::org_machines),
        "Volumes_org_list" => locked(platform::org_volumes),
        "Platform_regions_get" => locked(platform::regions),
        "Platform_placements_post" => with(req.json()?, platform::placements),
        "Tokens_authenticate" => with(req.json()?, platform::authenticate),
        "Tokens_authorize" => with(req.json()?, platform::authorize),
        "CurrentToken_show" => locked(platform::current),
        "Tokens_request_Kms" => locked(platform::kms),
        "Tokens_request_OIDC" => match req.json_or_default() {
            Ok(body) => with(body, platform::oidc),
            // Fly answers this text endpoint's errors as text.
            Err(e) => Ok(Work::Answer(Reply::text(
                StatusCode::BAD_REQUEST,
                e.message,
            ))),
        },

        other => Err(ApiError::not_found(format!(
            "operation {other} is not served here"
        ))),
    }
}
