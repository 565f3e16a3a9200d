//! The Fly-shaped error every handler and layer answers with.

use axum::http::{HeaderName, HeaderValue, StatusCode};

use crate::reply::{Reply, ReplyBody};

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
