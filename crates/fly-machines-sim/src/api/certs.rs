//! Certificates (issuance simulated) and IP assignments.

use axum::http::StatusCode;
use fly_machines_api::types;

use crate::errors::ApiError;
use crate::ids::fnv64;
use crate::reply::ok_json;
use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};
use crate::state::{App, Certificate};
use crate::time::rfc3339;

const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;
const QUARTER_MS: u64 = 90 * 24 * 3600 * 1000;

fn valid_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
        })
}

fn app_ipv4(app: &App) -> String {
    let h = fnv64(app.id.as_bytes());
    format!("66.241.{}.{}", 124 + (h % 4), 1 + (h >> 8) % 250)
}

fn app_ipv6(app: &App) -> String {
    let h = fnv64(app.id.as_bytes());
    format!("2a09:8280:1::{:x}:{:x}", (h >> 16) & 0xffff, h & 0xffff)
}

fn entries(c: &Certificate) -> Vec<types::CertificateEntry> {
    let mut out = Vec::new();
    if c.acme_requested {
        out.push(types::CertificateEntry {
            created_at: Some(rfc3339(c.created_ms)),
            expires_at: c
                .acme_issued
                .then(|| rfc3339(c.updated_ms.saturating_add(QUARTER_MS))),
            issued: Some(if c.acme_issued {
                ["rsa", "ecdsa"]
                    .iter()
                    .map(|t| types::IssuedCertificate {
                        certificate_authority: Some("lets_encrypt".to_string()),
                        expires_at: Some(rfc3339(c.updated_ms.saturating_add(QUARTER_MS))),
                        type_: Some((*t).to_string()),
                    })
                    .collect()
            } else {
                Vec::new()
            }),
            issuer: None,
            source: Some("fly".to_string()),
            status: Some(
                if c.acme_issued {
                    "active"
                } else {
                    "pending_validation"
                }
                .to_string(),
            ),
        });
    }
    if c.custom {
        out.push(types::CertificateEntry {
            created_at: Some(rfc3339(c.created_ms)),
            expires_at: Some(rfc3339(c.created_ms.saturating_add(YEAR_MS))),
            issued: Some(vec![types::IssuedCertificate {
                certificate_authority: Some("custom".to_string()),
                expires_at: Some(rfc3339(c.created_ms.saturating_add(YEAR_MS))),
                type_: Some("ecdsa".to_string()),
            }]),
            issuer: Some("Custom CA".to_string()),
            source: Some("custom".to_string()),
            status: Some("active".to_string()),
        });
    }
    out
}

fn status(c: &Certificate) -> &'static str {
    if c.custom || c.acme_issued {
        "active"
    } else {
        "pending_validation"
    }
}

fn detail(app: &App, c: &Certificate) -> types::CertificateDetail {
    let configured = c.custom || c.acme_issued;
    types::CertificateDetail {
        acme_requested: Some(c.acme_requested),
        certificates: Some(entries(c)),
        configured: Some(configured),
        dns_provider: Some("unknown".to_string()),
        dns_requirements: Some(types::DnsRequirements {
            a: Some(vec![app_ipv4(app)]),
            aaaa: Some(vec![app_ipv6(app)]),
            acme_challenge: Some(types::AcmeChallenge {
                name: Some(format!("_acme-challenge.{}", c.hostname)),
                target: Some(format!("{}.{}.flydns.net", c.hostname, app.name)),
            }),
            cname: Some(format!("{}.fly.dev", app.name)),
            ownership: Some(types::OwnershipVerification {
                app_value: Some(format!("app-{}", app.id)),
                name: Some(format!("_fly-ownership.{}", c.hostname)),
                org_value: Some(format!("org-{}", app.org_slug)),
            }),
        }),
        hostname: Some(c.hostname.clone()),
        rate_limited_until: None,
        status: Some(status(c).to_string()),
        validation: Some(types::CertificateValidation {
            alpn_configured: Some(configured),
            dns_configured: Some(configured),
            http_configured: Some(configured),
            ownership_txt_configured: Some(configured),
        }),
        validation_errors: Some(Vec::new()),
    }
}

fn cert<'a>(app: &'a mut App, host: &str) -> Result<&'a mut Certificate, ApiError> {
    app.certs
        .get_mut(host)
        .ok_or_else(|| ApiError::not_found(format!("certificate for {host} not found")))
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let filter = req.query_param("filter").unwrap_or_default().to_string();
    let limit = req.query_int("limit")?.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and 500, got {limit}"
        )));
    }
    let start = match req.query_param("cursor").filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid cursor {c:?}")))?,
        None => 0,
    };
    let app = env.world.app(req.path_param("app_name"))?;
    let matching: Vec<&Certificate> = app
        .certs
        .values()
        .filter(|c| c.hostname.contains(filter.as_str()))
        .collect();
    let total = matching.len();
    let page: Vec<types::CertificateSummary> = matching
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|c| {
            let configured = c.custom || c.acme_issued;
            types::CertificateSummary {
                acme_alpn_configured: Some(configured),
                acme_dns_configured: Some(configured),
                acme_http_configured: Some(configured),
                acme_requested: Some(c.acme_requested),
                configured: Some(configured),
                created_at: Some(rfc3339(c.created_ms)),
                dns_provider: Some("unknown".to_string()),
                has_custom_certificate: Some(c.custom),
                has_fly_certificate: Some(c.acme_issued),
                hostname: Some(c.hostname.clone()),
                ownership_txt_configured: Some(configured),
                status: Some(status(c).to_string()),
                updated_at: Some(rfc3339(c.updated_ms)),
            }
        })
        .collect();
    let end = start + page.len();
    ok_json(types::ListCertificatesResponse {
        certificates: Some(page),
        next_cursor: (end < total).then(|| end.to_string()),
        total_count: Some(total as i64),
    })
}

fn add_hostname<'a>(
    app: &'a mut App,
    host: &str,
    now: u64,
) -> Result<&'a mut Certificate, ApiError> {
    if !valid_hostname(host) {
        return Err(ApiError::unprocessable(
            "invalid_hostname",
            format!("{host:?} is not a valid hostname"),
        ));
    }
    Ok(app
        .certs
        .entry(host.to_string())
        .or_insert_with(|| Certificate {
            hostname: host.to_string(),
            created_ms: now,
            updated_ms: now,
            acme_requested: false,
            acme_issued: false,
            custom: false,
        }))
}

pub(crate) fn acme_create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateAcmeCertificateRequest,
) -> HandlerResult {
    let host = body
        .hostname
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::unprocessable("invalid_hostname", "hostname is required"))?;
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    if app.certs.get(&host).is_some_and(|c| c.acme_requested) {
        return Err(ApiError::unprocessable(
            "already_exists",
            format!("a certificate for {host} has already been requested"),
        ));
    }
    let c = add_hostname(app, &host, now)?;
    c.acme_requested = true;
    c.updated_ms = now;
    let c = c.clone();
    Ok(Reply::json(StatusCode::CREATED, detail(app, &c)))
}

pub(crate) fn custom_create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::CreateCustomCertificateRequest,
) -> HandlerResult {
    let host = body
        .hostname
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::unprocessable("invalid_hostname", "hostname is required"))?;
    let chain_ok = body
        .fullchain
        .as_deref()
        .is_some_and(|c| c.contains("BEGIN CERTIFICATE"));
    let key_ok = body
        .private_key
        .as_deref()
        .is_some_and(|k| k.contains("PRIVATE KEY"));
    if !chain_ok || !key_ok {
        return Err(ApiError::unprocessable(
            "invalid_certificate",
            "fullchain must hold PEM certificates and private_key a PEM private key",
        ));
    }
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let c = add_hostname(app, &host, now)?;
    c.custom = true;
    c.updated_ms = now;
    let c = c.clone();
    Ok(Reply::json(StatusCode::CREATED, detail(app, &c)))
}

pub(crate) fn show(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = env.world.app(req.path_param("app_name"))?;
    let c = cert(app, req.path_param("hostname"))?.clone();
    ok_json(detail(app, &c))
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let host = req.path_param("hostname");
    let app = env.world.app(req.path_param("app_name"))?;
    app.certs
        .remove(host)
        .ok_or_else(|| ApiError::not_found(format!("certificate for {host} not found")))?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(crate) fn acme_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let c = cert(app, req.path_param("hostname"))?;
    c.acme_requested = false;
    c.acme_issued = false;
    c.updated_ms = now;
    let c = c.clone();
    ok_json(detail(app, &c))
}

pub(crate) fn custom_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let c = cert(app, req.path_param("hostname"))?;
    if !c.custom {
        return Err(ApiError::not_found(format!(
            "no custom certificate for {}",
            c.hostname
        )));
    }
    c.custom = false;
    c.updated_ms = now;
    let c = c.clone();
    let d = detail(app, &c);
    ok_json(types::DestroyCustomCertificateResponse {
        acme_requested: d.acme_requested,
        certificates: d.certificates,
        configured: d.configured,
        dns_provider: d.dns_provider,
        dns_requirements: d.dns_requirements,
        hostname: d.hostname,
        rate_limited_until: d.rate_limited_until,
        status: d.status,
        validation: d.validation,
        validation_errors: d.validation_errors,
        warning: (!c.acme_requested).then(|| {
            "no certificate is left for this hostname; TLS will fail until one is added".to_string()
        }),
    })
}

pub(crate) fn check(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let c = cert(app, req.path_param("hostname"))?;
    if c.acme_requested && !c.acme_issued {
        c.acme_issued = true;
        c.updated_ms = now;
    }
    let c = c.clone();
    let d = detail(app, &c);
    ok_json(types::CertificateCheckResponse {
        acme_requested: d.acme_requested,
        certificates: d.certificates,
        configured: d.configured,
        dns_provider: d.dns_provider,
        dns_records: Some(types::DnsRecords {
            a: Some(vec![app_ipv4(app)]),
            aaaa: Some(vec![app_ipv6(app)]),
            acme_challenge_cname: Some(format!("{}.{}.flydns.net", c.hostname, app.name)),
            cname: Some(vec![format!("{}.fly.dev", app.name)]),
            ownership_txt: Some(format!("app-{}", app.id)),
            resolved_addresses: Some(vec![app_ipv4(app), app_ipv6(app)]),
            soa: Some(format!("ns1.{}", c.hostname)),
        }),
        dns_requirements: d.dns_requirements,
        hostname: d.hostname,
        rate_limited_until: None,
        status: d.status,
        validation: d.validation,
        validation_errors: d.validation_errors,
    })
}

pub(crate) fn ips_list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = env.world.app(req.path_param("app_name"))?;
    ok_json(types::ListIpAssignmentsResponse {
        ips: Some(app.ips.clone()),
    })
}

/// The address of one kind for the app's `n`th assignment.
fn new_address(app: &App, kind: &str, n: u64) -> String {
    let h = fnv64(app.id.as_bytes());
    match kind {
        "v6" => format!("2a09:8280:1::{:x}:{n:x}", h & 0xffff),
        "v4" => format!("137.66.{}.{}", (h >> 8) % 250 + 1, n % 250 + 1),
        "egress_v4" => format!("209.71.{}.{}", (h >> 16) % 250 + 1, n % 250 + 1),
        "egress_v6" => format!("2a09:8280:e::{:x}:{n:x}", h & 0xffff),
        _ => format!("fdaa:0:{:x}:0:1::{n:x}", app.numeric_id % 0xffff),
    }
}

/// The 6PN network a Flycast address sits on (`name` empty for the org's default network).
fn flycast_network(app: &App, network: Option<String>) -> types::IpAssignmentNetwork {
    types::IpAssignmentNetwork {
        name: Some(network.unwrap_or_default()),
        org_slug: Some(app.org_slug.clone()),
    }
}

pub(crate) fn ips_create(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::AssignIpRequest,
) -> HandlerResult {
    let kind = body.type_.as_ref().map_or("v6", |t| t.as_str()).to_string();
    const KINDS: &[&str] = &[
        "v6",
        "v4",
        "shared_v4",
        "private_v6",
        "egress_v4",
        "egress_v6",
        "egress_pair",
    ];
    if !KINDS.contains(&kind.as_str()) {
        return Err(ApiError::bad_request(format!(
            "type must be one of {}; got {kind:?}",
            KINDS.join(", ")
        )));
    }
    let egress = kind.starts_with("egress");
    let region = body.region.filter(|r| !r.is_empty());
    // Egress addresses belong to one region, so one must be named.
    let region = match (egress, region) {
        (true, Some(r)) if crate::api::platform::is_region(&r) => r,
        (true, other) => {
            return Err(ApiError::bad_request(format!(
                "egress addresses need the region they leave from; got {:?}",
                other.unwrap_or_default()
            )));
        }
        (false, r) => r.unwrap_or_else(|| "global".to_string()),
    };
    let network = body.network.filter(|n| !n.is_empty());
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let n = app.ips.len() as u64 + 1;
    let addresses: Vec<(String, &str)> = match kind.as_str() {
        "shared_v4" => vec![(app_ipv4(app), "shared_v4")],
        "egress_pair" => vec![
            (new_address(app, "egress_v4", n), "egress_v4"),
            (new_address(app, "egress_v6", n), "egress_v6"),
        ],
        other => vec![(new_address(app, other, n), other)],
    };
    for (ip, _) in &addresses {
        if app.ips.iter().any(|i| i.ip.as_deref() == Some(ip.as_str())) {
            return Err(ApiError::unprocessable(
                "already_exists",
                format!("the app already has the address {ip}"),
            ));
        }
    }
    let flycast = (kind == "private_v6").then(|| flycast_network(app, network));
    for (ip, of_kind) in &addresses {
        app.ips.push(types::IpAssignment {
            created_at: Some(rfc3339(now)),
            egress: Some(egress),
            ip: Some(ip.clone()),
            network: flycast.clone(),
            region: Some(region.clone()),
            service_name: body.service_name.clone(),
            shared: Some(*of_kind == "shared_v4"),
        });
    }
    // A pair answers both addresses in `ip_pair` and no `ip`.
    let (ip, ip_pair) = match addresses.as_slice() {
        [(v4, _), (v6, _)] => (
            None,
            Some(types::IpPair {
                v4: Some(v4.clone()),
                v6: Some(v6.clone()),
            }),
        ),
        [(one, _), ..] => (Some(one.clone()), None),
        [] => (None, None),
    };
    ok_json(types::AssignIpResponse {
        created_at: Some(rfc3339(now)),
        egress: Some(egress),
        ip,
        ip_pair,
        network: flycast,
        region: Some(region),
        service_name: body.service_name,
        shared: Some(kind == "shared_v4"),
    })
}

pub(crate) fn ips_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let ip = req.path_param("ip");
    let app = env.world.app(req.path_param("app_name"))?;
    let before = app.ips.len();
    app.ips.retain(|i| i.ip.as_deref() != Some(ip));
    if app.ips.len() == before {
        return Err(ApiError::not_found(format!("IP address {ip} not found")));
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
