//! Turning a failed raw call into an [`Error`]: reading (at most 1 MiB of) the body, and
//! finding Fly's code and message in whichever of its error shapes it is.

use std::future::Future;

use fly_machines_api::{ByteStream, OperationId};
use futures::StreamExt;

use super::{ApiError, CreatedUnreadable, DecodeError, Error, ErrorCode, InvalidInput};
use super::{ResponseRefused, ResponseTooLarge};
use crate::types;

/// The most of an error body we keep, in bytes; the rest is cut (and said so).
const MAX_BODY: usize = 1024 * 1024;

impl Error {
    /// Builds the error for a failed raw call. Reads the body of unexpected responses.
    pub(crate) async fn from_raw<E: ErrorBody>(
        operation: OperationId,
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
                    return Error::decode(
                        operation,
                        status,
                        "the API answered with a success status this operation does not declare",
                        body,
                    );
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
                None => Error::decode(operation, 200, e.to_string(), text_of(&bytes)),
            },
            Raw::CommunicationError(source) | Raw::ResponseBodyError(source) => {
                match crate::body_limit::too_large(&source) {
                    Some(too_large) => Error::ResponseTooLarge(Box::new(ResponseTooLarge {
                        operation,
                        limit: too_large.limit,
                        size: too_large.size,
                    })),
                    None => Error::transport(operation, attempts, source),
                }
            }
            Raw::InvalidUpgrade(source) => Error::transport(operation, attempts, source),
            Raw::InvalidRequest(message) => Error::InvalidInput(Box::new(InvalidInput {
                what: "request",
                value: operation.to_string(),
                expected: message,
            })),
            // The hooks raise `Custom` only when the policy refuses an answer.
            Raw::Custom(reason) => {
                Error::ResponseRefused(Box::new(ResponseRefused { operation, reason }))
            }
        }
    }

    /// A success answer of a create that did not decode becomes [`Error::CreatedUnreadable`]
    /// (the resource exists); any other error is kept as it is.
    pub(crate) fn into_created(self, idempotency_key: Option<&str>) -> Error {
        match self {
            Error::Decode(d) if (200..300).contains(&d.status) => {
                let DecodeError {
                    operation,
                    status,
                    message,
                    body,
                } = *d;
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
    operation: OperationId,
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
                OperationId::MachinesStart,
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
            let err = api_error(OperationId::MachinesCreate, status, None, body, 1);
            assert!(predicate(&err), "{code}");
            let answered = all.iter().filter(|p| p(&err)).count();
            assert_eq!(answered, 1, "{code} answered by {answered} predicates");
            assert_eq!(err.code().map(ErrorCode::as_str), Some(code));
        }
        let unknown = api_error(
            OperationId::AppsCreate,
            500,
            None,
            r#"{"error":"?","status":"unknown"}"#.into(),
            1,
        );
        assert!(unknown.code().is_some_and(ErrorCode::is_unknown));
        assert!(all.iter().all(|p| !p(&unknown)));
        // Status alone still answers where Fly sends no code.
        let gone = api_error(OperationId::PostgresShow, 410, None, String::new(), 1);
        assert!(gone.is_gone() && !gone.is_not_found());
        assert!(api_error(OperationId::AppsShow, 401, None, String::new(), 1).is_unauthorized());
    }

    /// The Postgres API's `{error: "..."}` shape, as the generated client hands it over.
    #[tokio::test]
    async fn postgres_error_body_keeps_its_message() {
        let body = types::PostgresErrorResponse {
            error: Some("cluster is being deleted".into()),
        };
        let text = body.into_text().await;
        let err = api_error(OperationId::PostgresDelete, 409, None, text, 1);
        assert!(err.is_conflict() && err.code().is_none());
        assert_eq!(err.api().unwrap().message, "cluster is being deleted");
    }

    /// The Postgres API's `{error: "..."}` shape: the message is kept, no code invented.
    #[test]
    fn postgres_error_shape_decodes() {
        let err = api_error(
            OperationId::PostgresShow,
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
