//! Machine leases: acquire/refresh, inspect, release. Answers use the `{status, data, message,
//! code}` envelope, errors included.

use axum::http::StatusCode;
use fly_machines_api::types;

use crate::api::machines::machine;
use crate::errors::ApiError;
use crate::ids::hex_id;
use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};
use crate::state::Lease;
use crate::time::rfc3339;

/// Lease length when the request names none, in seconds.
const DEFAULT_TTL_SECS: i64 = 30;

fn envelope(status: StatusCode, lease: types::Lease) -> HandlerResult {
    Ok(Reply::json(
        status,
        types::LeaseEnvelope {
            code: None,
            data: Some(lease),
            message: None,
            status: Some("success".to_string()),
        },
    ))
}

fn held_by(id: &str, lease: &Lease) -> ApiError {
    ApiError::conflict(
        "lease_currently_held",
        format!(
            "machine ID {id} lease currently held by {}, expires at {}",
            lease.owner,
            rfc3339(lease.expires_ms)
        ),
    )
    .in_envelope()
}

fn lease_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("lease not found for machine {id}")).in_envelope()
}

pub(crate) fn show(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let nonce = req.nonce().map(str::to_string);
    let (m, _, now) = machine!(env, req);
    let id = m.id.clone();
    match m.live_lease(now) {
        Some(l) => {
            let mine = nonce.as_deref() == Some(l.nonce.as_str());
            envelope(StatusCode::OK, l.view(mine))
        }
        None => Err(lease_not_found(&id)),
    }
}

pub(crate) fn create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateLeaseRequest,
) -> HandlerResult {
    let query_ttl = req.query_int("ttl").map_err(ApiError::in_envelope)?;
    let ttl = body.ttl.or(query_ttl).unwrap_or(DEFAULT_TTL_SECS);
    let ttl = crate::validation::lease_ttl(ttl).map_err(ApiError::in_envelope)?;
    let owner = env.settings.owner.clone();
    let nonce = req.nonce().map(str::to_string);
    let (m, rng, now) = machine!(env, req);
    if m.gone() {
        return Err(ApiError::precondition(format!(
            "machine {} is {} and cannot be leased",
            m.id,
            m.state.as_str()
        ))
        .in_envelope());
    }
    let id = m.id.clone();
    let expires_ms = now.saturating_add(ttl.saturating_mul(1000));
    let version = m.instance_id.clone();
    if let Some(held) = m.live_lease(now).cloned() {
        if nonce.as_deref() != Some(held.nonce.as_str()) {
            return Err(held_by(&id, &held));
        }
        let lease = m.lease.get_or_insert(held);
        lease.expires_ms = expires_ms;
        if let Some(d) = body.description {
            lease.description = d;
        }
        let view = lease.view(true);
        return envelope(StatusCode::CREATED, view);
    }
    let lease = Lease {
        nonce: hex_id(12, rng),
        owner,
        description: body.description.unwrap_or_default(),
        expires_ms,
        version,
    };
    let view = lease.view(true);
    m.lease = Some(lease);
    envelope(StatusCode::CREATED, view)
}

pub(crate) fn release(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let Some(nonce) = req.nonce().map(str::to_string) else {
        return Err(ApiError::bad_request(
            "the fly-machine-lease-nonce header is required to release a lease",
        )
        .in_envelope());
    };
    let (m, _, now) = machine!(env, req);
    let id = m.id.clone();
    match m.live_lease(now).cloned() {
        None => Err(lease_not_found(&id)),
        Some(held) if held.nonce != nonce => Err(held_by(&id, &held)),
        Some(_) => {
            m.lease = None;
            Ok(Reply::ok(types::LeaseReleaseEnvelope {
                code: None,
                data: Some(types::OkResponse { ok: Some(true) }),
                message: None,
                status: Some("success".to_string()),
            }))
        }
    }
}
