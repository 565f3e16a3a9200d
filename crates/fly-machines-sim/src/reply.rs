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
pub(crate) type HandlerResult = Result<Reply, ApiError>;

/// Shorthand for a handler result carrying JSON.
pub(crate) fn ok_json<T: serde::Serialize>(value: &T) -> HandlerResult {
    Ok(Reply::ok(value))
}
