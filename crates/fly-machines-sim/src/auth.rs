//! Auth: `Authorization: Bearer <token>` or `FlyV1 <token>`, and minted deploy tokens.

use axum::http::{HeaderMap, StatusCode, header};

use crate::emulator::{Emulator, lock};
use crate::errors::ApiError;

pub(crate) fn authenticate(emulator: &Emulator, headers: &HeaderMap) -> Result<(), ApiError> {
    if !emulator.settings.auth {
        return Ok(());
    }
    let unauthorized = |msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "You must be authenticated to view this: send Authorization: Bearer <token> or FlyV1 <token>",
        ));
    };
    let value = value.to_str().unwrap_or_default().trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("flyv1") {
        return Err(unauthorized(
            "Authenticate: unsupported authorization scheme (expected Bearer or FlyV1)",
        ));
    }
    let ok = token_matches(&emulator.settings.token, &[], token) || {
        let w = lock(&emulator.world);
        token_matches(&emulator.settings.token, &w.issued_tokens, token)
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized("Authenticate: token validation error"))
    }
}

/// Whether `token` (the Authorization value without its scheme) is accepted: the emulator's
/// token, a comma-separated list containing it, or a token minted by the deploy-token endpoint.
pub(crate) fn token_matches(expected: &str, issued: &[String], token: &str) -> bool {
    let token = token.trim();
    let bare = |t: &str| {
        let t = t.trim();
        t.strip_prefix("FlyV1 ")
            .or_else(|| t.strip_prefix("Bearer "))
            .unwrap_or(t)
            .trim()
            .to_string()
    };
    let token = bare(token);
    token == expected
        || token.split(',').any(|t| t.trim() == expected)
        || issued.iter().any(|t| bare(t) == token)
}
