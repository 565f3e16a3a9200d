//! Small helpers: identifiers, timestamps, hashing, and the reply/error types every handler uses.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use base64::Engine as _;
use rand::{Rng, rngs::StdRng};
use serde::Serialize;

/// Crockford's base32 alphabet, used by ULIDs.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 26-character ULID whose time part is `ms` and whose random part comes from `rng`.
pub(crate) fn ulid(ms: u64, rng: &mut StdRng) -> String {
    ulid_from(ms, rng.random::<u128>())
}

/// A 26-character ULID from a time and 80 bits taken from `random`.
pub(crate) fn ulid_from(ms: u64, random: u128) -> String {
    let value: u128 = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | (random >> 48);
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as u32;
        *slot = CROCKFORD[((value >> shift) & 0x1F) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `len` random lowercase hex digits.
pub(crate) fn hex_id(len: usize, rng: &mut StdRng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

/// `len` random characters from `[a-z0-9]`.
pub(crate) fn alnum_id(len: usize, rng: &mut StdRng) -> String {
    const ALNUM: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..36)] as char)
        .collect()
}

/// FNV-1a, 64 bits: a stable, non-cryptographic digest for simulated hashes.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `n` deterministic pseudo-random bytes derived from `seed` (splitmix64). Not cryptographic.
pub(crate) fn stream_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

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

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 UTC timestamp with milliseconds, e.g. `2025-01-01T00:00:00.000Z`.
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms % 1000
    )
}

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction) into Unix milliseconds.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut frac_ms = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let padded = format!("{digits:0<3}");
        frac_ms = padded[..3].parse().ok()?;
        rest = &f[digits.len()..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60;
    u64::try_from(secs * 1000 + frac_ms).ok()
}

/// A Fly-shaped error: `{"error": message, "status": code}` with an HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) http: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Lease endpoints answer errors in their `{status, code, message}` envelope.
    pub(crate) envelope: bool,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(http: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            http,
            code,
            message: message.into(),
            envelope: false,
            headers: Vec::new(),
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub(crate) fn precondition(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "failed_precondition",
            message,
        )
    }
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    /// Marks the error as one to be sent in the lease envelope shape.
    pub(crate) fn in_envelope(mut self) -> Self {
        self.envelope = true;
        self
    }

    pub(crate) fn into_reply(self) -> Reply {
        let body = if self.envelope {
            serde_json::json!({
                "status": "error",
                "code": self.code,
                "message": self.message,
                "error": self.message,
            })
        } else {
            serde_json::json!({ "error": self.message, "status": self.code })
        };
        Reply {
            status: self.http,
            body: ReplyBody::Json(serde_json::to_vec(&body).unwrap_or_default()),
            headers: self.headers,
        }
    }
}

/// What a handler answers before the common layer adds the request id.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: ReplyBody,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// The body of a [`Reply`].
#[derive(Debug)]
pub(crate) enum ReplyBody {
    Empty,
    Json(Vec<u8>),
    Text(String),
}

impl Reply {
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(bytes) => Reply {
                status,
                body: ReplyBody::Json(bytes),
                headers: Vec::new(),
            },
            Err(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown",
                format!("could not encode the response: {e}"),
            )
            .into_reply(),
        }
    }
    pub(crate) fn ok<T: Serialize>(value: &T) -> Reply {
        Reply::json(StatusCode::OK, value)
    }
    pub(crate) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        }
    }
    pub(crate) fn text(status: StatusCode, text: String) -> Reply {
        Reply {
            status,
            body: ReplyBody::Text(text),
            headers: Vec::new(),
        }
    }
}

/// The result every handler returns.
pub(crate) type HResult = Result<Reply, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0u64, 1_735_689_600_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(rfc3339(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2025-01-01T01:00:00+01:00"),
            Some(1_735_689_600_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00+0\u{e9}00"), None);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00.Z"), None);
    }

    #[test]
    fn ulids_are_26_crockford_chars_and_time_ordered() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = ulid(1_000, &mut rng);
        let b = ulid(2_000, &mut rng);
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)));
        assert!(a < b);
    }
}
