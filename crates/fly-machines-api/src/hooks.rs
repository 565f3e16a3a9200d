//! The seam between the generated client and the policy that sends its requests.
//!
//! progenitor calls [`ClientHooks`] for every request. The impl must live here (orphan rule), but
//! the policy does not: it is a [`RequestPolicy`] trait object that another crate installs through
//! [`Inner`]. Without one, [`DirectPolicy`] just sends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};

use crate::path::check_path;
use crate::{Client, Error, Operation};

/// The boxed future a [`RequestPolicy`] returns.
pub type PolicyFuture<'a> =
    Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send + 'a>>;

/// Decides how each request of the generated client is prepared and sent.
///
/// The hooks tell the policy which generated method is sending (`method`, e.g.
/// `machines_show`); the policy answers with that operation's row of [`OPERATIONS`]. A policy
/// whose calls carry their row (resolved once, where the call was made) hands that one back
/// instead of looking it up: see [`prepare`](Self::prepare).
///
/// [`OPERATIONS`]: crate::OPERATIONS
pub trait RequestPolicy: Send + Sync + 'static {
    /// Adjusts a request once before it is sent (headers, timeouts), and returns the row of the
    /// operation it belongs to; the hooks check the request's path against that row's template.
    /// An `Err` aborts the call with `Error::InvalidRequest` carrying the message.
    ///
    /// The default looks the row up by `method` and changes nothing.
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        method: &'static str,
    ) -> Result<&'static Operation, String> {
        let _ = request;
        operation_for(method)
    }

    /// Looks at the answer before it is decoded. An `Err` refuses it: the call fails with
    /// `Error::Custom` carrying the message (e.g. an answer from another origin than the base
    /// URL's, reached through a redirect).
    fn check_response(
        &self,
        response: &reqwest::Response,
        method: &'static str,
    ) -> Result<(), String> {
        let _ = (response, method);
        Ok(())
    }

    /// Sends the request [`prepare`](Self::prepare) accepted, possibly several times.
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        method: &'static str,
    ) -> PolicyFuture<'a>;
}

/// The row of the generated method `method` in [`OPERATIONS`](crate::OPERATIONS), or an error
/// naming it (the table and the methods come from the same document, so every method has one).
pub fn operation_for(method: &str) -> Result<&'static Operation, String> {
    Operation::find(method)
        .ok_or_else(|| format!("operation `{method}` is missing from the operation table"))
}

/// A future that fails without sending anything: for a policy that cannot vouch for a request
/// (no row, no credentials). reqwest refuses a URL that is not HTTP before connecting.
pub fn refuse_unsent(client: &reqwest::Client) -> PolicyFuture<'_> {
    let refused = reqwest::Url::parse("refused:not-prepared-by-the-policy")
        .map(|nowhere| reqwest::Request::new(reqwest::Method::GET, nowhere));
    match refused {
        Ok(request) => Box::pin(client.execute(request)),
        // Unreachable: the constant URL parses. Still nothing is sent: a request to the
        // unparsable URL fails the same way.
        Err(_) => Box::pin(client.get("refused:").send()),
    }
}

/// The policy used when none is installed: one attempt, no changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectPolicy;

impl RequestPolicy for DirectPolicy {
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        _method: &'static str,
    ) -> PolicyFuture<'a> {
        Box::pin(client.execute(request))
    }
}

/// State the generated [`Client`] carries: the policy every request goes through.
#[derive(Clone)]
pub struct Inner {
    policy: Arc<dyn RequestPolicy>,
}

impl Inner {
    /// Wraps a policy.
    pub fn new(policy: Arc<dyn RequestPolicy>) -> Self {
        Inner { policy }
    }

    /// The installed policy.
    pub fn policy(&self) -> &Arc<dyn RequestPolicy> {
        &self.policy
    }
}

impl Default for Inner {
    fn default() -> Self {
        Inner::new(Arc::new(DirectPolicy))
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

/// The path part of a base URL (`https://api.machines.dev/v1` -> `/v1`). Runs on every request:
/// byte scans rather than `str` pattern searches, which cost hundreds of instructions to set up.
fn base_path(base_url: &str) -> &str {
    let bytes = base_url.as_bytes();
    let after_scheme = bytes
        .windows(3)
        .position(|window| window == b"://")
        .map_or(0, |at| at + 3);
    bytes[after_scheme..]
        .iter()
        .position(|&byte| byte == b'/')
        .map_or("", |slash| &base_url[after_scheme + slash..])
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let operation = self
            .inner()
            .policy
            .prepare(request, info.operation_id)
            .map_err(Error::InvalidRequest)?;
        let base_path = base_path(self.baseurl());
        match check_path(request.url().path(), base_path, operation.path) {
            Ok(()) => Ok(()),
            Err(problem) => Err(Error::InvalidRequest(format!(
                "{}: refusing to send to {} because it does not fit {}{}: {problem}",
                operation.id,
                request.url().path(),
                base_path,
                operation.path
            ))),
        }
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let Ok(response) = result else {
            return Ok(());
        };
        self.inner()
            .policy
            .check_response(response, info.operation_id)
            .map_err(Error::Custom)
    }

    /// Only reached once `pre` has accepted the request (the generated code returns on its
    /// error), so the policy sends only what it prepared.
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner()
            .policy
            .execute(self.client(), request, info.operation_id)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a policy sends when it cannot vouch for a request: reqwest refuses it before
    /// connecting, so nothing leaves.
    #[tokio::test]
    async fn a_refused_request_fails_before_any_connection() {
        let client = reqwest::Client::new();
        let err = refuse_unsent(&client).await.unwrap_err();
        assert!(err.is_builder() && !err.is_connect(), "{err:?}");
    }

    #[test]
    fn the_base_path_is_what_follows_the_host() {
        assert_eq!(base_path("https://api.machines.dev/v1"), "/v1");
        assert_eq!(base_path("http://127.0.0.1:4280/v1/"), "/v1/");
        assert_eq!(base_path("http://h"), "");
        assert_eq!(base_path("h/x"), "/x");
    }

    #[test]
    fn every_method_has_a_row_and_others_are_named() {
        for op in &crate::OPERATIONS {
            assert_eq!(operation_for(op.name), Ok(op));
        }
        let missing = operation_for("no_such_method").unwrap_err();
        assert!(missing.contains("no_such_method"), "{missing}");
    }
}
