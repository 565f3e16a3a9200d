//! Per-call facts that travel from a handle method to the request policy, and the call's outcome
//! that travels back.
//!
//! The generated client carries every parameter the document declares (the lease nonce
//! included), and its hooks tell the policy only the generated method's name. What the document
//! cannot say travels in a task-local scoped around the call: the operation's row, resolved once
//! where the call is made, extra query pairs, whether to skip the limiter or repeat an unsafe
//! call. The carrier is a task-local because nothing else reaches the hooks: progenitor 0.15
//! hands them only the request and a static method name, and reqwest 0.13 keeps a request's
//! extensions private.
//!
//! The policy reads the context twice (when it prepares the request and when it starts sending
//! it, the two points where the generated code hands it control) and writes the outcome once,
//! when the call ends. The call owns the context: the scope hands it back, outcome included, by
//! value.

use std::cell::Cell;
use std::future::Future;

use fly_machines_api::{Operation, OperationId};
use futures::FutureExt;
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CALL: CallContext;
}

/// What one call carries into the policy, and what the policy reports back. The lease nonce is
/// not here: it is a parameter of the raw call.
#[derive(Default)]
pub(crate) struct CallContext {
    /// The row of the operation the handle named, resolved once by the call; the policy refuses
    /// to send any other.
    operation: Option<&'static Operation>,
    /// Appended to the query string (e.g. `metadata.launch_id=...` list filters).
    pub extra_query: Vec<(String, String)>,
    /// Skips the client-side limiter (lease refreshes must not queue behind other callers).
    pub bypass_limiter: bool,
    /// The caller accepts that a non-idempotent call may run twice: retry it after a timeout,
    /// 408 or 5xx as if it were idempotent.
    pub retry_unsafe: bool,
    /// Checks what a success decodes into before the generated client decodes it (set for
    /// every call that decodes JSON; see `decode_budget`).
    pub decode_check: Option<crate::decode_budget::DecodeCheck>,
    /// Written once by the policy when the call ends.
    outcome: Cell<Outcome>,
}

/// What the policy reports back about a call it sent.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Attempts made (at least 1 once anything was sent).
    pub attempts: u32,
    /// The status and `fly-request-id` of the last answer when it was not a success, for an
    /// error whose body the generated client could not decode (it keeps neither).
    pub error_answer: Option<ErrorAnswer>,
}

/// What the policy saw of an error answer: its status and `fly-request-id`.
#[derive(Debug, Clone)]
pub(crate) struct ErrorAnswer {
    pub status: u16,
    pub request_id: Option<String>,
}

/// The facts the policy copies out of the context when it starts sending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendFacts {
    pub operation: &'static Operation,
    pub bypass_limiter: bool,
    pub retry_unsafe: bool,
    pub decode_check: Option<crate::decode_budget::DecodeCheck>,
}

impl CallContext {
    /// A context that skips the client-side limiter.
    pub fn bypassing_limiter() -> Self {
        CallContext {
            bypass_limiter: true,
            ..Default::default()
        }
    }

    /// A context that retries the call even when it is not idempotent.
    pub fn retrying_unsafe(retry_unsafe: bool) -> Self {
        CallContext {
            retry_unsafe,
            ..Default::default()
        }
    }

    /// Binds the context to the operation the call names.
    pub fn for_operation(mut self, operation: OperationId) -> Self {
        self.operation = Some(operation.operation());
        self
    }

    /// The row of the operation the call named.
    pub fn operation(&self) -> Option<&'static Operation> {
        self.operation
    }

    /// The facts a send needs, when the call named its operation.
    pub fn send_facts(&self) -> Option<SendFacts> {
        Some(SendFacts {
            operation: self.operation?,
            bypass_limiter: self.bypass_limiter,
            retry_unsafe: self.retry_unsafe,
            decode_check: self.decode_check,
        })
    }

    /// Records how the call ended (the policy, once).
    pub fn record(&self, outcome: Outcome) {
        self.outcome.set(outcome);
    }

    /// How the call ended, as the policy recorded it.
    pub fn into_outcome(self) -> Outcome {
        self.outcome.into_inner()
    }
}

/// `fut` with `ctx` visible to the policy while it runs; its output, passed through `finish`,
/// is written into `out`. Once it has finished, `TaskLocalFuture::take_value` hands `ctx` back
/// with what the policy recorded in it; the context lives inside the future, so a call
/// allocates nothing for it.
///
/// `finish` runs where the generated future hands its output over, so a caller that keeps a
/// large answer (a `Machine` is 2.6 KB) boxes it there, once, and only the box travels through
/// the layers above; each layer a value crosses by value is a copy of all of it.
/// A plain function rather than an `async fn`: an `async fn` would keep `fut` twice in its state
/// (as its argument and inside the scope), and every call's future would grow by that much.
pub(crate) fn scope<'o, F: Future + 'o, O: 'o>(
    ctx: CallContext,
    fut: F,
    out: &'o mut Option<O>,
    finish: impl FnOnce(F::Output) -> O + 'o,
) -> TaskLocalFuture<CallContext, impl Future<Output = ()> + 'o> {
    CALL.scope(ctx, fut.map(move |output| *out = Some(finish(output))))
}

/// Applies `f` to the context of the call being made, if it runs inside [`scope`].
pub(crate) fn with<R>(f: impl FnOnce(&CallContext) -> R) -> Option<R> {
    CALL.try_with(f).ok()
}
