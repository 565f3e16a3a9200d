//! The facts each kind of [`Error`](super::Error) carries, one type per kind, so that the
//! error itself stays one pointer wide.

use std::fmt;

use fly_machines_api::OperationId;

use super::ErrorCode;

/// An error answer from the Machines API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The operation, e.g. [`OperationId::MachinesStart`] (shown as `Machines_start`).
    pub operation: OperationId,
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

impl std::error::Error for ApiError {}

/// The request could not be sent, or its answer could not be read: see [`Error::Transport`].
///
/// [`Error::Transport`]: super::Error::Transport
#[derive(Debug, thiserror::Error)]
#[error("{operation}: transport error after {attempts} attempt(s): {source}")]
pub struct TransportError {
    /// The operation.
    pub operation: OperationId,
    /// How many times the request was sent.
    pub attempts: u32,
    /// The underlying error.
    #[source]
    pub source: reqwest::Error,
}

/// A success answer whose body was not what the operation returns: see [`Error::Decode`].
///
/// [`Error::Decode`]: super::Error::Decode
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: could not decode the HTTP {status} response: {message}")]
pub struct DecodeError {
    /// The operation.
    pub operation: OperationId,
    /// HTTP status code.
    pub status: u16,
    /// What the decoder said.
    pub message: String,
    /// The body as text (cut at 1 MiB).
    pub body: String,
}

/// A value refused before any request was made: see [`Error::InvalidInput`].
///
/// [`Error::InvalidInput`]: super::Error::InvalidInput
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct InvalidInput {
    /// What the value is (`app name`, `machine id`, ...).
    pub what: &'static str,
    /// The value as given (tokens are never shown).
    pub value: String,
    /// What was expected instead.
    pub expected: String,
}

/// An answer larger than the client accepts: see [`Error::ResponseTooLarge`].
///
/// [`Error::ResponseTooLarge`]: super::Error::ResponseTooLarge
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{operation}: the response is larger than the limit of {limit} bytes (at least {size} \
     bytes, as read or as decoded); raise it with ClientBuilder::max_response_bytes"
)]
pub struct ResponseTooLarge {
    /// The operation.
    pub operation: OperationId,
    /// The limit in force, in bytes: the byte limit, or the decode budget.
    pub limit: u64,
    /// The announced length, how much had been read when reading stopped, or how much the
    /// decoded values took when decoding stopped.
    pub size: u64,
}

/// An answer the client refused before decoding it: see [`Error::ResponseRefused`].
///
/// [`Error::ResponseRefused`]: super::Error::ResponseRefused
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: refused the answer: {reason}")]
pub struct ResponseRefused {
    /// The operation.
    pub operation: OperationId,
    /// Why.
    pub reason: String,
}

/// A create that took effect but whose answer could not be decoded: see
/// [`Error::CreatedUnreadable`](super::Error::CreatedUnreadable).
#[derive(Debug, Clone)]
pub struct CreatedUnreadable {
    /// The operation, e.g. [`OperationId::MachinesCreate`].
    pub operation: OperationId,
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

impl std::error::Error for CreatedUnreadable {}
