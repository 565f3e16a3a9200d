//! The request policy installed into the generated client: auth, pacing, retries, tracing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fly_machines_api::{Operation, PolicyFuture, RequestPolicy};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, USER_AGENT};
use tracing::Instrument;

use crate::clock::Clock;
use crate::context;
use crate::limiter::{LimitKey, Limiter};
use crate::retry::{self, Failure, RetryBudget, RetryPolicy};
use crate::token::Token;

/// Header progenitor puts on every request with the document's version; Fly defines no such
/// header, so it is taken off rather than sent (and parsed) on every call.
const API_VERSION: HeaderName = HeaderName::from_static("api-version");

/// Extra time granted to `/wait` beyond its server-side timeout.
const WAIT_SLACK: Duration = Duration::from_secs(15);

/// Everything the policy needs; one per client, shared by all its calls.
pub(crate) struct Pipeline {
    pub token: Token,
    pub user_agent: HeaderValue,
    pub request_timeout: Duration,
    /// Whether the HTTP client already applies `request_timeout` to every request (it does when
    /// we built it). Then only `/wait` needs a timeout of its own, which spares every other
    /// request the allocations reqwest makes for a per-request timeout.
    pub client_applies_timeout: bool,
    pub retry: RetryPolicy,
    pub budget: RetryBudget,
    pub limiter: Option<Arc<Limiter>>,
    pub clock: Arc<dyn Clock>,
}

impl Pipeline {
    /// The timeout to set on this request, if the HTTP client's own does not fit: `/wait` gets
    /// its long-poll time plus slack.
    fn timeout_for(&self, request: &reqwest::Request, operation: &Operation) -> Option<Duration> {
        if let Some(long_poll) = operation.long_poll {
            let secs = request
                .url()
                .query_pairs()
                .find(|(k, _)| k == long_poll)
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(60);
            return Some((Duration::from_secs(secs) + WAIT_SLACK).max(self.request_timeout));
        }
        (!self.client_applies_timeout).then_some(self.request_timeout)
    }

    /// The facts of one call that every attempt needs.
    fn call<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: &reqwest::Request,
        operation: &'static Operation,
        span: tracing::Span,
    ) -> Call<'a> {
        let bypass = context::with(|c| c.bypass_limiter).unwrap_or(false);
        let limiter = self
            .limiter
            .as_deref()
            .filter(|_| !bypass)
            .map(|limiter| (limiter, Limiter::key(operation, request.url().path())));
        Call {
            client,
            operation,
            // Recording looks each field up by name; skip it all when nobody listens.
            traced: !span.is_disabled(),
            span,
            limiter,
            started: self.clock.now(),
            limiter_wait: Duration::ZERO,
        }
    }

    /// Sends attempt `attempt`, keeping a copy of the request while another attempt is still
    /// possible; a body that cannot be copied (a stream) gets exactly one attempt.
    fn start_attempt(
        &self,
        call: &Call<'_>,
        request: reqwest::Request,
        attempt: u32,
    ) -> (
        impl Future<Output = reqwest::Result<reqwest::Response>> + Send + use<>,
        Option<reqwest::Request>,
    ) {
        if call.traced {
            call.span.record("attempt", attempt);
        }
        let copy = if attempt < self.retry.max_attempts {
            copy_for_retry(&request)
        } else {
            None
        };
        let (this_try, kept) = match copy {
            Some(copy) => (copy, Some(request)),
            None => (request, None),
        };
        (call.client.execute(this_try), kept)
    }

    /// Waits for the limiter's turn; `Err` carries the answer when the wait would be too long.
    async fn admit(&self, call: &mut Call<'_>, attempt: u32) -> Result<(), reqwest::Response> {
        let Some((limiter, key)) = &call.limiter else {
            return Ok(());
        };
        match limiter.acquire(call.operation.rate_limit, key).await {
            Ok(waited) => call.limiter_wait += waited,
            Err(would_wait) => {
                call.span.record("retry_reason", "client_rate_limited");
                record_attempts(attempt - 1);
                return Err(client_rate_limited(call.operation, would_wait));
            }
        }
        if call.traced {
            call.span
                .record("limiter_wait_ms", call.limiter_wait.as_millis() as u64);
        }
        Ok(())
    }

    /// The common case, kept small: the first attempt was sent without waiting, so only its
    /// response is awaited here; a failure hands over to [`Self::retry`], boxed apart so its
    /// state does not weigh on every call.
    async fn first_response(
        &self,
        call: Call<'_>,
        sent: impl Future<Output = reqwest::Result<reqwest::Response>>,
        kept: Option<reqwest::Request>,
    ) -> reqwest::Result<reqwest::Response> {
        let result = sent.await;
        if Failure::classify(&result).is_none() {
            return self.succeed(&call, result, 1);
        }
        Box::pin(self.retry(call, kept, result, 1)).await
    }

    /// The first attempt when it has to wait for the limiter first.
    async fn after_limiter(
        &self,
        mut call: Call<'_>,
        request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        if let Err(refusal) = self.admit(&mut call, 1).await {
            return Ok(refusal);
        }
        let (sent, kept) = self.start_attempt(&call, request, 1);
        let result = sent.await;
        // `retry` books a success itself; this future is boxed on its own already.
        self.retry(call, kept, result, 1).await
    }

    /// Books `attempt` if it succeeded; otherwise decides on it and keeps retrying while that is
    /// safe and allowed.
    async fn retry(
        &self,
        mut call: Call<'_>,
        mut kept: Option<reqwest::Request>,
        mut result: reqwest::Result<reqwest::Response>,
        mut attempt: u32,
    ) -> reqwest::Result<reqwest::Response> {
        loop {
            let Some(failure) = Failure::classify(&result) else {
                return self.succeed(&call, result, attempt);
            };
            let retry_after = result
                .as_ref()
                .ok()
                .and_then(|r| retry::retry_after(r.headers()));
            if failure == Failure::Throttled
                && let Some((limiter, key)) = &call.limiter
            {
                limiter.penalize(call.operation.rate_limit, key, retry_after);
            }
            let delay = self.retry.delay_for(attempt, retry_after);
            let within_deadline = self.retry.max_elapsed.is_none_or(|max| {
                self.clock.now().saturating_duration_since(call.started) + delay <= max
            });
            let may_retry = kept.is_some()
                && failure.safe_to_retry(call.operation.idempotent)
                && within_deadline
                && self.budget.try_withdraw(failure, &self.retry);
            let Some(request) = kept.take().filter(|_| may_retry) else {
                record_attempts(attempt);
                return self.finish(&call.span, result, attempt);
            };
            if call.traced {
                call.span.record("retry_reason", failure.label());
            }
            tracing::debug!(
                attempt,
                reason = failure.label(),
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            // Drop the failed response (and its connection) before waiting.
            drop(result);
            self.clock.sleep(delay).await;
            attempt += 1;
            if let Err(refusal) = self.admit(&mut call, attempt).await {
                return Ok(refusal);
            }
            let (sent, next_kept) = self.start_attempt(&call, request, attempt);
            kept = next_kept;
            result = sent.await;
        }
    }

    /// Books a successful attempt: a first-try success refills the retry budget.
    fn succeed(
        &self,
        call: &Call<'_>,
        result: reqwest::Result<reqwest::Response>,
        attempt: u32,
    ) -> reqwest::Result<reqwest::Response> {
        if attempt == 1 {
            self.budget.deposit(1);
        }
        record_attempts(attempt);
        self.finish(&call.span, result, attempt)
    }

    fn finish(
        &self,
        span: &tracing::Span,
        result: reqwest::Result<reqwest::Response>,
        attempt: u32,
    ) -> reqwest::Result<reqwest::Response> {
        match &result {
            Ok(_) if span.is_disabled() => {}
            Ok(response) => {
                span.record("status", response.status().as_u16());
                if let Some(id) = response
                    .headers()
                    .get("fly-request-id")
                    .and_then(|v| v.to_str().ok())
                {
                    span.record("request_id", id);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "request failed");
            }
        }
        result
    }
}

/// What every attempt of one call shares.
struct Call<'a> {
    client: &'a reqwest::Client,
    operation: &'static Operation,
    span: tracing::Span,
    traced: bool,
    limiter: Option<(&'a Limiter, LimitKey)>,
    started: Instant,
    limiter_wait: Duration,
}

/// A copy of `request` to send again, or `None` when its body cannot be replayed.
///
/// reqwest's `try_clone` also builds an extension map for the timeout even when there is none;
/// a bodiless request (most calls) is copied here from its parts instead, which costs half the
/// allocations. Our requests carry no extension but the timeout, which is copied.
fn copy_for_retry(request: &reqwest::Request) -> Option<reqwest::Request> {
    if request.body().is_some() {
        return request.try_clone();
    }
    let mut copy = reqwest::Request::new(request.method().clone(), request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    if let Some(timeout) = request.timeout() {
        *copy.timeout_mut() = Some(*timeout);
    }
    Some(copy)
}

fn record_attempts(attempts: u32) {
    context::with(|ctx| ctx.record_attempts(attempts));
}

/// The answer given when our own limiter would wait longer than allowed: a 429 in Fly's error
/// shape, so callers handle it like a server refusal.
fn client_rate_limited(operation: &Operation, would_wait: Duration) -> reqwest::Response {
    let body = serde_json::json!({
        "error": format!(
            "client-side rate limit for {} would wait {:.1}s, more than the configured maximum",
            operation.id,
            would_wait.as_secs_f64()
        ),
        "status": "client_rate_limited",
    });
    let response = http::Response::builder()
        .status(429)
        .header("content-type", "application/json")
        .header("retry-after", would_wait.as_secs().max(1).to_string())
        .body(body.to_string())
        .unwrap_or_default();
    reqwest::Response::from(response)
}

impl RequestPolicy for Pipeline {
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        operation: &'static Operation,
    ) -> Result<(), String> {
        let timeout = self.timeout_for(request, operation);
        let headers = request.headers_mut();
        headers.remove(API_VERSION);
        headers.insert(AUTHORIZATION, self.token.header_value().clone());
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        context::with(|ctx| {
            if let Some(named) = ctx.operation
                && named != operation.op
            {
                return Err(format!(
                    "the handle named {named} but the raw client sent {}",
                    operation.id
                ));
            }
            if !ctx.extra_query.is_empty() {
                let mut pairs = request.url_mut().query_pairs_mut();
                for (k, v) in &ctx.extra_query {
                    pairs.append_pair(k, v);
                }
            }
            Ok::<_, String>(())
        })
        .transpose()?;
        if let Some(timeout) = timeout
            && request.timeout().is_none()
        {
            *request.timeout_mut() = Some(timeout);
        }
        Ok(())
    }

    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        operation: &'static Operation,
    ) -> PolicyFuture<'a> {
        // Only work out the span's app and machine when someone is listening.
        let params = if tracing::level_enabled!(tracing::Level::INFO) {
            operation.path_params(request.url().path())
        } else {
            Vec::new()
        };
        let find = |name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let span = tracing::info_span!(
            "fly_machines.call",
            operation = operation.id,
            method = operation.method,
            app = find("app_name"),
            machine_id = find("machine_id"),
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            limiter_wait_ms = tracing::field::Empty,
            retry_reason = tracing::field::Empty,
        );
        drop(params);
        let call = self.call(client, &request, operation, span.clone());
        let instrument = call.traced;
        // Most calls are admitted at once; they send right here and their future only waits for
        // the response. The rest wait for the limiter first.
        let admitted = match &call.limiter {
            None => true,
            Some((limiter, key)) => limiter.try_acquire(operation.rate_limit, key),
        };
        let future: PolicyFuture<'a> = if admitted {
            if call.traced && call.limiter.is_some() {
                call.span.record("limiter_wait_ms", 0u64);
            }
            let (sent, kept) = self.start_attempt(&call, request, 1);
            Box::pin(self.first_response(call, sent, kept))
        } else {
            Box::pin(self.after_limiter(call, request))
        };
        // Entering a span nobody listens to on every poll is pure cost; skip the wrapper then.
        if instrument {
            Box::pin(future.instrument(span))
        } else {
            future
        }
    }
}
