//! The client: configuration, and the one path every call takes.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fly_machines_api::{Inner, OperationId, ResponseValue};
use reqwest::header::HeaderValue;

use crate::clock::{Clock, TokioClock};
use crate::context::{self, CallContext};
use crate::error::{Error, ErrorBody, Result};
use crate::limiter::{Limiter, RateLimits};
use crate::pipeline::Pipeline;
use crate::retry::{RetryBudget, RetryPolicy};
use crate::token::Token;

/// Fly's public Machines API endpoint.
pub const PUBLIC_BASE_URL: &str = fly_machines_api::PUBLIC_BASE_URL;

/// The endpoint inside Fly's private network (from a machine or over WireGuard).
pub const INTERNAL_BASE_URL: &str = fly_machines_api::INTERNAL_BASE_URL;

/// Environment variable holding the API token.
pub const TOKEN_ENV: &str = "FLY_API_TOKEN";

/// Environment variables naming the API host, in the order they are read.
pub const BASE_URL_ENVS: [&str; 2] = ["FLY_API_HOSTNAME", "FLY_FLAPS_BASE_URL"];

/// A client of the Fly Machines API. Cheap to clone; clones share limits and retry budget.
#[derive(Clone)]
pub struct Client {
    raw: Arc<fly_machines_api::Client>,
    pipeline: Arc<Pipeline>,
    base_url: Arc<str>,
    lease_gates: LeaseGates,
}

/// One gate per machine, so that the tasks of one client waiting for the same lease poll one
/// at a time instead of using up the machine's rate limit (which the holder's refreshes need).
type LeaseGates =
    Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.pipeline.token)
            .field("retry", &self.pipeline.retry)
            .field("rate_limits", &self.pipeline.limiter.is_some())
            .finish()
    }
}

impl Client {
    /// A client configured from the environment: `FLY_API_TOKEN` (required) and the base URL
    /// from `FLY_API_HOSTNAME` or `FLY_FLAPS_BASE_URL` (default: the public endpoint).
    pub fn from_env() -> Result<Client> {
        Client::builder()
            .from_env_vars(|name| std::env::var(name).ok())?
            .build()
    }

    /// Starts a configuration.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL calls go to (ends in `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The clock used for retries, pacing and waits.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.pipeline.clock
    }

    /// How many attempts the retry policy gives a call (the first included).
    pub(crate) fn max_attempts(&self) -> u32 {
        self.pipeline.retry.max_attempts
    }

    /// The client-side rate limiter, when limiting is on.
    pub fn limiter(&self) -> Option<&Arc<Limiter>> {
        self.pipeline.limiter.as_ref()
    }

    /// The generated client underneath, with the same policy (auth, limits, retries) installed.
    pub fn raw(&self) -> &fly_machines_api::Client {
        &self.raw
    }

    /// The gate lease acquisitions of one machine take turns through.
    pub(crate) fn lease_gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.lease_gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(key.to_string()).or_default().clone()
    }

    /// Forgets gates nobody is using, so the map does not grow with every machine ever leased.
    pub(crate) fn prune_lease_gates(&self) {
        let mut gates = self.lease_gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.retain(|_, gate| Arc::strong_count(gate) > 1);
    }

    /// Runs the raw call to `operation` under this client's policy, turning failures into
    /// [`Error`]. The policy refuses to send any operation other than the one named here.
    ///
    /// A plain function returning [`call_with`](Self::call_with)'s future: another `async`
    /// layer would copy the whole call's state once more on every call.
    pub(crate) fn call<'a, T, E, F, Fut>(
        &'a self,
        operation: OperationId,
        call: F,
    ) -> impl Future<Output = Result<ResponseValue<T>>> + 'a
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut + 'a,
        Fut:
            Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>> + 'a,
        E: ErrorBody + 'a,
        T: serde::de::DeserializeOwned + 'a,
    {
        self.call_with(operation, CallContext::default(), call)
    }

    /// [`call`](Self::call) with facts the raw call cannot carry itself (extra query pairs, a
    /// limiter bypass). What a success decodes into is checked against the decode budget first
    /// (see `decode_budget`).
    pub(crate) fn call_with<'a, T, E, F, Fut>(
        &'a self,
        operation: OperationId,
        ctx: CallContext,
        call: F,
    ) -> impl Future<Output = Result<ResponseValue<T>>> + 'a
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut + 'a,
        Fut:
            Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>> + 'a,
        E: ErrorBody + 'a,
        T: serde::de::DeserializeOwned + 'a,
    {
        self.call_decoded(operation, ctx, call, std::convert::identity)
    }

    /// [`call_with`](Self::call_with) for an answer kept on the heap (a machine, 2.6 KB): it is
    /// boxed where the generated future hands it over, and only the box is moved from there.
    pub(crate) fn call_boxed<'a, T, E, F, Fut>(
        &'a self,
        operation: OperationId,
        ctx: CallContext,
        call: F,
    ) -> impl Future<Output = Result<Box<T>>> + 'a
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut + 'a,
        Fut:
            Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>> + 'a,
        E: ErrorBody + 'a,
        T: serde::de::DeserializeOwned + 'a,
    {
        self.call_decoded(operation, ctx, call, |answer| Box::new(answer.into_inner()))
    }

    /// A call whose success is JSON, checked against the decode budget, and turned by `take`
    /// into what the caller keeps.
    fn call_decoded<'a, T, U, E, F, Fut>(
        &'a self,
        operation: OperationId,
        mut ctx: CallContext,
        call: F,
        take: fn(ResponseValue<T>) -> U,
    ) -> impl Future<Output = Result<U>> + 'a
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut + 'a,
        Fut:
            Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>> + 'a,
        E: ErrorBody + 'a,
        T: serde::de::DeserializeOwned + 'a,
        U: 'a,
    {
        ctx.decode_check = Some(crate::decode_budget::check::<T>);
        self.call_unchecked(operation, ctx, call, take)
    }

    /// [`call`](Self::call) for an answer that is not decoded as JSON (a byte stream).
    pub(crate) fn call_stream<'a, T, E, F, Fut>(
        &'a self,
        operation: OperationId,
        call: F,
    ) -> impl Future<Output = Result<ResponseValue<T>>> + 'a
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut + 'a,
        Fut:
            Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>> + 'a,
        E: ErrorBody + 'a,
        T: 'a,
    {
        self.call_unchecked(
            operation,
            CallContext::default(),
            call,
            std::convert::identity,
        )
    }

    /// The one path of every call.
    async fn call_unchecked<'a, T, U, E, F, Fut>(
        &'a self,
        operation: OperationId,
        ctx: CallContext,
        call: F,
        take: fn(ResponseValue<T>) -> U,
    ) -> Result<U>
    where
        F: FnOnce(&'a fly_machines_api::Client) -> Fut,
        Fut: Future<Output = std::result::Result<ResponseValue<T>, fly_machines_api::Error<E>>>,
        E: ErrorBody,
    {
        // The operation's row is resolved here, once, and travels with the call.
        let ctx = ctx.for_operation(operation);
        // A success is turned into what the caller keeps (boxed, for a large answer) where the
        // generated future hands it over, and written into `out`.
        let mut out = None;
        let ctx = {
            // The raw error is the generated client's own; it becomes our 24-byte `Error` below.
            #[allow(clippy::result_large_err)]
            let finish = move |answer: std::result::Result<ResponseValue<T>, _>| answer.map(take);
            let mut scoped = std::pin::pin!(context::scope(ctx, call(&self.raw), &mut out, finish));
            scoped.as_mut().await;
            scoped.take_value()
        };
        // The scope completes only after the call inside it has, which wrote `out`.
        let Some(outcome) = out else {
            unreachable!("a finished call scope has written its outcome")
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let sent = ctx.map(CallContext::into_outcome).unwrap_or_default();
        let attempts = sent.attempts.max(1);
        let answer = sent.error_answer;
        Err(Error::from_raw(operation, error, attempts, answer).await)
    }
}

/// Builds a [`Client`].
#[derive(Default)]
pub struct ClientBuilder {
    token: Option<String>,
    base_url: Option<String>,
    user_agent: Option<String>,
    request_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    http: Option<reqwest::Client>,
    retry: Option<RetryPolicy>,
    rate_limits: Option<RateLimits>,
    clock: Option<Arc<dyn Clock>>,
    max_response_bytes: Option<u64>,
    pool_idle_timeout: Option<Duration>,
}

/// How long an idle connection is kept for reuse by default: 4 s, shorter than servers keep
/// theirs (the emulator's 10 s; Node's 5 s; most proxies a minute), so that a call is not sent
/// on a connection the server is closing at that moment.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The API token (`FlyV1` scheme for macaroons, `Bearer` otherwise; chosen automatically).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Base URL of the API. `/v1` is added when missing; a bare host gets `https://` (or
    /// `http://` for `_api.internal`). Default: [`PUBLIC_BASE_URL`].
    ///
    /// Refused at [`build`](Self::build): a URL with a user or password (the token
    /// authenticates; a password would be shown wherever the URL is), with a query or fragment
    /// (calls append their own path), or `http://` to Fly's public host (the token would travel
    /// in clear text).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The `User-Agent` header. Default: `fly-machines-rust/<version>`.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Timeout of one request, from sending it to reading its whole body (default 30 s; zero is
    /// refused at build).
    /// `/wait` calls always get their long-poll time plus 15 s, so a 60 s wait is never cut
    /// short. It applies with [`http_client`](Self::http_client) too, set on each request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Connect timeout (default 10 s). Ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long an idle connection is kept for the next call (default
    /// [`DEFAULT_POOL_IDLE_TIMEOUT`], 4 s). Keep it shorter than the server's own idle timeout:
    /// a call sent just as the server closes an idle connection meets a reset, which an
    /// idempotent call survives by a retry but a create cannot. Ignored with
    /// [`http_client`](Self::http_client) (set `pool_idle_timeout` on yours).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// Use an existing `reqwest::Client` (proxies, TLS settings, connection pools).
    ///
    /// Fly's API never redirects, and the client this crate builds follows no redirect. Build
    /// yours with `reqwest::redirect::Policy::none()` too: a client that follows one re-sends the
    /// request, body and token included, before this crate sees the answer. Answers from another
    /// origin than the base URL's are refused all the same ([`Error::ResponseRefused`]).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Retry policy (default: [`RetryPolicy::default`]; [`RetryPolicy::none`] to disable).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The largest response body accepted, in bytes (default 32 MiB). A larger answer fails
    /// with [`Error::ResponseTooLarge`] without being read past the limit.
    ///
    /// Memory is bounded by bytes, not by objects: what a success decodes into (its list
    /// elements and map entries, each counted at the size of its Rust type) is held to twice
    /// this limit, so a list of tiny JSON objects that would each become a large struct is
    /// refused with the same error instead of taking gigabytes.
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }

    /// Client-side rate limits (default: Fly's documented limits; [`RateLimits::off`]).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// The clock for retries, pacing and waits (default: tokio's). Tests pass a
    /// [`ManualClock`](crate::ManualClock) to run without sleeping.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Fills token and base URL from variables read through `get` (for `from_env` and tests).
    pub fn from_env_vars(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let token = get(TOKEN_ENV)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Error::config(format!(
                    "no API token: set {TOKEN_ENV} (for example from `fly tokens create deploy`)"
                ))
            })?;
        self.token = Some(token);
        if let Some(url) = BASE_URL_ENVS
            .iter()
            .find_map(|name| get(name).filter(|v| !v.trim().is_empty()))
        {
            self.base_url = Some(url);
        }
        Ok(self)
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let raw_token = self.token.ok_or_else(|| {
            Error::config(format!("no API token: call .token(..) or set {TOKEN_ENV}"))
        })?;
        let token = Token::new(&raw_token)?;
        let base_url = normalize_base_url(self.base_url.as_deref().unwrap_or(PUBLIC_BASE_URL))?;
        let agent = self
            .user_agent
            .unwrap_or_else(|| format!("fly-machines-rust/{}", env!("CARGO_PKG_VERSION")));
        let user_agent = HeaderValue::from_str(&agent).map_err(|_| {
            Error::invalid_input("user agent", &agent, "characters allowed in an HTTP header")
        })?;
        let request_timeout = self.request_timeout.unwrap_or(Duration::from_secs(30));
        if request_timeout.is_zero() {
            return Err(Error::invalid_input(
                "request timeout",
                "0s",
                "a duration above zero (every request would fail at once)",
            ));
        }
        let own_client = self.http.is_none();
        let http = match self.http {
            Some(client) => client,
            None => crate::tls::configure(reqwest::Client::builder())?
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
                .pool_idle_timeout(self.pool_idle_timeout.unwrap_or(DEFAULT_POOL_IDLE_TIMEOUT))
                .timeout(request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?,
        };
        let retry = self.retry.unwrap_or_default();
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(TokioClock));
        let rate_limits = self.rate_limits.unwrap_or_default();
        #[cfg(feature = "redis")]
        let rate_limits = {
            rate_limits.validate_shared().map_err(Error::config)?;
            rate_limits.with_token_namespace(&raw_token)
        };
        let pipeline = Arc::new(Pipeline {
            token,
            user_agent,
            request_timeout,
            own_client,
            budget: RetryBudget::new(retry.budget_capacity),
            retry,
            limiter: Limiter::with_clock(rate_limits, clock.clone()).map(Arc::new),
            clock,
            base_url: reqwest::Url::parse(&base_url)
                .map_err(|e| Error::invalid_input("base URL", &base_url, &e.to_string()))?,
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(crate::body_limit::DEFAULT_MAX_RESPONSE_BYTES),
        });
        let inner = Inner::new(pipeline.clone());
        let raw = Arc::new(fly_machines_api::Client::new_with_client(
            &base_url, http, inner,
        ));
        Ok(Client {
            raw,
            pipeline,
            base_url: base_url.into(),
            lease_gates: LeaseGates::default(),
        })
    }
}

/// Accepts `https://api.machines.dev`, `https://api.machines.dev/v1/`, `_api.internal:4280`...
fn normalize_base_url(input: &str) -> Result<String> {
    let trimmed = input.trim();
    let shown = redact_userinfo(input);
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else if trimmed.starts_with("_api.internal")
        || trimmed.starts_with("localhost")
        || trimmed.starts_with("127.")
    {
        format!("http://{trimmed}")
    } else {
        format!("https://{trimmed}")
    };
    let refuse = |expected: &str| Err(Error::invalid_input("base URL", &shown, expected));
    let url = match reqwest::Url::parse(&with_scheme) {
        Ok(url) => url,
        Err(e) => return refuse(&format!("an http(s) URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return refuse("an http(s) URL with a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse(
            "a URL without a user or password: the API authenticates with the token, and a \
             password in the URL would be shown wherever the URL is",
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("a URL without a query or fragment: calls append their own path to it");
    }
    if url.scheme() == "http"
        && url
            .host_str()
            .is_some_and(|host| host.eq_ignore_ascii_case(PUBLIC_HOST))
    {
        return refuse(
            "https:// for Fly's public API: over http:// the token would cross the internet \
             in clear text",
        );
    }
    let base = url.as_str().trim_end_matches('/').to_string();
    Ok(if base.ends_with("/v1") {
        base
    } else {
        format!("{base}/v1")
    })
}

/// Fly's public API host, reached only over https.
const PUBLIC_HOST: &str = "api.machines.dev";

/// `input` with anything between the scheme and an `@` (a user and password) replaced.
fn redact_userinfo(input: &str) -> String {
    let start = input.find("://").map_or(0, |i| i + 3);
    let authority_end = input[start..]
        .find(['/', '?', '#'])
        .map_or(input.len(), |i| start + i);
    match input[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &input[..start], &input[start + at..]),
        None => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalized() {
        assert_eq!(
            normalize_base_url("https://api.machines.dev").unwrap(),
            "https://api.machines.dev/v1"
        );
        assert_eq!(
            normalize_base_url("https://api.machines.dev/v1/").unwrap(),
            "https://api.machines.dev/v1"
        );
        assert_eq!(
            normalize_base_url("_api.internal:4280").unwrap(),
            "http://_api.internal:4280/v1"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:4280/v1").unwrap(),
            "http://127.0.0.1:4280/v1"
        );
        assert!(normalize_base_url("ftp://x").is_err());
        assert!(normalize_base_url("http://").is_err());
    }

    #[test]
    fn base_urls_that_would_leak_or_be_mangled_are_refused() {
        for (url, says) in [
            ("http://user:s3cret@host:4280", "without a user or password"),
            (
                "https://:s3cret@api.machines.dev",
                "without a user or password",
            ),
            ("user:s3cret@host", "without a user or password"),
            (
                "http://127.0.0.1:4280/v1?x=1",
                "without a query or fragment",
            ),
            (
                "http://127.0.0.1:4280/v1#top",
                "without a query or fragment",
            ),
            ("http://api.machines.dev", "https://"),
            ("http://API.MACHINES.DEV/v1", "https://"),
        ] {
            let err = normalize_base_url(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("s3cret"), "{url}: {err}");
        }
        let err = Client::builder()
            .token("t")
            .base_url("http://u:s3cret@[::1")
            .build()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert_eq!(redact_userinfo("http://u:p@h/a@b"), "http://***@h/a@b");
        assert_eq!(redact_userinfo("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn a_zero_request_timeout_is_refused() {
        let err = Client::builder()
            .token("t")
            .request_timeout(Duration::ZERO)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("request timeout"), "{err}");
    }

    /// Every handle names its operation; a handle whose raw call sends another operation fails
    /// before anything leaves, so such a slip cannot go unnoticed in the handle tests.
    #[tokio::test]
    async fn a_call_that_sends_another_operation_than_it_names_is_refused() {
        let server = httpmock::MockServer::start_async().await;
        let any = server
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(serde_json::json!({}));
            })
            .await;
        let client = Client::builder()
            .token("t")
            .base_url(server.base_url())
            .build()
            .unwrap();
        let stop = fly_machines_api::types::StopRequest::default();
        let err = client
            .call(OperationId::MachinesStart, |raw| {
                raw.machines_stop("app", "m1", None, &stop)
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Machines_start") && text.contains("Machines_stop"),
            "{text}"
        );
        assert_eq!(any.calls_async().await, 0, "nothing may be sent");
        // The same call naming its own operation goes through.
        client
            .call(OperationId::MachinesStop, |raw| {
                raw.machines_stop("app", "m1", None, &stop)
            })
            .await
            .unwrap();
        assert_eq!(any.calls_async().await, 1);
    }

    /// A raw call made outside any handle carries no context: the policy looks its row up by
    /// method name and still adds the credentials.
    #[tokio::test]
    async fn a_raw_call_without_a_context_is_prepared_and_authorized() {
        let server = httpmock::MockServer::start_async().await;
        let authorized = server
            .mock_async(|when, then| {
                when.path("/v1/apps/app/machines/m1")
                    .header("authorization", "Bearer t");
                then.status(200).json_body(serde_json::json!({"id": "m1"}));
            })
            .await;
        let client = Client::builder()
            .token("t")
            .base_url(server.base_url())
            .build()
            .unwrap();
        let machine = client
            .raw()
            .machines_show("app", "m1", None, None)
            .await
            .unwrap();
        assert_eq!(machine.id.as_deref(), Some("m1"));
        assert_eq!(authorized.calls_async().await, 1);
    }

    /// The policy sends only what it prepared: a request that reaches it without the
    /// credentials `prepare` adds (or for a method with no row) fails before any connection.
    #[tokio::test]
    async fn the_policy_refuses_to_send_what_it_did_not_prepare() {
        use fly_machines_api::progenitor_client::ClientInfo;
        let server = httpmock::MockServer::start_async().await;
        let any = server
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(serde_json::json!({}));
            })
            .await;
        let client = Client::builder()
            .token("t")
            .base_url(server.base_url())
            .build()
            .unwrap();
        let http = reqwest::Client::new();
        let policy = client.raw().inner().policy();
        let url = reqwest::Url::parse(&server.url("/v1/apps/app/machines/m1")).unwrap();
        let unprepared = reqwest::Request::new(reqwest::Method::GET, url.clone());
        let err = policy
            .execute(&http, unprepared, "machines_show")
            .await
            .unwrap_err();
        assert!(err.is_builder() && !err.is_connect(), "{err:?}");
        let mut no_row = reqwest::Request::new(reqwest::Method::GET, url);
        no_row.headers_mut().insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t"),
        );
        let err = policy
            .execute(&http, no_row, "no_such_method")
            .await
            .unwrap_err();
        assert!(err.is_builder(), "{err:?}");
        assert_eq!(any.calls_async().await, 0, "nothing may be sent");
    }

    #[test]
    fn missing_token_names_the_variable() {
        let err = Client::builder().from_env_vars(|_| None).unwrap_err();
        assert!(err.to_string().contains("FLY_API_TOKEN"), "{err}");
    }

    #[test]
    fn env_vars_pick_token_and_host() {
        let client = Client::builder()
            .from_env_vars(|name| match name {
                "FLY_API_TOKEN" => Some("fm2_secret".into()),
                "FLY_FLAPS_BASE_URL" => Some("http://127.0.0.1:9/".into()),
                _ => None,
            })
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/v1");
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("secret") && shown.contains("FlyV1"),
            "{shown}"
        );
    }
}
