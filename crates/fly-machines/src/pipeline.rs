//! The request policy installed into the generated client: auth, pacing, retries, tracing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fly_machines_api::{Operation, PolicyFuture, RequestPolicy, operation_for, refuse_unsent};
use reqwest::ResponseBuilderExt;
use reqwest::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use tracing::Instrument;

use crate::body_limit;
use crate::clock::Clock;
use crate::context::{self, CallContext, ErrorAnswer, Outcome, SendFacts};
use crate::limiter::{LimitKey, Limiter};
use crate::retry::{Failure, RetryBudget, RetryPolicy};
use crate::token::Token;

/// Extra time granted to `/wait` beyond its server-side timeout.
const WAIT_SLACK: Duration = Duration::from_secs(15);

/// Everything the policy needs; one per client, shared by all its calls.
pub(crate) struct Pipeline {
    pub token: Token,
    pub user_agent: HeaderValue,
    pub request_timeout: Duration,
    /// Whether the HTTP client is one we built. It then applies `request_timeout` to every
    /// request itself, so only `/wait` needs a timeout of its own (sparing every other request
    /// the allocations of a per-request timeout), and it follows no redirects, so every answer
    /// comes from the base URL's origin and needs no check.
    pub own_client: bool,
    pub retry: RetryPolicy,
    pub budget: RetryBudget,
    pub limiter: Option<Arc<Limiter>>,
    pub clock: Arc<dyn Clock>,
    /// Where calls go; answers from any other origin are refused.
    pub base_url: reqwest::Url,
    /// The largest response body accepted, in bytes.
    pub max_response_bytes: u64,
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
            return Some(
                Duration::from_secs(secs)
                    .saturating_add(WAIT_SLACK)
                    .max(self.request_timeout),
            );
        }
        (!self.own_client).then_some(self.request_timeout)
    }

    /// The facts of one call that every attempt needs.
    fn call<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: &reqwest::Request,
        facts: SendFacts,
        span: tracing::Span,
    ) -> Call<'a> {
        let operation = facts.operation;
        let limiter = self
            .limiter
            .as_deref()
            .filter(|_| !facts.bypass_limiter)
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
            repeatable: operation.idempotent || facts.retry_unsafe,
            decode_check: facts.decode_check,
            // Only a caller's client may follow redirects; ours never does, and keeps no copy.
            sent_path: (!self.own_client).then(|| request.url().path().to_string()),
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

    /// One call, as one loop: send, classify the outcome, decide whether to try again, wait,
    /// and resend. Only a failure that is safe to repeat, within attempts, deadline and budget,
    /// goes round again.
    async fn run(
        &self,
        mut call: Call<'_>,
        mut request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        let mut attempt = 1;
        loop {
            if let Err(refusal) = self.admit(&mut call, attempt).await {
                return Ok(refusal);
            }
            if attempt > 1 {
                self.fit_to_deadline(&call, &mut request);
            }
            let (sent, kept) = self.start_attempt(&call, request, attempt);
            let on_the_wire = self
                .clock
                .request_in_flight(call.operation.long_poll.is_some());
            let result = sent.await;
            let (result, read) = self.read_final_answer(&call, result).await;
            drop(on_the_wire);

            // Classify: a success or a final error ends the call here.
            let Some(failure) = self.classify(&result) else {
                if attempt == 1 {
                    self.budget.deposit(1);
                }
                return self.finish(&call, result, attempt, read);
            };

            // Decide: the server's `Retry-After` (capped) paces both the retry and the key.
            let retry_after = result
                .as_ref()
                .ok()
                .and_then(|response| self.retry.retry_after(response.headers()));
            if failure == Failure::Throttled
                && let Some((limiter, key)) = &call.limiter
            {
                limiter.penalize(call.operation.rate_limit, key, retry_after);
            }
            let delay = self.retry.delay_for(attempt, retry_after);
            let Some(next) = kept.filter(|_| self.may_retry(&call, failure, delay)) else {
                return self.finish(&call, result, attempt, read);
            };

            // Wait, without holding the failed response (and its connection).
            if call.traced {
                call.span.record("retry_reason", failure.label());
            }
            tracing::debug!(
                attempt,
                reason = failure.label(),
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            drop(result);
            self.clock.sleep(delay).await;

            // Resend.
            request = next;
            attempt += 1;
        }
    }

    /// For an idempotent call, a final answer from the API is read whole before the call ends,
    /// so that a connection lost mid-body is a failed attempt (sent again like any other
    /// interrupted idempotent call) rather than a decode error after the call has ended. A
    /// create's answer is left to the decoder: losing it stays ambiguous, for the create path
    /// to look up. The flag says whether the body was read (and bounded) here.
    async fn read_final_answer(
        &self,
        call: &Call<'_>,
        result: reqwest::Result<reqwest::Response>,
    ) -> (reqwest::Result<reqwest::Response>, bool) {
        match result {
            Ok(response)
                if call.operation.idempotent
                    && self.classify_answer(&response).is_none()
                    && (self.own_client || same_origin(response.url(), &self.base_url)) =>
            {
                let read =
                    body_limit::read_whole(response, self.max_response_bytes, call.decode_check)
                        .await;
                let whole = read.is_ok();
                (read, whole)
            }
            other => (other, false),
        }
    }

    /// What an answer's status says about the attempt (see [`Failure::of_status`]).
    fn classify_answer(&self, response: &reqwest::Response) -> Option<Failure> {
        Failure::of_status(response.status().as_u16())
    }

    /// Cuts a retry's timeout to what is left of `max_elapsed`, so the call never overshoots
    /// its overall deadline by a whole request timeout. Long-polls keep theirs: their time is
    /// the server's to take, and cutting one short would only turn an answer into a timeout.
    fn fit_to_deadline(&self, call: &Call<'_>, request: &mut reqwest::Request) {
        let Some(max) = self.retry.max_elapsed else {
            return;
        };
        if call.operation.long_poll.is_some() {
            return;
        }
        let spent = self.clock.now().saturating_duration_since(call.started);
        let left = max
            .saturating_sub(spent)
            .max(std::time::Duration::from_millis(1));
        let current = request.timeout().copied().unwrap_or(self.request_timeout);
        if left < current {
            *request.timeout_mut() = Some(left);
        }
    }

    /// What went wrong with one attempt, if it may be worth repeating. An answer from another
    /// origin (a redirect the HTTP client followed) is final: the hooks refuse it.
    fn classify(&self, result: &reqwest::Result<reqwest::Response>) -> Option<Failure> {
        match result {
            Ok(response) if !self.own_client && !same_origin(response.url(), &self.base_url) => {
                None
            }
            _ => Failure::classify(result),
        }
    }

    /// Whether the call may go round again after `failure`: the operation allows it, the delay
    /// fits the overall deadline, and the retry budget pays for it (checked last, as it spends).
    fn may_retry(&self, call: &Call<'_>, failure: Failure, delay: Duration) -> bool {
        let within_deadline = self.retry.max_elapsed.is_none_or(|max| {
            self.clock
                .now()
                .saturating_duration_since(call.started)
                .saturating_add(delay)
                <= max
        });
        failure.safe_to_retry(call.repeatable)
            && within_deadline
            && self.budget.try_withdraw(failure, &self.retry)
    }

    /// Waits for the limiter's turn; `Err` carries the answer when the wait would be too long.
    async fn admit(&self, call: &mut Call<'_>, attempt: u32) -> Result<(), reqwest::Response> {
        let Some((limiter, key)) = &call.limiter else {
            return Ok(());
        };
        let class = call.operation.rate_limit;
        if !limiter.try_acquire(class, key) {
            // Boxed: waiting is the rare path, and its future (a shared limiter's round trip
            // included) would otherwise widen every call's future, which is boxed and copied.
            match Box::pin(limiter.acquire(class, key)).await {
                Ok(waited) => call.limiter_wait = call.limiter_wait.saturating_add(waited),
                Err(would_wait) => {
                    call.span.record("retry_reason", "client_rate_limited");
                    record_outcome(Outcome {
                        attempts: attempt - 1,
                        error_answer: None,
                    });
                    return Err(self.client_rate_limited(call.operation, would_wait));
                }
            }
        }
        if call.traced {
            call.span
                .record("limiter_wait_ms", call.limiter_wait.as_millis() as u64);
        }
        Ok(())
    }

    /// Ends the call: records the attempts on the call and its span, and bounds the body unless
    /// it was `read` whole (and bounded) already.
    fn finish(
        &self,
        call: &Call<'_>,
        result: reqwest::Result<reqwest::Response>,
        attempt: u32,
        read: bool,
    ) -> reqwest::Result<reqwest::Response> {
        let error_answer = match &result {
            Ok(response) if !response.status().is_success() => Some(error_answer(response)),
            _ => None,
        };
        record_outcome(Outcome {
            attempts: attempt,
            error_answer,
        });
        match &result {
            Ok(_) if !call.traced => {}
            Ok(response) => {
                call.span.record("status", response.status().as_u16());
                if let Some(id) = response
                    .headers()
                    .get("fly-request-id")
                    .and_then(|v| v.to_str().ok())
                {
                    call.span.record("request_id", id);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "request failed");
            }
        }
        let result = if read {
            result
        } else {
            result.map(|response| {
                body_limit::bound(response, self.max_response_bytes, call.decode_check)
            })
        };
        match (result, &call.sent_path) {
            (Ok(mut response), Some(path)) => {
                response.extensions_mut().insert(SentFrom {
                    operation: call.operation,
                    path: path.clone(),
                });
                Ok(response)
            }
            (result, _) => result,
        }
    }

    /// The answer given when our own limiter would wait longer than allowed: a 429 in Fly's
    /// error shape, so callers handle it like a server refusal.
    fn client_rate_limited(
        &self,
        operation: &Operation,
        would_wait: Duration,
    ) -> reqwest::Response {
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
            .url(self.base_url.clone())
            .header("content-type", "application/json")
            .header("retry-after", would_wait.as_secs().max(1).to_string())
            .body(body.to_string())
            .unwrap_or_default();
        reqwest::Response::from(response)
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
    /// The operation is idempotent, or the caller opted in to repeating it after an ambiguous
    /// failure (`retry_unsafe`).
    repeatable: bool,
    /// Checks what a success decodes into (see `decode_budget`).
    decode_check: Option<crate::decode_budget::DecodeCheck>,
    /// The path the request was sent to, kept only when the caller's HTTP client might follow
    /// a redirect: an answer from any other path (even on the same origin) is refused.
    sent_path: Option<String>,
}

/// Where a call was sent, attached to its answer when the caller's HTTP client might have
/// followed a redirect, for `check_response` to compare with where the answer came from.
#[derive(Debug, Clone)]
struct SentFrom {
    operation: &'static Operation,
    path: String,
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

/// Hands the call's outcome back to the call (once, when it ends).
fn record_outcome(outcome: Outcome) {
    context::with(|ctx| ctx.record(outcome));
}

/// An error answer's status and request id, for the error built from it.
fn error_answer(response: &reqwest::Response) -> ErrorAnswer {
    ErrorAnswer {
        status: response.status().as_u16(),
        request_id: response
            .headers()
            .get("fly-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Whether `url` is on the same scheme, host and port as `base`.
fn same_origin(url: &reqwest::Url, base: &reqwest::Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

impl RequestPolicy for Pipeline {
    /// Resolves the row from the call's context (one read), applies the facts the call carries,
    /// and adds the credentials. A raw call made outside any handle carries no context: its row
    /// is looked up by method name.
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        method: &'static str,
    ) -> Result<&'static Operation, String> {
        let carried = context::with(|ctx| apply_context(ctx, request, method))
            .transpose()?
            .flatten();
        let operation = match carried {
            Some(operation) => operation,
            None => operation_for(method)?,
        };
        let timeout = self.timeout_for(request, operation);
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.token.header_value().clone());
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if let Some(timeout) = timeout
            && request.timeout().is_none()
        {
            *request.timeout_mut() = Some(timeout);
        }
        Ok(operation)
    }

    fn check_response(
        &self,
        response: &reqwest::Response,
        method: &'static str,
    ) -> Result<(), String> {
        if self.own_client {
            return Ok(());
        }
        let url = response.url();
        let sent = response.extensions().get::<SentFrom>();
        if same_origin(url, &self.base_url) {
            return match sent {
                Some(sent) if sent.path != url.path() => Err(format!(
                    "{}: the answer came from {}, not from {} where the call was sent: the \
                     HTTP client followed a redirect, which Fly's API never sends. Build the \
                     http_client with `redirect::Policy::none()`",
                    sent.operation.id,
                    url.path(),
                    sent.path,
                )),
                _ => Ok(()),
            };
        }
        let operation = sent.map_or(method, |sent| sent.operation.id);
        Err(format!(
            "{}: the answer came from {}://{}, not from the API at {}://{}: the HTTP client \
             followed a redirect, which Fly's API never sends. The request may have been sent \
             there too; build the http_client with `redirect::Policy::none()`",
            operation,
            url.scheme(),
            url.host_str().unwrap_or(""),
            self.base_url.scheme(),
            self.base_url.host_str().unwrap_or(""),
        ))
    }

    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        method: &'static str,
    ) -> PolicyFuture<'a> {
        // Nothing leaves without the credentials `prepare` adds.
        if !request.headers().contains_key(AUTHORIZATION) {
            return refuse_unsent(client);
        }
        // The second and last read of the call's context; a raw call carries none.
        let facts = match context::with(CallContext::send_facts).flatten() {
            Some(facts) => facts,
            None => match operation_for(method) {
                Ok(operation) => SendFacts {
                    operation,
                    bypass_limiter: false,
                    retry_unsafe: false,
                    decode_check: None,
                },
                Err(_) => return refuse_unsent(client),
            },
        };
        let operation = facts.operation;
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
        let call = self.call(client, &request, facts, span.clone());
        // Entering a span nobody listens to on every poll is pure cost; skip the wrapper then.
        if call.traced {
            Box::pin(self.run(call, request).instrument(span))
        } else {
            Box::pin(self.run(call, request))
        }
    }
}

/// Checks that the raw client sends the operation the call named, and appends the call's extra
/// query pairs. `Ok(None)` when the call named no operation.
fn apply_context(
    ctx: &CallContext,
    request: &mut reqwest::Request,
    method: &'static str,
) -> Result<Option<&'static Operation>, String> {
    let Some(operation) = ctx.operation() else {
        return Ok(None);
    };
    if operation.name != method {
        let sent = operation_for(method).map_or(method, |sent| sent.id);
        return Err(format!(
            "the handle named {} but the raw client sent {sent}",
            operation.id
        ));
    }
    if !ctx.extra_query.is_empty() {
        let mut pairs = request.url_mut().query_pairs_mut();
        for (k, v) in &ctx.extra_query {
            pairs.append_pair(k, v);
        }
    }
    Ok(Some(operation))
}
