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

/// The body of `list()` for a cluster's databases, users or backups, whose answers differ only
/// in operation and type: check the cluster, one call, the list inside the envelope. The
/// method itself stays in each file, next to its operation, where the SDK reference finds it.
macro_rules! cluster_list {
    ($this:expr, $operation:expr, $call:ident) => {{
        let this = $this.clone();
        async move {
            this.cluster.check()?;
            let answer = this
                .cluster
                .client
                .call($operation, |raw| raw.$call(&this.cluster.id))
                .await?;
            Ok(super::envelope::list(answer, |r| r.data))
        }
    }};
}
pub(crate) use cluster_list;

/// A Postgres create, sent and unwrapped, as the cluster, database and user creates all do: a
/// name Fly refuses as taken gets the code `name_taken`, a failure after sending says the
/// create may have taken effect, and the value comes out of its envelope.
macro_rules! create_in_envelope {
    ($client:expr, $operation:expr, $retry_unsafe:expr, $call:expr $(,)?) => {{
        let operation = $operation;
        let answer = $client
            .call_with(
                operation,
                $crate::context::CallContext::retrying_unsafe($retry_unsafe),
                $call,
            )
            .await
            .map_err(|e| super::envelope::name_taken_coded(e).into_created(None))?;
        super::envelope::data(operation, answer, |r| r.data)
    }};
}
pub(crate) use create_in_envelope;
