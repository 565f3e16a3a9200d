//! One error type for every call, with the facts needed to act on it.
//!
//! [`Error`] is one pointer and a tag wide (each kind's facts are boxed in a type of their own,
//! in `details`), so a `Result` of it stays small in the caller's code; decoding a failed
//! answer into it lives in `decode`.

mod code;
mod decode;
mod details;

pub use code::ErrorCode;
pub use decode::ErrorBody;
pub use details::{
    ApiError, CreatedUnreadable, DecodeError, InvalidInput, ResponseRefused, ResponseTooLarge,
    TransportError,
};

use fly_machines_api::OperationId;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// Match on the kind, or ask the predicates (`is_not_found()`, `is_ambiguous()`, ...), which
/// read through every kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request could not be sent or the answer could not be read.
    #[error(transparent)]
    Transport(Box<TransportError>),
    /// The API answered success, but the body was not what the operation returns.
    #[error(transparent)]
    Decode(Box<DecodeError>),
    /// A value given to the client was rejected before any request was made.
    #[error(transparent)]
    InvalidInput(Box<InvalidInput>),
    /// A machine config value broke one of Fly's rules (a guest size, a protocol, an env name,
    /// ...), caught before any request was made. [`RuleError::rule`] says which rule.
    ///
    /// [`RuleError::rule`]: crate::guest::rules::RuleError::rule
    #[error(transparent)]
    Rule(Box<fly_machines_rules::RuleError>),
    /// The client is not configured (e.g. no token).
    #[error("configuration: {0}")]
    Config(Box<str>),
    /// A wait ended without reaching the wanted state.
    #[error(transparent)]
    Wait(Box<crate::wait::WaitError>),
    /// A paged listing stopped: the server repeated a cursor, paged past the bound, or refused
    /// an (expired) cursor.
    #[error(transparent)]
    Paging(Box<crate::paging::PagingError>),
    /// A Postgres cluster did not become ready.
    #[error(transparent)]
    ClusterWait(Box<crate::resources::postgres::ClusterWaitError>),
    /// The answer was larger than the client accepts: its body was not read past the byte
    /// limit, or what it would decode into was not decoded past the decode budget (twice the
    /// byte limit, counted as the sizes of list elements and map entries).
    #[error(transparent)]
    ResponseTooLarge(Box<ResponseTooLarge>),
    /// A create the API answered with success, but whose answer could not be read (schema
    /// drift is enough): the resource exists, so sending the create again would make a second
    /// one. What is known of it is kept; [`Error::is_ambiguous`] is `false`.
    #[error(transparent)]
    CreatedUnreadable(Box<CreatedUnreadable>),
    /// The client refused an answer before decoding it (it came from another origin than the
    /// base URL's, through a redirect).
    #[error(transparent)]
    ResponseRefused(Box<ResponseRefused>),
}

/// Each kind's facts convert into the error without naming the box.
macro_rules! boxed_from {
    ($($kind:ident($facts:ty)),* $(,)?) => {$(
        impl From<$facts> for Error {
            fn from(facts: $facts) -> Error {
                Error::$kind(Box::new(facts))
            }
        }
    )*};
}

boxed_from! {
    Api(ApiError),
    Transport(TransportError),
    Decode(DecodeError),
    InvalidInput(InvalidInput),
    Rule(fly_machines_rules::RuleError),
    Wait(crate::wait::WaitError),
    Paging(crate::paging::PagingError),
    ClusterWait(crate::resources::postgres::ClusterWaitError),
    ResponseTooLarge(ResponseTooLarge),
    CreatedUnreadable(CreatedUnreadable),
    ResponseRefused(ResponseRefused),
}

impl From<crate::guest::GuestError> for Error {
    fn from(e: crate::guest::GuestError) -> Error {
        Error::from(e.into_rule_error())
    }
}

impl Error {
    pub(crate) fn invalid_input(what: &'static str, value: &str, expected: &str) -> Error {
        Error::from(InvalidInput {
            what,
            value: value.to_string(),
            expected: expected.to_string(),
        })
    }

    /// A configuration error with its explanation.
    pub(crate) fn config(message: impl Into<Box<str>>) -> Error {
        Error::Config(message.into())
    }

    /// A transport failure of `operation` after `attempts` sends.
    pub(crate) fn transport(
        operation: OperationId,
        attempts: u32,
        source: reqwest::Error,
    ) -> Error {
        Error::from(TransportError {
            operation,
            attempts,
            source,
        })
    }

    /// A success answer of `operation` that is not what it returns.
    pub(crate) fn decode(
        operation: OperationId,
        status: u16,
        message: impl Into<String>,
        body: impl Into<String>,
    ) -> Error {
        Error::from(DecodeError {
            operation,
            status,
            message: message.into(),
            body: body.into(),
        })
    }

    /// The operation the error came from, when it came from a call.
    pub fn operation(&self) -> Option<OperationId> {
        match self {
            Error::Api(e) => Some(e.operation),
            Error::Transport(e) => Some(e.operation),
            Error::Decode(e) => Some(e.operation),
            Error::ResponseTooLarge(e) => Some(e.operation),
            Error::CreatedUnreadable(e) => Some(e.operation),
            Error::ResponseRefused(e) => Some(e.operation),
            Error::Paging(e) => Some(e.operation()),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode(e) => Some(e.status),
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

    /// Why a wait ended, when this is a wait error.
    pub fn wait(&self) -> Option<&crate::wait::WaitError> {
        match self {
            Error::Wait(e) => Some(e),
            _ => None,
        }
    }

    /// Why a paged listing stopped, when this is a paging error.
    pub fn paging(&self) -> Option<&crate::paging::PagingError> {
        match self {
            Error::Paging(e) => Some(e),
            _ => None,
        }
    }

    /// Why a Postgres cluster did not become ready, when this is a cluster wait error.
    pub fn cluster_wait(&self) -> Option<&crate::resources::postgres::ClusterWaitError> {
        match self {
            Error::ClusterWait(e) => Some(e),
            _ => None,
        }
    }

    /// The refused value, when a value was refused before any request was made.
    pub fn input(&self) -> Option<&InvalidInput> {
        match self {
            Error::InvalidInput(e) => Some(e),
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
            Error::Transport(e) => Some(e.attempts),
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
            Error::Transport(e) => e.source.is_timeout(),
            Error::Wait(w) => w.is_timeout(),
            Error::ClusterWait(w) => w.is_timeout(),
            other => other.status() == Some(408),
        }
    }

    /// What went wrong, in the terms the retry policy decides on: `None` for an error that is
    /// not a failed attempt (4xx other than 408/429, bad input, decoding, waits).
    pub fn failure(&self) -> Option<crate::Failure> {
        match self {
            Error::Transport(e) => crate::Failure::of_transport(&e.source),
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

    /// Whether trying the same call again later may succeed.
    ///
    /// The same classification the retry policy decides on ([`Error::failure`]): a failed
    /// attempt is worth repeating later; a refusal (4xx), bad input or a decode error is not.
    pub fn is_retryable(&self) -> bool {
        self.failure().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Result<_, Error>` stays small in callers' code (clippy's `result_large_err` starts at
    /// 128 bytes; a user wrapping our error in their own enum should not get near it).
    #[test]
    fn the_error_is_at_most_three_words() {
        assert!(
            std::mem::size_of::<Error>() <= 24,
            "{}",
            std::mem::size_of::<Error>()
        );
        assert!(std::mem::size_of::<Result<()>>() <= 24);
    }
}
