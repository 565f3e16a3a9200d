//! Fly's `{"data": ...}` envelope around every Postgres answer, unwrapped once here.

use fly_machines_api::{OperationId, ResponseValue};

use crate::{Error, Result};

/// The value inside an answer's envelope; an answer without one cannot be made into the value
/// the caller asked for, so it is a decode error naming the operation.
pub(crate) fn data<E, T>(
    operation: OperationId,
    answer: ResponseValue<E>,
    inner: impl FnOnce(E) -> Option<T>,
) -> Result<T> {
    let status = answer.status().as_u16();
    inner(answer.into_inner())
        .ok_or_else(|| Error::decode(operation, status, "the answer has no `data`", ""))
}

/// The list inside an answer's envelope; no `data` means an empty list.
pub(crate) fn list<E, T>(
    answer: ResponseValue<E>,
    inner: impl FnOnce(E) -> Option<Vec<T>>,
) -> Vec<T> {
    inner(answer.into_inner()).unwrap_or_default()
}

/// Gives a create's refusal of a taken name the code `name_taken`, which Fly's Postgres errors
/// do not carry (`{"error": message}` only): a 409 on a create, or a 422 whose message says the
/// name is already used. Any other error is kept as it is.
pub(crate) fn name_taken_coded(error: Error) -> Error {
    match error {
        Error::Api(mut api) if api.code.is_none() && is_taken(api.status, &api.message) => {
            api.code = Some(crate::ErrorCode::NameTaken);
            Error::Api(api)
        }
        other => other,
    }
}

fn is_taken(status: u16, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    status == 409 || (status == 422 && message.contains("already"))
}
