//! The machine handle's health wait: read the machine until it is started, at the version that
//! counts and passing its checks, or has failed.

use std::ops::ControlFlow;
use std::time::Duration;

use super::Machine;
use crate::health::{Verdict, judge};
use crate::poll::{Acceptor, PollError, Poller};
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::wait::WaitError;
use crate::{Error, Result};

/// The first pause between two looks unless set; it doubles to ten times itself.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest pause, as a multiple of the first.
const MAX_POLL_INTERVAL_FACTOR: u32 = 10;

/// How long a 404 right after a create counts as "not visible yet".
const NOT_FOUND_GRACE: Duration = Duration::from_secs(10);

#[bon::bon]
impl Machine {
    /// Waits until the machine is healthy: `started`, at `version` when given, and passing
    /// every health check its config declares (a machine that declares none is healthy once
    /// started): `machine.wait_healthy(Duration::from_secs(120)).await?`.
    ///
    /// Fails at once when the machine lands in `failed` ([`WaitError::MachineFailed`]) or
    /// crash-loops: its main process exited
    /// [`CRASH_LOOP_EXITS`](crate::health::CRASH_LOOP_EXITS) times since the version was
    /// launched ([`WaitError::CrashLoop`]); with [`WaitError::Timeout`] (naming what was
    /// missing) when `timeout` passes first. The machine is read with Get Machine (paced by
    /// the client's limiter), first after `poll_interval` (default 500 ms) doubling to ten
    /// times that; failed reads that may succeed later are read again, and a 404 in the first
    /// 10 s is taken as a machine not visible yet. Returns the healthy machine.
    pub fn wait_healthy(&self, timeout: Duration) -> MachineWaitHealthyBuilder {
        self.clone().wait_healthy_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineWaitHealthyBuilder, vis = "pub"),
        start_fn(name = wait_healthy_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_wait_healthy(
        self,
        #[builder(start_fn)] timeout: Duration,
        /// Only this version (`instance_id`) counts; any when unset.
        version: Option<String>,
        /// The first pause between two reads.
        poll_interval: Option<Duration>,
    ) -> Result<MachineSnapshot> {
        self.check()?;
        let first = poll_interval
            .unwrap_or(DEFAULT_POLL_INTERVAL)
            .max(Duration::from_millis(1));
        let clock = self.app.client.clock().clone();
        let poller = Poller::new(
            clock.clone(),
            first,
            first.saturating_mul(MAX_POLL_INTERVAL_FACTOR),
        )
        .timeout(timeout);
        let mut last = String::from("unknown");
        let mut polling = poller.start();
        let polled = loop {
            let answer = match self.get().send().await {
                Ok(snapshot) => match judge(&snapshot, version.as_deref()) {
                    Verdict::Healthy => {
                        Acceptor::Done(snapshot.with_nonce(self.lease_nonce.clone()))
                    }
                    Verdict::Failed(e) => Acceptor::Fail(e),
                    Verdict::NotYet(why) => {
                        last = why;
                        Acceptor::Retry
                    }
                },
                Err(e)
                    if e.is_not_found()
                        && clock
                            .now()
                            .saturating_duration_since(polling.round().started())
                            < NOT_FOUND_GRACE =>
                {
                    last = "not visible yet".into();
                    Acceptor::Retry
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(machine_id = %self.id, error = %e, "health read failed; reading again");
                    Acceptor::Retry
                }
                Err(e) => Acceptor::Fail(e),
            };
            if let ControlFlow::Break(outcome) = polling.next(answer).await {
                break outcome;
            }
        };
        polled.map_err(|e| match e {
            PollError::Failed(e) => e,
            PollError::TimedOut { waited, .. } => Error::from(WaitError::Timeout {
                machine_id: self.id.to_string(),
                wanted: "healthy".into(),
                waited,
                last_state: last,
            }),
        })
    }
}

impl MachineSnapshot {
    /// Waits until this version of the machine is healthy: started, still at this version,
    /// every declared check passing (see [`Machine::wait_healthy`]).
    pub fn wait_healthy(
        &self,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<MachineSnapshot>> + Send + 'static {
        self.handle()
            .wait_healthy(timeout)
            .maybe_version(self.version().map(str::to_string))
            .send()
    }
}
