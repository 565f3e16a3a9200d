//! Base64 in the three spellings the API uses.

use base64::Engine as _;

use crate::errors::ApiError;

/// Standard base64 with padding, as Go encodes `[]byte`.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64 (padding optional).
pub(crate) fn unb64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    let engine = base64::engine::general_purpose::STANDARD;
    engine
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|e| ApiError::bad_request(format!("{field} must be base64-encoded bytes: {e}")))
}

/// Unpadded URL-safe base64, as used in JWTs.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
