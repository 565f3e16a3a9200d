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
    inner(answer.into_inner()).ok_or_else(|| Error::Decode {
        operation: operation.id(),
        status,
        message: "the answer has no `data`".into(),
        body: String::new(),
    })
}

/// The list inside an answer's envelope; no `data` means an empty list.
pub(crate) fn list<E, T>(
    answer: ResponseValue<E>,
    inner: impl FnOnce(E) -> Option<Vec<T>>,
) -> Vec<T> {
    inner(answer.into_inner()).unwrap_or_default()
}
