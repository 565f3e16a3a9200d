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

/// Fly's machine-readable error code (`status` in an error body, `code` in a lease envelope).
///
/// Names every value of Fly's `StatusCode` set plus the gRPC-style codes some endpoints send;
/// an open set, so a code this version does not know is kept as [`ErrorCode::Other`] rather
/// than lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `unknown`: Fly did not classify the failure.
    Unknown,
    /// `insufficient_capacity`: the region has no room for the machine.
    InsufficientCapacity,
    /// `volume_placement_capacity`: no host can hold the volume with the machine.
    VolumePlacementCapacity,
    /// `name_taken`: an app or machine name is already in use.
    NameTaken,
    /// `not_found`: the app, machine or resource does not exist.
    NotFound,
    /// `failed_precondition`: the resource is not in a state that allows the call.
    FailedPrecondition,
    /// `invalid_argument`: a value in the request was refused.
    InvalidArgument,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    /// Every named code with its wire spelling (for parsing, display and tests).
    const NAMED: [(ErrorCode, &'static str); 7] = [
        (ErrorCode::Unknown, "unknown"),
        (ErrorCode::InsufficientCapacity, "insufficient_capacity"),
        (
            ErrorCode::VolumePlacementCapacity,
            "volume_placement_capacity",
        ),
        (ErrorCode::NameTaken, "name_taken"),
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::FailedPrecondition, "failed_precondition"),
        (ErrorCode::InvalidArgument, "invalid_argument"),
    ];

    /// Parses a code as sent by Fly; unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> ErrorCode {
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == code)
            .map_or_else(|| ErrorCode::Other(code.to_string()), |(c, _)| c.clone())
    }

    /// The code as Fly writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            named => Self::NAMED
                .iter()
                .find(|(c, _)| c == named)
                .map_or("unknown", |(_, name)| *name),
        }
    }

    /// No room for the machine or its volume (`insufficient_capacity`,
    /// `volume_placement_capacity`): try another region or size.
    pub fn is_capacity(&self) -> bool {
        matches!(
            self,
            ErrorCode::InsufficientCapacity | ErrorCode::VolumePlacementCapacity
        )
    }

    /// The name is in use (`name_taken`).
    pub fn is_name_taken(&self) -> bool {
        *self == ErrorCode::NameTaken
    }

    /// The resource does not exist (`not_found`).
    pub fn is_not_found(&self) -> bool {
        *self == ErrorCode::NotFound
    }

    /// The resource's state forbids the call (`failed_precondition`).
    pub fn is_failed_precondition(&self) -> bool {
        *self == ErrorCode::FailedPrecondition
    }

    /// A request value was refused (`invalid_argument`).
    pub fn is_invalid_argument(&self) -> bool {
        *self == ErrorCode::InvalidArgument
    }

    /// Fly said `unknown`.
    pub fn is_unknown(&self) -> bool {
        *self == ErrorCode::Unknown
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

/// A create that took effect but whose answer could not be decoded: see
/// [`Error::CreatedUnreadable`].
#[derive(Debug, Clone)]
pub struct CreatedUnreadable {
    /// The operation id, e.g. `Machines_create`.
    pub operation: &'static str,
    /// The success status the API answered.
    pub status: u16,
    /// The new resource's `id`, when the body had one at its top level (or in `data`).
    pub id: Option<String>,
    /// The idempotency key the create carried, if any: a later create or `ensure` with the
    /// same key finds the resource instead of making another.
    pub idempotency_key: Option<String>,
    /// What the decoder said.
    pub message: String,
    /// The body as text (cut at 1 MiB).
    pub body: String,
}

impl fmt::Display for CreatedUnreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the API answered HTTP {} (created), but the answer could not be decoded: {}",
            self.operation, self.status, self.message
        )?;
        if let Some(id) = &self.id {
            write!(f, "; the new resource's id is {id}")?;
        }
        if let Some(key) = &self.idempotency_key {
            write!(f, "; it carries idempotency key {key:?}")?;
        }
        f.write_str("; do not create it again")
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
    /// A paged listing stopped: the server repeated a cursor, paged past the bound, or refused
    /// an (expired) cursor.
    #[error("{0}")]
    Paging(#[from] crate::paging::PagingError),
    /// A Postgres cluster did not become ready.
    #[error("{0}")]
    ClusterWait(#[from] crate::resources::postgres::ClusterWaitError),
    /// The answer was larger than the client accepts: its body was not read past the byte
    /// limit, or what it would decode into was not decoded past the decode budget (twice the
    /// byte limit, counted as the sizes of list elements and map entries).
    #[error(
        "{operation}: the response is larger than the limit of {limit} bytes (at least {size} \
         bytes, as read or as decoded); raise it with ClientBuilder::max_response_bytes"
    )]
    ResponseTooLarge {
        /// The operation id.
        operation: &'static str,
        /// The limit in force, in bytes: the byte limit, or the decode budget.
        limit: u64,
        /// The announced length, how much had been read when reading stopped, or how much the
        /// decoded values took when decoding stopped.
        size: u64,
    },
    /// A create the API answered with success, but whose answer could not be read (schema
    /// drift is enough): the resource exists, so sending the create again would make a second
    /// one. What is known of it is kept; [`Error::is_ambiguous`] is `false`.
    #[error("{0}")]
    CreatedUnreadable(Box<CreatedUnreadable>),
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

    /// 404 or code `not_found`: the app, machine or resource does not exist (or is not
    /// visible yet).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) || self.code().is_some_and(ErrorCode::is_not_found)
    }

    /// 410: the resource existed but is gone for good (Postgres clusters, for one).
    pub fn is_gone(&self) -> bool {
        self.status() == Some(410)
    }

    /// Code `name_taken`: the app or machine name is already in use.
    pub fn is_name_taken(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_name_taken)
    }

    /// 400/422 or code `invalid_argument`: a value in the request was refused.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self.status(), Some(400 | 422))
            || self.code().is_some_and(ErrorCode::is_invalid_argument)
    }

    /// 401 or 403: the token is missing, wrong, or not allowed this call.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
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

    /// 409 on an update sent with `current_version` (`.if_version(v)`, `modify_config`,
    /// `update_image`): the machine moved on to another version since it was read, and the
    /// update changed nothing. Read the machine again and redo the change.
    pub fn is_version_conflict(&self) -> bool {
        self.is_conflict()
            && !self.is_lease_conflict()
            && self.api().is_some_and(|e| {
                let text = format!("{} {}", e.message, e.body).to_ascii_lowercase();
                text.contains("version")
            })
    }

    /// 412 or code `failed_precondition`: a precondition failed, e.g. starting a machine
    /// that is not stopped.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412) || self.code().is_some_and(ErrorCode::is_failed_precondition)
    }

    /// 429: Fly's rate limit refused the call (after our retries), or our own limiter would have
    /// waited longer than its configured maximum (code `client_rate_limited`).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// No capacity for the machine or its volume (`insufficient_capacity` or
    /// `volume_placement_capacity`).
    pub fn is_capacity(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_capacity)
    }

    /// A timeout: HTTP 408, a request that timed out, or a wait that ran out of time.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_timeout(),
            Error::Wait(w) => w.is_timeout(),
            Error::ClusterWait(w) => w.is_timeout(),
            other => other.status() == Some(408),
        }
    }

    /// What went wrong, in the terms the retry policy decides on: `None` for an error that is
    /// not a failed attempt (4xx other than 408/429, bad input, decoding, waits).
    pub fn failure(&self) -> Option<crate::Failure> {
        match self {
            Error::Transport { source, .. } => crate::Failure::of_transport(source),
            Error::Api(e) => crate::Failure::of_status(e.status),
            _ => None,
        }
    }

    /// Whether the call may have taken effect although it failed: the request may have reached
    /// Fly, and the answer was lost or was a timeout or 5xx (the same failures the client never
    /// repeats on its own for a call that is not idempotent). A connection that was never made
    /// or a 429 is not ambiguous: nothing happened. Before repeating a create after an
    /// ambiguous failure, look for what it may have made (the `ensure` methods do this).
    pub fn is_ambiguous(&self) -> bool {
        self.failure().is_some_and(|f| !f.safe_to_retry(false))
    }

    /// The created resource's facts, when a create took effect but its answer could not be read.
    pub fn created_unreadable(&self) -> Option<&CreatedUnreadable> {
        match self {
            Error::CreatedUnreadable(c) => Some(c),
            _ => None,
        }
    }

    /// A success answer of a create that did not decode becomes [`Error::CreatedUnreadable`]
    /// (the resource exists); any other error is kept as it is.
    pub(crate) fn into_created(self, idempotency_key: Option<&str>) -> Error {
        match self {
            Error::Decode {
                operation,
                status,
                message,
                body,
            } if (200..300).contains(&status) => {
                Error::CreatedUnreadable(Box::new(CreatedUnreadable {
                    operation,
                    status,
                    id: id_in(&body),
                    idempotency_key: idempotency_key.map(str::to_string),
                    message,
                    body,
                }))
            }
            other => other,
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
        answer: Option<crate::context::ErrorAnswer>,
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
            Raw::InvalidResponsePayload(bytes, e) => match answer {
                // A declared error status whose body is not the declared shape (an HTML page
                // from a proxy, plain text): still an API error, with its real status.
                Some(answer) => api_error(
                    operation,
                    answer.status,
                    answer.request_id,
                    text_of(&bytes),
                    attempts,
                ),
                None => Error::Decode {
                    operation,
                    status: 200,
                    message: e.to_string(),
                    body: text_of(&bytes),
                },
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

/// The `id` of a JSON body (at its top, or inside Fly's `data` envelope), whatever else in it
/// failed to decode.
fn id_in(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = value
        .get("id")
        .or_else(|| value.get("data").and_then(|d| d.get("id")))?;
    match id {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
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
    capped(&buf, cut)
}

/// At most [`MAX_BODY`] bytes of `bytes` as text, saying so when there were more.
fn text_of(bytes: &[u8]) -> String {
    capped(bytes, bytes.len() > MAX_BODY)
}

/// The first [`MAX_BODY`] bytes as text; `cut` adds a marker that the rest was dropped.
fn capped(bytes: &[u8], cut: bool) -> String {
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]).into_owned();
    if cut {
        text.push_str(CUT_MARK);
    }
    text
}

/// Ends a body that was longer than [`MAX_BODY`].
const CUT_MARK: &str = "…[cut at 1 MiB]";

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

/// The Managed Postgres endpoints answer errors as `{error: "..."}`: the message is kept, with no
/// code (Fly sends none there), and the status predicates apply as usual.
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

    #[test]
    fn every_named_code_round_trips_and_unknown_codes_are_kept() {
        for (code, name) in ErrorCode::NAMED {
            assert_eq!(ErrorCode::parse(name), code);
            assert_eq!(code.as_str(), name);
        }
        let new = ErrorCode::parse("quota_exceeded");
        assert_eq!(new, ErrorCode::Other("quota_exceeded".into()));
        assert_eq!(new.to_string(), "quota_exceeded");
    }

    /// Fly's `StatusCode` set (2026-10) plus the gRPC-style codes, each with its predicate,
    /// decoded from a real error body.
    #[test]
    fn each_code_has_a_predicate_that_only_it_answers() {
        type Predicate = fn(&Error) -> bool;
        let cases: [(&str, u16, Predicate); 6] = [
            ("insufficient_capacity", 503, Error::is_capacity),
            ("volume_placement_capacity", 503, Error::is_capacity),
            ("name_taken", 409, Error::is_name_taken),
            ("not_found", 500, Error::is_not_found),
            ("failed_precondition", 500, Error::is_precondition_failed),
            ("invalid_argument", 500, Error::is_invalid_argument),
        ];
        let all: [Predicate; 5] = [
            Error::is_capacity,
            Error::is_name_taken,
            Error::is_not_found,
            Error::is_precondition_failed,
            Error::is_invalid_argument,
        ];
        for (code, status, predicate) in cases {
            let body = format!(r#"{{"error":"x","status":"{code}"}}"#);
            let err = api_error("Machines_create", status, None, body, 1);
            assert!(predicate(&err), "{code}");
            let answered = all.iter().filter(|p| p(&err)).count();
            assert_eq!(answered, 1, "{code} answered by {answered} predicates");
            assert_eq!(err.code().map(ErrorCode::as_str), Some(code));
        }
        let unknown = api_error(
            "Apps_create",
            500,
            None,
            r#"{"error":"?","status":"unknown"}"#.into(),
            1,
        );
        assert!(unknown.code().is_some_and(ErrorCode::is_unknown));
        assert!(all.iter().all(|p| !p(&unknown)));
        // Status alone still answers where Fly sends no code.
        let gone = api_error("Postgres", 410, None, String::new(), 1);
        assert!(gone.is_gone() && !gone.is_not_found());
        assert!(api_error("Apps_show", 401, None, String::new(), 1).is_unauthorized());
    }

    /// The Postgres API's `{error: "..."}` shape, as the generated client hands it over.
    #[tokio::test]
    async fn postgres_error_body_keeps_its_message() {
        let body = types::PostgresErrorResponse {
            error: Some("cluster is being deleted".into()),
        };
        let text = body.into_text().await;
        let err = api_error("Postgres_cluster_delete", 409, None, text, 1);
        assert!(err.is_conflict() && err.code().is_none());
        assert_eq!(err.api().unwrap().message, "cluster is being deleted");
    }

    /// The Postgres API's `{error: "..."}` shape: the message is kept, no code invented.
    #[test]
    fn postgres_error_shape_decodes() {
        let err = api_error(
            "Postgres_cluster_show",
            404,
            Some("req-9".into()),
            r#"{"error":"cluster not found"}"#.into(),
            1,
        );
        assert!(err.is_not_found());
        let api = err.api().unwrap();
        assert_eq!(api.message, "cluster not found");
        assert_eq!(api.code, None);
        assert!(err.to_string().contains("cluster not found"));
    }
}
