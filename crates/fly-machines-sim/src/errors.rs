//! The Fly-shaped error every handler and layer answers with.

use axum::http::{HeaderName, HeaderValue, StatusCode};

use crate::reply::{Reply, ReplyBody};

/// The body shapes Fly's endpoints answer errors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    /// `{"error": message, "status": code}`, most endpoints.
    Fly,
    /// `{"status": "error", "code", "message", "error"}`, the lease endpoints.
    LeaseEnvelope,
    /// `{"error": message}`, the Managed Postgres endpoints (`PostgresErrorResponse`).
    Postgres,
    /// The message as plain text: the token endpoints that answer text (`/tokens/kms`,
    /// `/tokens/oidc`), whose errors are text too.
    Text,
}

/// The operations whose errors are text (their answers are text).
const TEXT_ERRORS: [fly_machines_api::OperationId; 2] = [
    fly_machines_api::OperationId::TokensRequestKms,
    fly_machines_api::OperationId::TokensRequestOidc,
];

/// A Fly-shaped error: `{"error": message, "status": code}` with an HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) http: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Which body shape the error is sent in.
    pub(crate) shape: ErrorShape,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(http: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            http,
            code,
            message: message.into(),
            shape: ErrorShape::Fly,
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
        self.shape = ErrorShape::LeaseEnvelope;
        self
    }
    /// The error in the shape `op` declares for its errors: text for the endpoints that answer
    /// text, otherwise as it is.
    pub(crate) fn shaped_for(mut self, op: fly_machines_api::OperationId) -> Self {
        if TEXT_ERRORS.contains(&op) {
            self.shape = ErrorShape::Text;
        }
        self
    }

    /// Marks the error as one to be sent in the Managed Postgres shape.
    pub(crate) fn in_postgres_shape(mut self) -> Self {
        self.shape = ErrorShape::Postgres;
        self
    }
    /// Adds a header to the answer (e.g. `Retry-After`).
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn into_reply(self) -> Reply {
        if self.shape == ErrorShape::Text {
            return Reply {
                status: self.http,
                body: ReplyBody::Text(self.message),
                headers: self.headers,
            };
        }
        let body = match self.shape {
            ErrorShape::Text => serde_json::Value::Null,
            ErrorShape::LeaseEnvelope => serde_json::json!({
                "status": "error",
                "code": self.code,
                "message": self.message,
                "error": self.message,
            }),
            ErrorShape::Fly => serde_json::json!({ "error": self.message, "status": self.code }),
            // Fly's Postgres errors carry no code; the emulator adds `status` for a taken name,
            // which decoders of the `{error}` shape ignore and clients may read.
            ErrorShape::Postgres if self.code == "name_taken" => {
                serde_json::json!({ "error": self.message, "status": self.code })
            }
            ErrorShape::Postgres => serde_json::json!({ "error": self.message }),
        };
        Reply {
            status: self.http,
            body: ReplyBody::Json(serde_json::to_vec(&body).unwrap_or_default()),
            headers: self.headers,
        }
    }
}
