//! One error type for every call, with the facts needed to act on it.

use std::fmt;
use std::future::Future;

use fly_machines_api::ByteStream;
use futures::StreamExt;

use crate::types;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most of an error body we keep, in bytes; the rest is cut (and said so).
const MAX_BODY: usize = 1024 * 1024;

/// Fly's machine-readable error code (`status` in an error body). An open set: codes this
/// version does not know are kept as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An app or machine name is already in use.
    NameTaken,
    /// The region has no room for the requested machine.
    InsufficientCapacity,
    /// Fly said `unknown`.
    Unknown,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    /// Parses a code as sent by Fly.
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "name_taken" => ErrorCode::NameTaken,
            "insufficient_capacity" => ErrorCode::InsufficientCapacity,
            "unknown" => ErrorCode::Unknown,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    /// The code as Fly writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::InsufficientCapacity => "insufficient_capacity",
            ErrorCode::Unknown => "unknown",
            ErrorCode::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer from the Machines API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The operation id, e.g. `Machines_start`.
    pub operation: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Fly's error code, when the body had one.
    pub code: Option<ErrorCode>,
    /// Human-readable message: Fly's `error`/`message`, or the body text when it was not JSON.
    pub message: String,
    /// The `fly-request-id` response header, for Fly support.
    pub request_id: Option<String>,
    /// How many times the request was sent.
    pub attempts: u32,
    /// The raw body as text (cut at 1 MiB).
    pub body: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with HTTP {}", self.operation, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [fly-request-id {id}]")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request could not be sent or the answer could not be read.
    #[error("{operation}: transport error after {attempts} attempt(s): {source}")]
    Transport {
        /// The operation id.
        operation: &'static str,
        /// How many times the request was sent.
        attempts: u32,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered success, but the body was not what the operation returns.
    #[error("{operation}: could not decode the HTTP {status} response: {message}")]
    Decode {
        /// The operation id.
        operation: &'static str,
        /// HTTP status code.
        status: u16,
        /// What the decoder said.
        message: String,
        /// The body as text (cut at 1 MiB).
        body: String,
    },
    /// A value given to the client was rejected before any request was made.
    #[error("invalid {what} {value:?}: expected {expected}")]
    InvalidInput {
        /// What the value is (`app name`, `machine id`, ...).
        what: &'static str,
        /// The value as given (tokens are never shown).
        value: String,
        /// What was expected instead.
        expected: String,
    },
    /// A machine config value broke one of Fly's rules (a guest size, a protocol, an env name,
    /// ...), caught before any request was made. [`RuleError::rule`] says which rule.
    ///
    /// [`RuleError::rule`]: crate::guest::rules::RuleError::rule
    #[error("{0}")]
    Rule(#[from] fly_machines_rules::RuleError),
    /// The client is not configured (e.g. no token).
    #[error("configuration: {0}")]
    Config(String),
    /// A wait ended without reaching the wanted state.
    #[error("{0}")]
    Wait(#[from] crate::wait::WaitError),
    /// The answer's body was larger than the client accepts; it was not read past the limit.
    #[error(
        "{operation}: the response body is larger than the limit of {limit} bytes (at least \
         {size} bytes); raise it with ClientBuilder::max_response_bytes"
    )]
    ResponseTooLarge {
        /// The operation id.
        operation: &'static str,
        /// The limit in force, in bytes.
        limit: u64,
        /// The announced length, or how much had been read when reading stopped.
        size: u64,
    },
    /// The client refused an answer before decoding it (it came from another origin than the
    /// base URL's, through a redirect).
    #[error("{operation}: refused the answer: {reason}")]
    ResponseRefused {
        /// The operation id.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid_input(what: &'static str, value: &str, expected: &str) -> Error {
        Error::InvalidInput {
            what,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The rule a config value broke, when this is a rule error.
    pub fn rule(&self) -> Option<&fly_machines_rules::RuleError> {
        match self {
            Error::Rule(e) => Some(e),
            _ => None,
        }
    }

    /// The API error details, when this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Fly's error code, when the API sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().and_then(|e| e.code.as_ref())
    }

    /// The `fly-request-id` of the failed call.
    pub fn request_id(&self) -> Option<&str> {
        self.api().and_then(|e| e.request_id.as_deref())
    }

    /// How many times the request was sent, where known.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Api(e) => Some(e.attempts),
            Error::Transport { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// 404: the app, machine or resource does not exist (or is not visible yet).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409: the call conflicts with the resource's current state, leases included.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 409 caused by a lease held by someone else, or a missing or wrong lease nonce.
    pub fn is_lease_conflict(&self) -> bool {
        self.is_conflict()
            && self.api().is_some_and(|e| {
                e.message.to_ascii_lowercase().contains("lease") || e.body.contains("lease")
            })
    }

    /// 412: a precondition failed, e.g. starting a machine that is not stopped.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// 429: Fly's rate limit refused the call (after our retries), or our own limiter would have
    /// waited longer than its configured maximum (code `client_rate_limited`).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// The region has no capacity for the machine.
    pub fn is_capacity(&self) -> bool {
        self.code() == Some(&ErrorCode::InsufficientCapacity)
    }

    /// A timeout: HTTP 408, a request that timed out, or a wait that ran out of time.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_timeout(),
            Error::Wait(w) => w.is_timeout(),
            other => other.status() == Some(408),
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => {
                source.is_connect() || source.is_timeout() || source.is_request()
            }
            other => matches!(other.status(), Some(408 | 429 | 500 | 502 | 503 | 504)),
        }
    }

    /// Builds the error for a failed raw call. Reads the body of unexpected responses.
    pub(crate) async fn from_raw<E: ErrorBody>(
        operation: &'static str,
        err: fly_machines_api::Error<E>,
        attempts: u32,
    ) -> Error {
        use fly_machines_api::Error as Raw;
        match err {
            Raw::ErrorResponse(value) => {
                let status = value.status().as_u16();
                let request_id = request_id(value.headers());
                let body = value.into_inner().into_text().await;
                api_error(operation, status, request_id, body, attempts)
            }
            Raw::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let request_id = request_id(response.headers());
                let body = read_capped(response).await;
                if (200..300).contains(&status) {
                    return Error::Decode {
                        operation,
                        status,
                        message:
                            "the API answered with a success status this operation does not declare"
                                .into(),
                        body,
                    };
                }
                api_error(operation, status, request_id, body, attempts)
            }
            Raw::InvalidResponsePayload(bytes, e) => Error::Decode {
                operation,
                status: 200,
                message: e.to_string(),
                body: text_of(&bytes),
            },
            Raw::CommunicationError(source) | Raw::ResponseBodyError(source) => {
                match crate::body_limit::too_large(&source) {
                    Some(too_large) => Error::ResponseTooLarge {
                        operation,
                        limit: too_large.limit,
                        size: too_large.size,
                    },
                    None => Error::Transport {
                        operation,
                        attempts,
                        source,
                    },
                }
            }
            Raw::InvalidUpgrade(source) => Error::Transport {
                operation,
                attempts,
                source,
            },
            Raw::InvalidRequest(message) => Error::InvalidInput {
                what: "request",
                value: operation.to_string(),
                expected: message,
            },
            // The hooks raise `Custom` only when the policy refuses an answer.
            Raw::Custom(reason) => Error::ResponseRefused { operation, reason },
        }
    }
}

impl From<crate::guest::GuestError> for Error {
    fn from(e: crate::guest::GuestError) -> Error {
        Error::Rule(e.into_rule_error())
    }
}

fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("fly-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads at most [`MAX_BODY`] bytes of a response body as text.
async fn read_capped(response: reqwest::Response) -> String {
    let mut stream = response.bytes_stream();
    let mut buf = Vec::new();
    let mut cut = false;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        let room = MAX_BODY.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    let mut text = text_of(&buf);
    if cut {
        text.push_str("…[cut at 1 MiB]");
    }
    text
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]).into_owned()
}

/// Turns an error body (Fly's `{error, status}`, the lease envelope, or plain text) into an error.
fn api_error(
    operation: &'static str,
    status: u16,
    request_id: Option<String>,
    body: String,
    attempts: u32,
) -> Error {
    let (code, message) = parse_error_body(&body);
    Error::Api(Box::new(ApiError {
        operation,
        status,
        code,
        message,
        request_id,
        attempts,
        body,
    }))
}

/// Extracts Fly's code and message from an error body; non-JSON bodies become the message.
pub(crate) fn parse_error_body(body: &str) -> (Option<ErrorCode>, String) {
    #[derive(serde::Deserialize)]
    struct Shape {
        error: Option<serde_json::Value>,
        status: Option<serde_json::Value>,
        message: Option<String>,
        code: Option<String>,
    }
    match serde_json::from_str::<Shape>(body) {
        Ok(shape) => {
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // `{error, status}` is Fly's usual shape; the lease envelope uses `{status: "error",
            // message, code}`.
            let envelope = shape.message.is_some() || shape.code.is_some();
            let code = if envelope {
                shape.code.map(|c| ErrorCode::parse(&c))
            } else {
                shape.status.as_ref().map(|s| ErrorCode::parse(&text(s)))
            };
            let message = shape
                .error
                .as_ref()
                .map(text)
                .or(shape.message)
                .unwrap_or_default();
            (code, message)
        }
        Err(_) => {
            let trimmed = body.trim();
            let message: String = trimmed.chars().take(512).collect();
            (None, message)
        }
    }
}

/// Error bodies the generated client can hand back, turned into text for uniform parsing.
pub trait ErrorBody: Send {
    /// The body as text.
    fn into_text(self) -> impl Future<Output = String> + Send;
}

impl ErrorBody for () {
    async fn into_text(self) -> String {
        String::new()
    }
}

impl ErrorBody for types::ErrorResponse {
    async fn into_text(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

impl ErrorBody for types::LeaseEnvelope {
    async fn into_text(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

impl ErrorBody for types::PostgresErrorResponse {
    async fn into_text(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

impl ErrorBody for ByteStream {
    async fn into_text(self) -> String {
        let mut stream = self.into_inner();
        let mut buf = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.extend_from_slice(&chunk);
            if buf.len() > MAX_BODY {
                break;
            }
        }
        text_of(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_keep_known_unknown_and_plain_text_codes() {
        let (code, msg) = parse_error_body(
            r#"{"error":"Validation failed: Name has already been taken","status":"name_taken"}"#,
        );
        assert_eq!(code, Some(ErrorCode::NameTaken));
        assert!(msg.contains("already been taken"));
        let (code, _) = parse_error_body(r#"{"error":"x","status":"brand_new_code"}"#);
        assert_eq!(code, Some(ErrorCode::Other("brand_new_code".into())));
        let (code, msg) = parse_error_body("<html>bad gateway</html>");
        assert_eq!(code, None);
        assert_eq!(msg, "<html>bad gateway</html>");
        let (code, msg) = parse_error_body(
            r#"{"status":"error","message":"lease currently held by x","code":"invalid"}"#,
        );
        assert_eq!(code, Some(ErrorCode::Other("invalid".into())));
        assert!(msg.contains("lease"));
    }

    #[test]
    fn predicates_follow_status_and_code() {
        let err = |status: u16, body: &str| {
            api_error(
                "Machines_start",
                status,
                Some("req-1".into()),
                body.into(),
                1,
            )
        };
        assert!(err(404, "").is_not_found());
        assert!(err(412, "").is_precondition_failed());
        assert!(err(429, "").is_rate_limited() && err(429, "").is_retryable());
        assert!(err(409, r#"{"error":"machine lease held"}"#).is_lease_conflict());
        assert!(err(409, r#"{"error":"other"}"#).is_conflict());
        assert!(!err(409, r#"{"error":"other"}"#).is_lease_conflict());
        assert!(
            err(
                503,
                r#"{"error":"no room","status":"insufficient_capacity"}"#
            )
            .is_capacity()
        );
        assert!(err(408, "").is_timeout());
        assert!(!err(400, "").is_retryable());
        let shown = err(422, r#"{"error":"taken","status":"name_taken"}"#).to_string();
        assert!(
            shown.contains("Machines_start")
                && shown.contains("422")
                && shown.contains("name_taken")
                && shown.contains("req-1"),
            "{shown}"
        );
    }
}
