//! Request validation: what Fly refuses, checked before a handler changes anything.
//!
//! Machine configs are checked with the shared rules of `fly-machines-rules` (guest sizes,
//! ports, protocols, handlers, autostop modes, concurrency kinds, file modes, stop signals,
//! restart policies, paths), so the emulator refuses exactly what the client's builders refuse.
//! Names and lease TTLs have no shared rule yet; their limits live here.

use fly_machines_api::types;
use fly_machines_rules as rules;

use crate::errors::ApiError;

/// Longest machine name accepted (a DNS label).
pub(crate) const MAX_MACHINE_NAME_LEN: usize = 63;
/// Longest lease the emulator grants, in seconds (a day).
pub(crate) const MAX_LEASE_TTL_SECS: i64 = 86_400;
/// Default guest: one shared CPU with 256 MB.
const DEFAULT_CPU_KIND: &str = "shared";
const DEFAULT_CPUS: i64 = 1;
const DEFAULT_MEMORY_MB: i64 = 256;

/// A value the rules refuse, answered as Fly does: 400 with the rule's own wording.
pub(crate) fn refused(e: rules::RuleError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Checks a machine config and fills in the guest defaults. Every field Fly checks is checked
/// here, so a config that passes can be stored as is.
pub(crate) fn machine_config(
    config: Option<types::MachineConfig>,
) -> Result<types::MachineConfig, ApiError> {
    let mut config = config.ok_or_else(|| ApiError::bad_request("config is required"))?;
    match config.image.as_deref() {
        None => return Err(ApiError::bad_request("config.image is required")),
        Some(image) if image.trim().is_empty() => {
            return Err(ApiError::bad_request("config.image is required"));
        }
        Some(image) => rules::check_image(image).map_err(refused)?,
    }
    let guest = config.guest.get_or_insert_with(Default::default);
    let kind = guest
        .cpu_kind
        .get_or_insert_with(|| DEFAULT_CPU_KIND.to_string())
        .clone();
    let cpus = *guest.cpus.get_or_insert(DEFAULT_CPUS);
    let memory = *guest.memory_mb.get_or_insert(DEFAULT_MEMORY_MB);
    rules::check_guest(&kind, cpus, memory).map_err(refused)?;
    if let Some(max) = guest.max_memory_mb {
        rules::check_memory_step(max).map_err(refused)?;
    }
    for service in config.services.iter().flatten() {
        if let Some(port) = service.internal_port {
            rules::check_port("internal_port", port).map_err(refused)?;
        }
        if let Some(protocol) = service.protocol.as_deref() {
            rules::check_protocol(protocol).map_err(refused)?;
        }
        if let Some(n) = service.min_machines_running {
            rules::check_count("min_machines_running", n).map_err(refused)?;
        }
        // Autostop is a boolean or one of the rules' words.
        if let Some(types::MachineServiceAutostop::String(mode)) = &service.autostop {
            rules::check_autostop(mode).map_err(refused)?;
        }
        if let Some(kind) = service
            .concurrency
            .as_ref()
            .and_then(|c| c.type_.as_deref())
        {
            rules::check_concurrency_type(kind).map_err(refused)?;
        }
        for port in service.ports.iter().flatten() {
            for (setting, value) in [
                ("port", port.port),
                ("start_port", port.start_port),
                ("end_port", port.end_port),
            ] {
                if let Some(value) = value {
                    rules::check_port(setting, value).map_err(refused)?;
                }
            }
            for handler in port.handlers.iter().flatten() {
                rules::check_handler(handler).map_err(refused)?;
            }
        }
    }
    for file in config.files.iter().flatten() {
        if let Some(mode) = file.mode {
            rules::check_file_mode(mode).map_err(refused)?;
        }
        if let Some(path) = file.guest_path.as_deref() {
            rules::check_guest_path("files.guest_path", path).map_err(refused)?;
        }
    }
    for mount in config.mounts.iter().flatten() {
        if let Some(path) = mount.path.as_deref().filter(|p| !p.is_empty()) {
            rules::check_guest_path("mounts.path", path).map_err(refused)?;
        }
        mount_growth(mount)?;
    }
    if let Some(fraction) = config.spot.as_ref().and_then(|s| s.max_price_fraction)
        && !(fraction > 0.0 && fraction <= 1.0)
    {
        return Err(ApiError::bad_request(format!(
            "spot.max_price_fraction must be more than 0 and at most 1, got {fraction}"
        )));
    }
    if let Some(signal) = config
        .stop_config
        .as_ref()
        .and_then(|s| s.signal.as_deref())
    {
        rules::check_stop_signal(signal).map_err(refused)?;
    }
    if let Some(timeout) = config
        .stop_config
        .as_ref()
        .and_then(|s| s.timeout.as_deref())
    {
        rules::parse_go_duration(timeout).map_err(refused)?;
    }
    if let Some(restart) = config.restart.as_ref() {
        if let Some(policy) = restart.policy.as_deref() {
            rules::check_restart_policy(policy).map_err(refused)?;
        }
        if let Some(retries) = restart.max_retries {
            rules::check_max_retries(restart.policy.as_deref(), retries).map_err(refused)?;
        }
    }
    for key in config.metadata.iter().flat_map(|m| m.keys()) {
        rules::check_metadata_key(key).map_err(refused)?;
    }
    let process_envs = config
        .processes
        .iter()
        .flatten()
        .flat_map(|p| p.env.iter().flatten());
    for (name, _) in config.env.iter().flatten().chain(process_envs) {
        rules::check_env_name(name).map_err(refused)?;
    }
    Ok(config)
}

/// Checks how a mount grows: by GB or by percent, not both; amounts positive.
fn mount_growth(mount: &types::MachineMount) -> Result<(), ApiError> {
    if mount.add_size_gb.is_some() && mount.add_size_percent.is_some() {
        return Err(ApiError::bad_request(
            "mounts.add_size_gb and mounts.add_size_percent are mutually exclusive",
        ));
    }
    for (field, value) in [
        ("mounts.add_size_percent", mount.add_size_percent),
        ("mounts.min_add_size_gb", mount.min_add_size_gb),
    ] {
        if let Some(v) = value
            && v < 1
        {
            return Err(ApiError::bad_request(format!(
                "{field} must be at least 1, got {v}"
            )));
        }
    }
    Ok(())
}

/// Checks a machine name: 1 to 63 letters, digits, `-` or `_`.
pub(crate) fn machine_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_MACHINE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(80).collect();
        Err(ApiError::bad_request(format!(
            "invalid machine name {shown:?}{}: expected 1 to {MAX_MACHINE_NAME_LEN} letters, \
             digits, '-' or '_'",
            if shown.len() < name.len() { "…" } else { "" }
        )))
    }
}

/// Checks a lease TTL in seconds: 1 to [`MAX_LEASE_TTL_SECS`].
pub(crate) fn lease_ttl(ttl: i64) -> Result<u64, ApiError> {
    match u64::try_from(ttl) {
        Ok(secs) if secs >= 1 && ttl <= MAX_LEASE_TTL_SECS => Ok(secs),
        _ => Err(ApiError::bad_request(format!(
            "lease ttl must be from 1 to {MAX_LEASE_TTL_SECS} seconds, got {ttl}"
        ))),
    }
}
