//! The operations, one function each, grouped by resource.

use crate::errors::ApiError;
use crate::reply::HandlerResult;
use crate::request::{ApiRequest, Env};

pub(crate) mod apps;
pub(crate) mod certs;
pub(crate) mod leases;
pub(crate) mod machines;
pub(crate) mod platform;
pub(crate) mod secrets;
pub(crate) mod volumes;
pub(crate) mod wait;

/// Runs a synchronous operation (every one except `Machines_wait`).
pub(crate) fn dispatch(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    match req.op.id {
        "Apps_list" => apps::list(env, req),
        "Apps_create" => apps::create(env, req),
        "Apps_show" => apps::show(env, req),
        "Apps_delete" => apps::delete(env, req),
        "App_create_deploy_token" => apps::deploy_token(env, req),

        "App_Certificates_list" => certs::list(env, req),
        "App_Certificates_acme_create" => certs::acme_create(env, req),
        "App_Certificates_custom_create" => certs::custom_create(env, req),
        "App_Certificates_show" => certs::show(env, req),
        "App_Certificates_delete" => certs::delete(env, req),
        "App_Certificates_acme_delete" => certs::acme_delete(env, req),
        "App_Certificates_check" => certs::check(env, req),
        "App_Certificates_custom_delete" => certs::custom_delete(env, req),
        "App_IPAssignments_list" => certs::ips_list(env, req),
        "App_IPAssignments_create" => certs::ips_create(env, req),
        "App_IPAssignments_delete" => certs::ips_delete(env, req),

        "Machines_list" => machines::list(env, req),
        "Machines_create" => machines::create(env, req),
        "Machines_show" => machines::show(env, req),
        "Machines_update" => machines::update(env, req),
        "Machines_delete" => machines::delete(env, req),
        "Machines_start" => machines::start(env, req),
        "Machines_stop" => machines::stop(env, req),
        "Machines_suspend" => machines::suspend(env, req),
        "Machines_restart" => machines::restart(env, req),
        "Machines_signal" => machines::signal(env, req),
        "Machines_cordon" => machines::cordon(env, req, true),
        "Machines_uncordon" => machines::cordon(env, req, false),
        "Machines_list_events" => machines::events(env, req),
        "Machines_list_versions" => machines::versions(env, req),
        "Machines_exec" => machines::exec(env, req),
        "Machines_list_processes" => machines::processes(env, req),
        "Machines_get_memory" => machines::memory(env, req),
        "Machines_set_memory_limit" => machines::set_memory_limit(env, req),
        "Machines_reclaim_memory" => machines::reclaim_memory(env, req),
        "Machines_show_metadata" => machines::metadata(env, req),
        "Machines_update_metadata" | "Machines_patch_metadata" => {
            machines::update_metadata(env, req)
        }
        "Machines_get_metadata_key" => machines::metadata_key(env, req),
        "Machines_upsert_metadata" => machines::upsert_metadata(env, req),
        "Machines_delete_metadata" => machines::delete_metadata(env, req),
        "Machines_show_lease" => leases::show(env, req),
        "Machines_create_lease" => leases::create(env, req),
        "Machines_release_lease" => leases::release(env, req),

        "Secrets_list" => secrets::list(env, req),
        "Secrets_update" => secrets::update(env, req),
        "Secret_get" => secrets::get(env, req),
        "Secret_create" => secrets::set(env, req),
        "Secret_delete" => secrets::delete(env, req),
        "Secretkeys_list" => secrets::keys_list(env, req),
        "Secretkey_get" => secrets::key_get(env, req),
        "Secretkey_set" => secrets::key_set(env, req, false),
        "Secretkey_generate" => secrets::key_set(env, req, true),
        "Secretkey_delete" => secrets::key_delete(env, req),
        "Secretkey_encrypt" => secrets::key_encrypt(env, req),
        "Secretkey_decrypt" => secrets::key_decrypt(env, req),
        "Secretkey_sign" => secrets::key_sign(env, req),
        "Secretkey_verify" => secrets::key_verify(env, req),

        "Volumes_list" => volumes::list(env, req),
        "Volumes_create" => volumes::create(env, req),
        "Volumes_get_by_id" => volumes::get(env, req),
        "Volumes_update" => volumes::update(env, req),
        "Volume_delete" => volumes::delete(env, req),
        "Volumes_extend" => volumes::extend(env, req),
        "Volumes_list_snapshots" => volumes::snapshots(env, req),
        "createVolumeSnapshot" => volumes::create_snapshot(env, req),

        "Machines_org_list" => platform::org_machines(env, req),
        "Volumes_org_list" => platform::org_volumes(env, req),
        "Platform_regions_get" => platform::regions(env, req),
        "Platform_placements_post" => platform::placements(env, req),
        "Tokens_authenticate" => platform::authenticate(env, req),
        "Tokens_authorize" => platform::authorize(env, req),
        "CurrentToken_show" => platform::current(env, req),
        "Tokens_request_Kms" => platform::kms(env, req),
        "Tokens_request_OIDC" => platform::oidc(env, req),

        other => Err(ApiError::not_found(format!(
            "operation {other} is not served here"
        ))),
    }
}
