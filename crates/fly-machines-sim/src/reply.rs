//! What a handler answers: a status, a body and extra headers, before the common layer adds
//! the request id.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::errors::ApiError;

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
    /// JSON already encoded (errors, which are small).
    Json(Vec<u8>),
    /// A value encoded once the world lock is released.
    Deferred(Box<dyn Encode>),
    Text(String),
}

/// A value that can be encoded to JSON later, on another thread.
pub(crate) trait Encode: Send {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
}

impl<T: Serialize + Send> Encode for T {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl std::fmt::Debug for dyn Encode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<json value>")
    }
}

/// A body ready for the wire: its bytes and content type.
pub(crate) struct WireBody {
    pub(crate) content_type: Option<&'static str>,
    pub(crate) bytes: Vec<u8>,
}

const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

impl ReplyBody {
    /// The body as bytes, encoding a deferred value (a failure becomes a 500 by the caller).
    pub(crate) fn encoded(self) -> Result<WireBody, serde_json::Error> {
        let (content_type, bytes) = match self {
            ReplyBody::Empty => (None, Vec::new()),
            ReplyBody::Json(bytes) => (Some(JSON), bytes),
            ReplyBody::Deferred(value) => (Some(JSON), value.encode()?),
            ReplyBody::Text(text) => (Some(TEXT), text.into_bytes()),
        };
        Ok(WireBody {
            content_type,
            bytes,
        })
    }
}

impl Reply {
    /// A JSON answer; the value is encoded after the world lock is released.
    pub(crate) fn json<T: Serialize + Send + 'static>(status: StatusCode, value: T) -> Reply {
        Reply {
            status,
            body: ReplyBody::Deferred(Box::new(value)),
            headers: Vec::new(),
        }
    }
    pub(crate) fn ok<T: Serialize + Send + 'static>(value: T) -> Reply {
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
pub(crate) type HandlerResult = Result<Reply, ApiError>;

/// Shorthand for a handler result carrying JSON.
pub(crate) fn ok_json<T: Serialize + Send + 'static>(value: T) -> HandlerResult {
    Ok(Reply::ok(value))
}
