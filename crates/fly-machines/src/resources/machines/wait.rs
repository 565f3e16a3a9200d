//! The machine handle's waits: Fly's `/wait` long-poll, looped up to any deadline, and the
//! calls that act and then wait.

use fly_machines_api::OperationId;
use std::num::NonZeroU64;
use std::ops::ControlFlow;
use std::time::Duration;

use futures::StreamExt;

use super::{Machine, Machines};
use crate::clock::later;
use crate::poll::{Acceptor, PollError, Poller};
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::wait::{WaitAll, WaitError, WaitOutcome, WaitState, WaitTargets, as_query, or_started};
use crate::{Error, MachineState, Result, types};

/// Longest single long-poll Fly accepts, in seconds.
const MAX_POLL_SECS: u64 = 60;

impl Machine {
    /// One `/wait` call: `states` comma-separated as Fly takes them, held at most `hold` seconds.
    async fn poll_wait(
        &self,
        states: &str,
        hold: NonZeroU64,
        version: Option<&str>,
        from_event_id: Option<&str>,
    ) -> Result<types::WaitMachineResponse> {
        crate::validate::app_name(&self.app.name)?;
        crate::validate::resource_id("machine id", &self.id)?;
        answer!(self.app.client, OperationId::MachinesWait, |raw| {
            raw.machines_wait(
                &self.app.name,
                &self.id,
                from_event_id,
                None,
                Some(states),
                Some(hold),
                version,
            )
        })
    }
}

#[bon::bon]
impl Machine {
    /// Waits until the machine is in one of `states`:
    /// `machine.wait_for([WaitState::Started]).timeout(Duration::from_secs(300)).await`.
    ///
    /// Defaults: 5 minutes overall, 404 tolerated for 10 s (a machine just created may not be
    /// visible yet), any version. Pass the `version` from create or update to wait for that
    /// version's state rather than an older one's.
    pub fn wait_for(&self, states: impl Into<Vec<WaitState>>) -> MachineWaitForBuilder {
        self.clone().wait_for_builder(states)
    }

    #[builder(
        builder_type(name = MachineWaitForBuilder, vis = "pub"),
        start_fn(name = wait_for_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_wait_for(
        self,
        #[builder(start_fn, into)] states: Vec<WaitState>,
        /// Overall deadline for the wait (any length, `Duration::MAX` included; polled in chunks
        /// of at most 60 s).
        timeout: Option<Duration>,
        /// Only this machine version (`instance_id` from create/update) counts.
        version: Option<String>,
        /// How long a 404 is taken as "not visible yet" rather than an error.
        not_found_grace: Option<Duration>,
    ) -> Result<WaitOutcome> {
        let overall = timeout.unwrap_or(DEFAULT_WAIT);
        let grace = not_found_grace.unwrap_or(Duration::from_secs(10));
        let wanted = or_started(states);
        let wanted_text = as_query(&wanted);
        let wants_failed = wanted
            .iter()
            .any(|s| s.is_reached_by(&MachineState::Failed));
        let wants_destroyed = wanted
            .iter()
            .any(|s| s.is_reached_by(&MachineState::Destroyed));
        // Always ask for `failed` too, so a crash ends the long-poll at once.
        let mut query = wanted_text.clone();
        if !wants_failed {
            query.push_str(",failed");
        }
        let clock = self.app.client.clock().clone();
        let poller = Poller::new(
            clock.clone(),
            QUICK_RETURN_PAUSE_FIRST,
            QUICK_RETURN_PAUSE_MAX,
        )
        .timeout(overall);
        let mut polling = poller.start();
        let started = polling.round().started();
        let deadline = polling.round().deadline();
        let mut from_event_id: Option<String> = None;
        let mut last_state = String::from("unknown");
        let timed_out = |last_state: String| {
            Error::from(WaitError::Timeout {
                machine_id: self.id.to_string(),
                wanted: wanted_text.clone(),
                waited: clock.now().saturating_duration_since(started),
                last_state,
            })
        };
        let failed = || {
            Error::from(WaitError::MachineFailed {
                machine_id: self.id.to_string(),
                wanted: wanted_text.clone(),
            })
        };
        let polled = loop {
            let remaining = polling.round().remaining();
            if remaining.is_zero() {
                return Err(timed_out(last_state));
            }
            let poll_secs = remaining
                .as_secs_f64()
                .ceil()
                .clamp(1.0, MAX_POLL_SECS as f64) as u64;
            let hold = NonZeroU64::new(poll_secs).unwrap_or(NonZeroU64::MIN);
            let polled_at = clock.now();
            let answer = self
                .poll_wait(&query, hold, version.as_deref(), from_event_id.as_deref())
                .await;
            // A long-poll that held for a while needs no pause before the next one; one that
            // came back at once (wrong state, immediate 408, an error) gets a growing pause, so
            // a server that never holds the poll is not asked again and again in a tight loop.
            let returned_at_once = clock.now().saturating_duration_since(polled_at) < QUICK_RETURN;
            if !returned_at_once {
                polling.reset_pauses();
            }
            let again = if returned_at_once {
                Acceptor::Retry
            } else {
                Acceptor::RetryNow
            };
            let next = match answer {
                Ok(answer) if answer.state().as_str().is_empty() => {
                    // A 200 means one of the asked states was reached; a server that answers
                    // `{"ok": true}` alone does not say which, so one GET finds out. Never a
                    // timeout for a success.
                    match self.get().send().await {
                        // Gone already: the asked state was `destroyed`.
                        Err(e) if e.is_not_found() && wants_destroyed => {
                            Acceptor::Done(WaitOutcome {
                                state: MachineState::Destroyed,
                                version: answer.version,
                                event_id: answer.event_id,
                            })
                        }
                        Err(e) => Acceptor::Fail(e),
                        Ok(machine) if machine.state() == MachineState::Failed && !wants_failed => {
                            Acceptor::Fail(failed())
                        }
                        Ok(machine) => Acceptor::Done(WaitOutcome {
                            state: machine.state(),
                            version: answer
                                .version
                                .or_else(|| machine.version().map(str::to_string)),
                            event_id: answer.event_id,
                        }),
                    }
                }
                Ok(answer) => {
                    let state = answer.state();
                    if wanted.iter().any(|w| w.is_reached_by(&state)) {
                        Acceptor::Done(WaitOutcome {
                            state,
                            version: answer.version,
                            event_id: answer.event_id,
                        })
                    } else if state == MachineState::Failed && !wants_failed {
                        Acceptor::Fail(failed())
                    } else {
                        last_state = state.as_str().to_string();
                        if answer.event_id.is_some() {
                            from_event_id = answer.event_id;
                        }
                        again
                    }
                }
                Err(e) if e.is_not_found() && wants_destroyed => Acceptor::Done(WaitOutcome {
                    state: MachineState::Destroyed,
                    version: None,
                    event_id: None,
                }),
                Err(e)
                    if e.is_not_found()
                        && clock.now().saturating_duration_since(started) < grace =>
                {
                    tracing::debug!(machine_id = %self.id, "machine not visible yet; waiting");
                    // Look once more as the grace ends, not a whole pause after it. Within the
                    // grace, look at least once a second: the machine shows up soon.
                    let grace_ends = later(started, grace).min(deadline);
                    Acceptor::RetryWithin(
                        NOT_VISIBLE_POLL.min(grace_ends.saturating_duration_since(clock.now())),
                    )
                }
                // The long-poll ran out (408): poll again until our own deadline, at once if it
                // held for a while.
                Err(e) if e.status() == Some(408) => again,
                Err(e) if e.is_retryable() => Acceptor::Retry,
                Err(e) => Acceptor::Fail(e),
            };
            if let ControlFlow::Break(outcome) = polling.next(next).await {
                break outcome;
            }
        };
        polled.map_err(|e| match e {
            PollError::Failed(e) => e,
            PollError::TimedOut { .. } => timed_out(last_state),
        })
    }

    /// One call of Fly's `/wait` long-poll, which the server holds for at most 60 s:
    /// `machine.wait_once([WaitState::Started]).timeout(Duration::from_secs(30)).await`.
    ///
    /// Most callers want [`wait_for`](Machine::wait_for), which loops this call up to any
    /// deadline, tolerates the 404 after a create and ends on `failed`. A hold that runs out
    /// answers 408 ([`Error::is_timeout`]).
    pub fn wait_once(&self, states: impl Into<Vec<WaitState>>) -> MachineWaitOnceBuilder {
        self.clone().wait_once_builder(states)
    }

    #[builder(
        builder_type(name = MachineWaitOnceBuilder, vis = "pub"),
        start_fn(name = wait_once_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_wait_once(
        self,
        #[builder(start_fn, into)] states: Vec<WaitState>,
        /// How long the server may hold the call: 1 to 60 s, rounded up to whole seconds
        /// (default 60 s).
        timeout: Option<Duration>,
        /// Only this machine version (`instance_id` from create/update) counts.
        version: Option<String>,
        /// Only transitions after this event count.
        from_event_id: Option<String>,
    ) -> Result<types::WaitMachineResponse> {
        let hold = timeout.unwrap_or(Duration::from_secs(MAX_POLL_SECS));
        let secs = hold
            .as_secs()
            .saturating_add(u64::from(hold.subsec_nanos() > 0));
        let secs = NonZeroU64::new(secs)
            .filter(|s| s.get() <= MAX_POLL_SECS)
            .ok_or_else(|| {
                Error::invalid_input(
                    "wait timeout",
                    &format!("{hold:?}"),
                    "a hold of 1 to 60 seconds (Fly's longest); wait_for waits longer",
                )
            })?;
        let query = as_query(&or_started(states));
        self.poll_wait(&query, secs, version.as_deref(), from_event_id.as_deref())
            .await
    }

    /// Waits until the machine is `started`, any version.
    pub fn wait_started(&self, timeout: Duration) -> MachineWaitStartedBuilder {
        self.clone().wait_started_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineWaitStartedBuilder, vis = "pub"),
        start_fn(name = wait_started_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_wait_started(self, #[builder(start_fn)] timeout: Duration) -> Result<WaitOutcome> {
        self.wait_for([WaitState::Started])
            .timeout(timeout)
            .send()
            .await
    }

    /// Waits until the machine is `stopped`, any version.
    pub fn wait_stopped(&self, timeout: Duration) -> MachineWaitStoppedBuilder {
        self.clone().wait_stopped_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineWaitStoppedBuilder, vis = "pub"),
        start_fn(name = wait_stopped_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_wait_stopped(self, #[builder(start_fn)] timeout: Duration) -> Result<WaitOutcome> {
        self.wait_for([WaitState::Stopped])
            .timeout(timeout)
            .send()
            .await
    }

    /// Starts the machine and waits until it is `started`.
    pub fn start_and_wait(&self, timeout: Duration) -> MachineStartAndWaitBuilder {
        self.clone().start_and_wait_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineStartAndWaitBuilder, vis = "pub"),
        start_fn(name = start_and_wait_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_start_and_wait(
        self,
        #[builder(start_fn)] timeout: Duration,
    ) -> Result<WaitOutcome> {
        self.start().send().await?;
        self.wait_started(timeout).send().await
    }

    /// Stops the machine and waits until it is `stopped`.
    pub fn stop_and_wait(&self, timeout: Duration) -> MachineStopAndWaitBuilder {
        self.clone().stop_and_wait_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineStopAndWaitBuilder, vis = "pub"),
        start_fn(name = stop_and_wait_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_stop_and_wait(
        self,
        #[builder(start_fn)] timeout: Duration,
    ) -> Result<WaitOutcome> {
        self.stop().send().await?;
        self.wait_stopped(timeout).send().await
    }

    /// Destroys the machine and waits until it is gone (`destroyed`, or 404):
    /// `machine.destroy_and_wait(d).force().await`.
    pub fn destroy_and_wait(&self, timeout: Duration) -> MachineDestroyAndWaitBuilder {
        self.clone().destroy_and_wait_builder(timeout)
    }

    #[builder(
        builder_type(name = MachineDestroyAndWaitBuilder, vis = "pub"),
        start_fn(name = destroy_and_wait_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_destroy_and_wait(
        self,
        #[builder(start_fn)] timeout: Duration,
        /// Kill the machine if it is running.
        #[builder(default, with = || true)]
        force: bool,
    ) -> Result<WaitOutcome> {
        let delete = self.delete();
        if force {
            delete.force().send().await?;
        } else {
            delete.send().await?;
        }
        self.wait_for([WaitState::Destroyed])
            .timeout(timeout)
            .send()
            .await
    }
}

/// How many waits [`Machines::wait_all`] keeps open at once unless told otherwise.
const DEFAULT_WAITS_IN_FLIGHT: usize = 8;

#[bon::bon]
impl Machines {
    /// Waits for many machines at once, at most `max_in_flight` long-polls open at a time
    /// (default 8), and returns one result per machine, in the order given:
    /// `app.machines().wait_all(&created, [WaitState::Started]).timeout(d).await`.
    ///
    /// Each machine gets the whole `timeout` (default 5 minutes) from when its wait begins;
    /// one failure does not stop the others.
    pub fn wait_all(
        &self,
        targets: impl Into<WaitTargets>,
        states: impl Into<Vec<WaitState>>,
    ) -> MachinesWaitAllBuilder {
        self.clone().wait_all_builder(targets, states)
    }

    #[builder(
        builder_type(name = MachinesWaitAllBuilder, vis = "pub"),
        start_fn(name = wait_all_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_wait_all(
        self,
        #[builder(start_fn, into)] targets: WaitTargets,
        #[builder(start_fn, into)] states: Vec<WaitState>,
        /// The deadline of each machine's wait.
        timeout: Option<Duration>,
        /// The most waits open at once (at least 1).
        max_in_flight: Option<usize>,
    ) -> WaitAll {
        let limit = max_in_flight.unwrap_or(DEFAULT_WAITS_IN_FLIGHT).max(1);
        let timeout = timeout.unwrap_or(DEFAULT_WAIT);
        let ids = targets.0.iter().map(|t| t.machine.id.to_string()).collect();
        // Unordered, then put back in order: with `buffered`, a stuck wait at the head would
        // hold its finished followers' slots, and the waits behind them would queue for a
        // whole timeout per stuck machine.
        let mut done: Vec<(usize, Result<WaitOutcome>)> = futures::stream::iter(targets.0)
            .enumerate()
            .map(|(index, target)| {
                let states = states.clone();
                async move {
                    let outcome = target
                        .machine
                        .wait_for(states)
                        .timeout(timeout)
                        .maybe_version(target.version)
                        .send()
                        .await;
                    (index, outcome)
                }
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        done.sort_unstable_by_key(|(index, _)| *index);
        let results = done.into_iter().map(|(_, outcome)| outcome).collect();
        WaitAll { ids, results }
    }
}

/// The overall deadline of a wait unless set.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// A poll that comes back sooner than this did not hold; the next one waits first.
const QUICK_RETURN: Duration = Duration::from_secs(1);

/// The first pause after a poll that came back at once; it doubles to
/// [`QUICK_RETURN_PAUSE_MAX`], each pause drawn between half and all of its step so many waiters
/// do not poll in step.
const QUICK_RETURN_PAUSE_FIRST: Duration = Duration::from_millis(250);

/// The longest pause after a poll that came back at once.
const QUICK_RETURN_PAUSE_MAX: Duration = Duration::from_secs(5);

/// The longest pause between polls of a machine that is not visible yet.
const NOT_VISIBLE_POLL: Duration = Duration::from_secs(1);

impl Machines {
    /// Creates a machine and waits until its version is `started`.
    pub fn create_and_wait(
        &self,
        config: types::MachineConfig,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<(MachineSnapshot, WaitOutcome)>> + Send + 'static
    {
        let this = self.clone();
        async move {
            let machine = this.create(config).send().await?;
            let outcome = machine.wait_started(timeout).await?;
            Ok((machine, outcome))
        }
    }
}
