//! Per-call facts that travel from a handle method to the request policy.
//!
//! The generated client tells the policy which operation it sends, and carries every parameter
//! the document declares (the lease nonce included). What the document cannot say (the operation
//! the handle meant to send, extra query pairs, whether to skip the limiter) and what the policy
//! reports back (how many attempts it made) travel in a task-local scoped around the call.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use fly_machines_api::OperationId;
use futures::FutureExt;
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CALL: CallContext;
}

/// What one call carries into the policy, and what the policy reports back. The lease nonce is
/// not here: it is a parameter of the raw call.
#[derive(Debug, Default)]
pub(crate) struct CallContext {
    /// The operation the handle named; the policy refuses to send any other.
    pub operation: Option<OperationId>,
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
    /// The path the request was sent to, kept only when the caller's HTTP client might follow
    /// a redirect: an answer from any other path (even on the same origin) is refused.
    pub sent_path: std::sync::OnceLock<String>,
    attempts: AtomicU32,
    /// The status and `fly-request-id` of the last answer that was not a success, for an error
    /// whose body the generated client could not decode (it keeps neither).
    error_answer: Mutex<Option<ErrorAnswer>>,
}

/// What the policy saw of an error answer: its status and `fly-request-id`.
#[derive(Debug, Clone)]
pub(crate) struct ErrorAnswer {
    /// The attempt it answered: only the last attempt's answer explains the call's error.
    pub attempt: u32,
    pub status: u16,
    pub request_id: Option<String>,
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

    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed).max(1)
    }

    pub fn record_attempts(&self, n: u32) {
        self.attempts.store(n, Ordering::Relaxed);
    }

    pub fn record_error_answer(&self, answer: ErrorAnswer) {
        *self.error_answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
    }

    pub fn error_answer(self) -> Option<ErrorAnswer> {
        self.error_answer
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// `fut` with `ctx` visible to the policy while it runs; its output is written into `out`.
/// Once it has finished, `TaskLocalFuture::take_value` hands `ctx` back with what the policy
/// recorded in it; the context lives inside the future, so a call allocates nothing for it.
///
/// The output goes into the caller's slot rather than through the scope's own layers of
/// `Option` and `Poll`: a decoded answer is kilobytes, and each of those layers copied it.
/// A plain function rather than an `async fn`: an `async fn` would keep `fut` twice in its state
/// (as its argument and inside the scope), and every call's future would grow by that much.
pub(crate) fn scope<'o, F: Future + 'o>(
    ctx: CallContext,
    fut: F,
    out: &'o mut Option<F::Output>,
) -> TaskLocalFuture<CallContext, impl Future<Output = ()> + 'o> {
    CALL.scope(ctx, fut.map(move |output| *out = Some(output)))
}

/// Applies `f` to the context of the call being made, if it runs inside [`scope`].
pub(crate) fn with<R>(f: impl FnOnce(&CallContext) -> R) -> Option<R> {
    CALL.try_with(f).ok()
}
