//! Auth: `Authorization: Bearer <token>` or `FlyV1 <token>`, minted deploy tokens scoped to
//! their app, and the `Host` a loopback emulator answers to.

use axum::http::{HeaderMap, StatusCode, header};

use crate::emulator::{Emulator, lock};
use crate::errors::ApiError;
use crate::request::PathParams;

/// A deploy token minted by `POST /apps/{app}/deploy_token`: good for its app (and calls that
/// name neither an app nor an org) until the app is deleted.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// The token as handed out (`FlyV1 fm2_...`).
    pub(crate) token: String,
    pub(crate) app: String,
}

impl IssuedToken {
    /// Whether this token may make a call with these path parameters.
    fn covers(&self, params: &PathParams) -> bool {
        let app = params.get("app_name");
        let org = params.get("org_slug");
        (app.is_empty() || app == self.app) && org.is_empty()
    }
}

/// Refuses a `Host` an emulator bound to loopback would never be reached by legitimately: a
/// name that resolves to 127.0.0.1 only because someone's DNS says so (DNS rebinding from a web
/// page). IP literals, `localhost`, `*.localhost` and `_api.internal` (Fly's private name,
/// which no public DNS answers) are accepted.
pub(crate) fn check_host(emulator: &Emulator, headers: &HeaderMap) -> Result<(), ApiError> {
    if !emulator.settings.loopback_only {
        return Ok(());
    }
    let Some(value) = headers.get(header::HOST) else {
        return Ok(());
    };
    let host = value.to_str().unwrap_or_default();
    if host_is_local(host) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected_request",
        "this emulator listens on loopback and answers only to an IP address, localhost or \
         _api.internal in the Host header",
    ))
}

/// Whether a `Host` value names this machine without asking DNS.
fn host_is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal: `[::1]:4280`.
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || name == "_api.internal"
}

pub(crate) fn authenticate(
    emulator: &Emulator,
    headers: &HeaderMap,
    params: &PathParams,
) -> Result<(), ApiError> {
    if !emulator.settings.auth {
        return Ok(());
    }
    let unauthorized = |msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "You must be authenticated to view this: send Authorization: Bearer <token> or FlyV1 <token>",
        ));
    };
    let Some(token) = bearer(value.to_str().unwrap_or_default()) else {
        return Err(unauthorized(
            "Authenticate: expected `Bearer <token>` or `FlyV1 <token>`",
        ));
    };
    if token_matches(&emulator.settings.token, token) {
        return Ok(());
    }
    let w = lock(&emulator.world);
    match w.issued_tokens.iter().find(|t| same_token(&t.token, token)) {
        Some(issued) if issued.covers(params) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unauthorized",
            "this deploy token is scoped to another app",
        )),
        None => Err(unauthorized("Authenticate: token validation error")),
    }
}

/// The token of an `Authorization` value: `Bearer <token>` or `FlyV1 <token>` (either case),
/// with a token that is not empty, holds no space, and, as a comma-separated list (macaroon
/// bundles), has no empty member. `None` for anything else.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("flyv1") {
        return None;
    }
    let token = token.trim();
    let well_formed = !token.is_empty()
        && !token.contains(char::is_whitespace)
        && token.split(',').all(|member| !member.is_empty());
    well_formed.then_some(token)
}

/// Whether `token` (already without its scheme) is the emulator's own: the token itself, or a
/// comma-separated bundle containing it. An empty expected token matches nothing.
pub(crate) fn token_matches(expected: &str, token: &str) -> bool {
    !expected.is_empty() && (token == expected || token.split(',').any(|t| t == expected))
}

/// Whether a minted token (`FlyV1 fm2_...`) is `token` (without its scheme).
pub(crate) fn same_token(issued: &str, token: &str) -> bool {
    !token.is_empty() && bearer(issued).is_some_and(|bare| bare == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values_are_parsed_strictly() {
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer  ",
            "Bearer x,",
            "Bearer ,x",
            "Bearer a b",
            "Basic x",
            "x",
            "FlyV1",
            "Bearer x,,y",
        ] {
            assert_eq!(bearer(bad), None, "{bad:?}");
        }
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("flyv1 fm2_a,fm2_b"), Some("fm2_a,fm2_b"));
        assert!(!token_matches("", ""));
        assert!(token_matches("t", "fm2_a,t"));
    }

    #[test]
    fn only_local_hosts_are_answered() {
        for ok in [
            "127.0.0.1:4280",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "[::1]:4280",
            "a.localhost:80",
            "_api.internal:4280",
            "10.0.0.1:80",
        ] {
            assert!(host_is_local(ok), "{ok}");
        }
        for bad in [
            "evil.example:4280",
            "localhost.evil.example",
            "[zz]:1",
            "example",
        ] {
            assert!(!host_is_local(bad), "{bad}");
        }
    }
}
