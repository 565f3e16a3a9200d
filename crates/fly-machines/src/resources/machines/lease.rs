//! The machine handle's lease calls: take a lease (waiting out a holder, safe to cancel), read
//! the current one, and release one.

use fly_machines_api::OperationId;
use std::ops::ControlFlow;
use std::time::Duration;

use super::Machine;
use crate::LeaseGuard;
use crate::clock::later;
use crate::context::CallContext;
use crate::poll::{Acceptor, Jitter, PollError, Poller};
use crate::{Error, Result, types};

/// The first pause between two tries to take a lease someone else holds; it doubles to
/// [`ACQUIRE_PAUSE_MAX`]. Each pause is drawn between half and all of its step, so two waiters
/// for one machine do not ask in step.
const ACQUIRE_PAUSE_FIRST: Duration = Duration::from_secs(1);

/// The longest pause between two tries to take a lease.
const ACQUIRE_PAUSE_MAX: Duration = Duration::from_secs(4);

#[bon::bon]
impl Machine {
    /// Takes a lease for `ttl` (whole seconds, at least 1):
    /// `machine.lease(Duration::from_secs(30)).description("deploy").await`.
    ///
    /// While someone else holds the lease (409) it tries again until `acquire_timeout` (default
    /// 30 s), pausing 1 s doubling to 4 s, each pause jittered so two waiters do not ask in
    /// step; the last try comes at the deadline. An answer that leaves the outcome unknown (5xx,
    /// 408, a timeout, a broken connection) is tried again too, for at least the lease's TTL: if
    /// the lost attempt did take the lease, nobody refreshes it, it expires, and a later attempt
    /// takes it. So one 503 never fails an acquisition. Any other error ends it at once.
    ///
    /// Cancelling is safe: an acquire request in flight when the caller stops waiting (a
    /// dropped future, a timeout) is finished in a task of its own, which releases the lease it
    /// takes at once. A lease whose answer was lost is never held past its TTL.
    pub fn lease(&self, ttl: Duration) -> MachineLeaseBuilder {
        self.clone().lease_builder(ttl)
    }

    #[builder(
        builder_type(name = MachineLeaseBuilder, vis = "pub"),
        start_fn(name = lease_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_lease(
        self,
        #[builder(start_fn)] ttl: Duration,
        /// Why you hold the lease, shown to others who find the machine leased.
        description: Option<String>,
        /// How long to keep trying while the lease is held by someone else.
        acquire_timeout: Option<Duration>,
        /// Refresh the lease in the background at a third of its TTL (default on).
        auto_refresh: Option<bool>,
    ) -> Result<LeaseGuard> {
        let ttl_secs = ttl.as_secs().max(1);
        let ttl_field = i64::try_from(ttl_secs).map_err(|_| {
            Error::invalid_input(
                "lease ttl",
                &format!("{ttl:?}"),
                "a duration of at most i64::MAX seconds",
            )
        })?;
        let body = types::CreateLeaseRequest {
            description,
            ttl: Some(ttl_field),
        };
        let patience = acquire_timeout.unwrap_or(Duration::from_secs(30));
        let outcome = self.acquire(&body, ttl_secs, patience).await;
        let envelope = outcome?;
        let lease = envelope.data.unwrap_or_default();
        let Some(nonce) = lease.nonce.clone().filter(|n| !n.is_empty()) else {
            return Err(Error::decode(
                OperationId::MachinesCreateLease,
                201,
                "the lease answer carries no nonce",
                serde_json::to_string(&lease).unwrap_or_default(),
            ));
        };
        let machine = self.with_lease_nonce(nonce.clone());
        Ok(LeaseGuard::hold(
            machine,
            nonce,
            lease,
            auto_refresh.unwrap_or(true).then_some(ttl_secs),
        ))
    }

    /// The machine's current lease, or `None` when nobody holds one.
    pub fn current_lease(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<types::Lease>>> + Send + 'static {
        let this = self.clone();
        async move {
            crate::validate::app_name(&this.app.name)?;
            crate::validate::resource_id("machine id", &this.id)?;
            match this
                .app
                .client
                .call(OperationId::MachinesShowLease, |raw| {
                    raw.machines_show_lease(&this.app.name, &this.id)
                })
                .await
            {
                Ok(r) => Ok(r.into_inner().data),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// POST lease: acquire (no nonce) or refresh (with the nonce).
    pub(crate) async fn lease_call(
        &self,
        nonce: Option<&str>,
        body: &types::CreateLeaseRequest,
        bypass_limiter: bool,
    ) -> Result<types::LeaseEnvelope> {
        crate::validate::app_name(&self.app.name)?;
        crate::validate::resource_id("machine id", &self.id)?;
        nonce.map_or(Ok(()), crate::validate::lease_nonce)?;
        let r = self
            .app
            .client
            .call_with(
                OperationId::MachinesCreateLease,
                if bypass_limiter {
                    CallContext::bypassing_limiter()
                } else {
                    CallContext::default()
                },
                |raw| raw.machines_create_lease(&self.app.name, &self.id, nonce, body),
            )
            .await?;
        Ok(r.into_inner())
    }

    /// DELETE lease with `nonce`; a lease that is already gone is not an error.
    pub fn release_lease(
        &self,
        nonce: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let nonce = nonce.to_owned();
        async move {
            let nonce = nonce.as_str();
            crate::validate::app_name(&this.app.name)?;
            crate::validate::resource_id("machine id", &this.id)?;
            crate::validate::lease_nonce(nonce)?;
            match this
                .app
                .client
                .call(OperationId::MachinesReleaseLease, |raw| {
                    raw.machines_release_lease(&this.app.name, &this.id, nonce)
                })
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

/// A lease POST that finishes even when its caller stops waiting. It runs in the caller's task
/// (so the caller's clock and limiter pace it); dropped while in flight, it is handed to a task
/// of its own, which lets it land and releases the lease it took: a cancelled acquisition never
/// leaves behind a lease nobody knows the nonce of.
struct DetachOnDrop {
    post: Option<futures::future::BoxFuture<'static, Result<types::LeaseEnvelope>>>,
    started: bool,
    machine: Machine,
}

impl std::future::Future for DetachOnDrop {
    type Output = Result<types::LeaseEnvelope>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let Some(post) = this.post.as_mut() else {
            return std::task::Poll::Ready(Err(Error::config(
                "a lease request was polled after it finished",
            )));
        };
        this.started = true;
        let outcome = std::task::ready!(post.as_mut().poll(cx));
        this.post = None;
        std::task::Poll::Ready(outcome)
    }
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        // Never polled: nothing was sent.
        let Some(post) = self.post.take().filter(|_| self.started) else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let machine = self.machine.clone();
            runtime.spawn(async move {
                let outcome = post.await;
                machine.release_unwanted(outcome).await;
            });
        }
    }
}

impl Machine {
    /// One acquire POST, safe to cancel (see [`DetachOnDrop`]).
    fn acquire_once(&self, body: &types::CreateLeaseRequest) -> DetachOnDrop {
        let machine = self.clone();
        let body = body.clone();
        DetachOnDrop {
            post: Some(Box::pin(async move {
                machine.lease_call(None, &body, false).await
            })),
            started: false,
            machine: self.clone(),
        }
    }

    /// Tries to take the lease until it is taken or the deadline passes. Waiters of this client
    /// take turns; one that runs out of time in the queue still makes one attempt, so it
    /// reports what the server says. Cancelling it between attempts leaves nothing behind, and
    /// during one, the attempt's own task releases what it takes.
    async fn acquire(
        &self,
        body: &types::CreateLeaseRequest,
        ttl_secs: u64,
        patience: Duration,
    ) -> Result<types::LeaseEnvelope> {
        let clock = self.app.client.clock().clone();
        let deadline = later(clock.now(), patience);
        let gate = self
            .app
            .client
            .lease_gate(&format!("{}/{}", self.app.name, self.id));
        let turn = match gate.clone().try_lock_owned() {
            Ok(turn) => Some(turn),
            Err(_) => tokio::select! {
                biased;
                turn = gate.clone().lock_owned() => Some(turn),
                _ = clock.sleep(deadline.saturating_duration_since(clock.now())) => None,
            },
        };
        let poller = Poller::new(clock.clone(), ACQUIRE_PAUSE_FIRST, ACQUIRE_PAUSE_MAX)
            .jitter(Jitter::Half)
            .timeout(deadline.saturating_duration_since(clock.now()));
        let mut waited_out_own = false;
        let mut last_error = None;
        let mut polling = poller.start();
        let polled = loop {
            let answer = match self.acquire_once(body).await {
                Ok(envelope) => Acceptor::Done(envelope),
                Err(e) => {
                    let held = e.is_conflict();
                    let unknown = !held && e.is_retryable() && !e.is_rate_limited();
                    if unknown && !waited_out_own {
                        // The lost attempt may hold the lease now: keep trying until it has
                        // expired.
                        waited_out_own = true;
                        let own_ttl =
                            Duration::from_secs(ttl_secs).saturating_add(Duration::from_secs(2));
                        polling
                            .round_mut()
                            .extend_deadline(later(clock.now(), own_ttl));
                    }
                    if (held || e.is_retryable()) && turn.is_some() {
                        tracing::debug!(machine_id = %self.id, error = %e, "lease not taken; trying again");
                        last_error = Some(e);
                        Acceptor::Retry
                    } else {
                        Acceptor::Fail(e)
                    }
                }
            };
            if let ControlFlow::Break(outcome) = polling.next(answer).await {
                break outcome;
            }
        };
        let outcome = polled.map_err(|e| match e {
            PollError::Failed(e) => e,
            // Out of time: what the server said last.
            PollError::TimedOut { .. } => last_error
                .take()
                .unwrap_or_else(|| Error::config("the lease was not taken before the deadline")),
        });
        drop(turn);
        drop(gate);
        self.app.client.prune_lease_gates();
        outcome
    }

    /// Releases a lease taken for a caller who is no longer there.
    async fn release_unwanted(&self, envelope: Result<types::LeaseEnvelope>) {
        let Some(nonce) = envelope
            .ok()
            .and_then(|e| e.data)
            .and_then(|lease| lease.nonce)
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        if let Err(e) = self.release_lease(&nonce).await {
            tracing::warn!(machine_id = %self.id, error = %e, "could not release a lease nobody waited for");
        }
    }
}
