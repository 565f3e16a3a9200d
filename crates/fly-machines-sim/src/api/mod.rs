//! The operations, one function each, grouped by resource.

use crate::errors::ApiError;
use axum::http::StatusCode;
use fly_machines_api::{Operation, OperationId};

use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};

pub(crate) mod apps;
pub(crate) mod certs;
pub(crate) mod leases;
pub(crate) mod machines;
pub(crate) mod platform;
pub(crate) mod postgres;
pub(crate) mod secrets;
pub(crate) mod volumes;
pub(crate) mod wait;

/// An operation's work on the locked world, its body already parsed.
pub(crate) type LockedWork = Box<dyn FnOnce(&mut Env<'_>, &ApiRequest) -> HandlerResult + Send>;

/// What an operation does, decided before the world is locked.
pub(crate) enum Work {
    /// Runs under the world lock; the body is already parsed into the closure.
    Locked(LockedWork),
    /// Parks until the machine reaches a state (`Machines_wait`); the query parameter named
    /// here bounds how long, from the table's `long_poll` column.
    LongPoll { timeout_param: &'static str },
    /// Answered without touching the world.
    Answer(Reply),
    /// Takes the world lock itself, as often as it needs: a long listing takes it once per
    /// slice, so other requests are served in between.
    Sliced(SlicedWork),
}

/// A handler that locks the world itself (see [`Work::Sliced`]).
pub(crate) type SlicedWork = Box<dyn FnOnce(&Shared<'_>, &ApiRequest) -> HandlerResult + Send>;

/// What a handler that takes the world lock itself works on.
pub(crate) struct Shared<'a> {
    pub(crate) world: &'a std::sync::Mutex<crate::state::World>,
    pub(crate) clock: &'a crate::clock::Clock,
    /// Told after each slice a long listing has written.
    pub(crate) list_slice_hook: &'a crate::emulator::SliceHook,
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

/// A Managed Postgres operation: its errors are sent in the Postgres shape.
fn pg(
    f: impl FnOnce(&mut Env<'_>, &ApiRequest) -> HandlerResult + Send + 'static,
) -> Result<Work, ApiError> {
    locked(move |env, req| postgres::shaped(f(env, req)))
}

/// A Managed Postgres operation with a body (`required` or optional), parsed outside the lock.
fn pg_with(
    req: &ApiRequest,
    required: bool,
    f: impl FnOnce(&mut Env<'_>, &ApiRequest, postgres::body::Fields) -> HandlerResult + Send + 'static,
) -> Result<Work, ApiError> {
    let body = if required {
        postgres::body::Fields::required(req)?
    } else {
        postgres::body::Fields::optional(req)?
    };
    locked(move |env, req| postgres::shaped(f(env, req, body)))
}

/// A long-poll, as the operation table declares it.
fn long_poll(op: &Operation) -> Result<Work, ApiError> {
    match op.long_poll {
        Some(timeout_param) => Ok(Work::LongPoll { timeout_param }),
        None => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unknown",
            format!(
                "{} is served as a long-poll but the table declares none",
                op.id
            ),
        )),
    }
}

/// Parses the request and picks the work its operation does; nothing here touches the world,
/// so the (possibly large) body is decoded without the state lock. The `match` names every
/// operation of the table, so an operation without a handler does not compile.
pub(crate) fn plan(req: &ApiRequest) -> Result<Work, ApiError> {
    match req.op.op {
        OperationId::MachinesWait => long_poll(req.op),
        OperationId::AppsList => locked(apps::list),
        OperationId::AppsCreate => with(req.json()?, apps::create),
        OperationId::AppsShow => locked(apps::show),
        OperationId::AppsDelete => locked(apps::delete),
        OperationId::AppCreateDeployToken => with(req.json_or_default()?, apps::deploy_token),

        OperationId::AppCertificatesList => locked(certs::list),
        OperationId::AppCertificatesAcmeCreate => with(req.json()?, certs::acme_create),
        OperationId::AppCertificatesCustomCreate => with(req.json()?, certs::custom_create),
        OperationId::AppCertificatesShow => locked(certs::show),
        OperationId::AppCertificatesDelete => locked(certs::delete),
        OperationId::AppCertificatesAcmeDelete => locked(certs::acme_delete),
        OperationId::AppCertificatesCheck => locked(certs::check),
        OperationId::AppCertificatesCustomDelete => locked(certs::custom_delete),
        OperationId::AppIpAssignmentsList => locked(certs::ips_list),
        OperationId::AppIpAssignmentsCreate => with(req.json()?, certs::ips_create),
        OperationId::AppIpAssignmentsDelete => locked(certs::ips_delete),

        OperationId::MachinesList => Ok(Work::Sliced(Box::new(machines::list))),
        OperationId::MachinesCreate => with(req.json()?, machines::create),
        OperationId::MachinesShow => locked(machines::show),
        OperationId::MachinesUpdate => with(req.json()?, machines::update),
        OperationId::MachinesDelete => locked(machines::delete),
        OperationId::MachinesStart => locked(machines::start),
        OperationId::MachinesStop => with(req.json_or_default()?, machines::stop),
        OperationId::MachinesSuspend => locked(machines::suspend),
        OperationId::MachinesRestart => locked(machines::restart),
        OperationId::MachinesSignal => with(req.json()?, machines::signal),
        OperationId::MachinesCordon => locked(|env, req| machines::cordon(env, req, true)),
        OperationId::MachinesUncordon => locked(|env, req| machines::cordon(env, req, false)),
        OperationId::MachinesListEvents => locked(machines::events),
        OperationId::MachinesListVersions => locked(machines::versions),
        OperationId::MachinesExec => with(req.json()?, machines::exec),
        OperationId::MachinesListProcesses => locked(machines::processes),
        OperationId::MachinesGetMemory => locked(machines::memory),
        OperationId::MachinesSetMemoryLimit => with(req.json()?, machines::set_memory_limit),
        OperationId::MachinesReclaimMemory => {
            with(req.json_or_default()?, machines::reclaim_memory)
        }
        OperationId::MachinesShowMetadata => locked(machines::metadata),
        OperationId::MachinesUpdateMetadata | OperationId::MachinesPatchMetadata => {
            with(req.json()?, machines::update_metadata)
        }
        OperationId::MachinesGetMetadataKey => locked(machines::metadata_key),
        OperationId::MachinesUpsertMetadata => with(req.json()?, machines::upsert_metadata),
        OperationId::MachinesDeleteMetadata => locked(machines::delete_metadata),
        OperationId::MachinesShowLease => locked(leases::show),
        OperationId::MachinesCreateLease => with(
            req.json_or_default().map_err(ApiError::in_envelope)?,
            leases::create,
        ),
        OperationId::MachinesReleaseLease => locked(leases::release),

        OperationId::SecretsList => locked(secrets::list),
        OperationId::SecretsUpdate => with(req.json()?, secrets::update),
        OperationId::SecretGet => locked(secrets::get),
        OperationId::SecretCreate => with(req.json()?, secrets::set),
        OperationId::SecretDelete => locked(secrets::delete),
        OperationId::SecretkeysList => locked(secrets::keys_list),
        OperationId::SecretkeyGet => locked(secrets::key_get),
        OperationId::SecretkeySet => with(req.json()?, |env, req, body| {
            secrets::key_set(env, req, false, body)
        }),
        OperationId::SecretkeyGenerate => with(req.json()?, |env, req, body| {
            secrets::key_set(env, req, true, body)
        }),
        OperationId::SecretkeyDelete => locked(secrets::key_delete),
        OperationId::SecretkeyEncrypt => with(req.json()?, secrets::key_encrypt),
        OperationId::SecretkeyDecrypt => with(req.json()?, secrets::key_decrypt),
        OperationId::SecretkeySign => with(req.json()?, secrets::key_sign),
        OperationId::SecretkeyVerify => with(req.json()?, secrets::key_verify),

        OperationId::VolumesList => locked(volumes::list),
        OperationId::VolumesCreate => with(req.json()?, volumes::create),
        OperationId::VolumesGetById => locked(volumes::get),
        OperationId::VolumesUpdate => with(req.json()?, volumes::update),
        OperationId::VolumeDelete => locked(volumes::delete),
        OperationId::VolumesExtend => with(req.json()?, volumes::extend),
        OperationId::VolumesListSnapshots => locked(volumes::snapshots),
        OperationId::CreateVolumeSnapshot => locked(volumes::create_snapshot),

        OperationId::MachinesOrgList => locked(platform::org_machines),
        OperationId::VolumesOrgList => locked(platform::org_volumes),
        OperationId::PlatformRegionsGet => locked(platform::regions),
        OperationId::PlatformPlacementsPost => with(req.json()?, platform::placements),
        OperationId::TokensAuthenticate => with(req.json()?, platform::authenticate),
        OperationId::TokensAuthorize => with(req.json()?, platform::authorize),
        OperationId::CurrentTokenShow => locked(platform::current),
        OperationId::TokensRequestKms => locked(platform::kms),
        OperationId::TokensRequestOidc => match req.json_or_default() {
            Ok(body) => with(body, platform::oidc),
            // Fly answers this text endpoint's errors as text.
            Err(e) => Ok(Work::Answer(Reply::text(
                StatusCode::BAD_REQUEST,
                e.message,
            ))),
        },

        OperationId::PostgresList => pg(postgres::clusters::list),
        OperationId::PostgresCreate => pg_with(req, true, postgres::clusters::create),
        OperationId::PostgresShow => pg(postgres::clusters::show),
        OperationId::PostgresDelete => pg(postgres::clusters::delete),
        OperationId::PostgresFork => pg_with(req, false, postgres::clusters::fork),
        OperationId::PostgresRestore => pg_with(req, true, postgres::clusters::restore),
        OperationId::PostgresAttachmentsCreate => pg_with(req, true, postgres::clusters::attach),
        OperationId::PostgresAttachmentsDelete => pg(postgres::clusters::detach),
        OperationId::PostgresBackupsList => pg(postgres::ops::backups_list),
        OperationId::PostgresBackupsCreate => pg_with(req, true, postgres::ops::backups_create),
        OperationId::PostgresQueriesActive => pg(postgres::ops::queries_active),
        OperationId::PostgresQueriesSlow => pg(postgres::ops::queries_slow),
        OperationId::PostgresDatabasesList => pg(postgres::admin::databases_list),
        OperationId::PostgresDatabasesCreate => {
            pg_with(req, true, postgres::admin::databases_create)
        }
        OperationId::PostgresDatabasesDelete => pg(postgres::admin::databases_delete),
        OperationId::PostgresExtensionsList => pg(postgres::extensions::list),
        OperationId::PostgresExtensionsEnable => pg_with(req, true, postgres::extensions::enable),
        OperationId::PostgresExtensionsDisable => pg(postgres::extensions::disable),
        OperationId::PostgresUsersList => pg(postgres::admin::users_list),
        OperationId::PostgresUsersCreate => pg_with(req, true, postgres::admin::users_create),
        OperationId::PostgresUsersDelete => pg(postgres::admin::users_delete),
        OperationId::PostgresUsersUpdateRole => {
            pg_with(req, true, postgres::admin::users_update_role)
        }
        OperationId::PostgresUsersCredentials => pg(postgres::admin::users_credentials),
        OperationId::PostgresUsersRotatePassword => {
            pg_with(req, false, postgres::admin::users_rotate_password)
        }
    }
}
