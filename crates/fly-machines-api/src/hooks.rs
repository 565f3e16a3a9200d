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
pub trait RequestPolicy: Send + Sync + 'static {
    /// Adjusts a request once before it is sent (headers, timeouts). An `Err` aborts the call
    /// with `Error::InvalidRequest` carrying the message.
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        operation: &'static Operation,
    ) -> Result<(), String> {
        let _ = (request, operation);
        Ok(())
    }

    /// Looks at the answer before it is decoded. An `Err` refuses it: the call fails with
    /// `Error::Custom` carrying the message (e.g. an answer from another origin than the base
    /// URL's, reached through a redirect).
    fn check_response(
        &self,
        response: &reqwest::Response,
        operation: &'static Operation,
    ) -> Result<(), String> {
        let _ = (response, operation);
        Ok(())
    }

    /// Sends the request, possibly several times.
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        operation: &'static Operation,
    ) -> PolicyFuture<'a>;
}

/// The policy used when none is installed: one attempt, no changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectPolicy;

impl RequestPolicy for DirectPolicy {
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        _operation: &'static Operation,
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

/// The path part of a base URL (`https://api.machines.dev/v1` -> `/v1`).
fn base_path(base_url: &str) -> &str {
    let after_scheme = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

fn operation_for(info: &OperationInfo) -> Result<&'static Operation, String> {
    Operation::find(info.operation_id).ok_or_else(|| {
        format!(
            "operation `{}` is missing from the operation table",
            info.operation_id
        )
    })
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let operation = operation_for(info).map_err(Error::InvalidRequest)?;
        let base_path = base_path(self.baseurl());
        if let Err(problem) = check_path(request.url().path(), base_path, operation.path) {
            return Err(Error::InvalidRequest(format!(
                "{}: refusing to send to {} because it does not fit {}{}: {problem}",
                operation.id,
                request.url().path(),
                base_path,
                operation.path
            )));
        }
        self.inner()
            .policy
            .prepare(request, operation)
            .map_err(Error::InvalidRequest)
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let (Ok(response), Ok(operation)) = (result, operation_for(info)) else {
            return Ok(());
        };
        self.inner()
            .policy
            .check_response(response, operation)
            .map_err(Error::Custom)
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        match operation_for(info) {
            Ok(operation) => {
                self.inner()
                    .policy
                    .execute(self.client(), request, operation)
                    .await
            }
            // `pre` already refused an operation missing from the table (the table and the
            // methods come from the same document, so none is). Were this reached, the request
            // must not go out without the policy (which adds the token): reqwest refuses a URL
            // that is not HTTP before connecting, so nothing is sent and the call fails.
            Err(_) => {
                drop(request);
                let nowhere = reqwest::Url::parse("refused:operation-missing-from-the-table")
                    .expect("a constant URL parses");
                let refused = reqwest::Request::new(reqwest::Method::GET, nowhere);
                self.client().execute(refused).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// What `exec` sends for an operation missing from the table: reqwest refuses it before
    /// connecting, so no request leaves without the policy.
    #[tokio::test]
    async fn a_request_without_a_row_is_refused_before_any_connection() {
        let nowhere = reqwest::Url::parse("refused:operation-missing-from-the-table").unwrap();
        let refused = reqwest::Request::new(reqwest::Method::GET, nowhere);
        let err = reqwest::Client::new().execute(refused).await.unwrap_err();
        assert!(err.is_builder() && !err.is_connect(), "{err:?}");
    }
}
