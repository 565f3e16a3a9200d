//! The one poll loop every wait of the crate runs on: try, judge the answer, pause, try again.
//!
//! A [`Poller`] makes the first attempt at once, then pauses `first` doubling to `max` between
//! attempts, each pause jittered (so many waiters do not poll in step) and cut short at the
//! deadline, so the last attempt comes at the deadline rather than a whole pause after it. Each
//! attempt says what it saw with an [`Acceptor`]. Time is the client's [`Clock`], so tests drive
//! waits on a [`ManualClock`](crate::ManualClock) without sleeping.
//!
//! ```
//! # async fn demo(client: fly_machines::Client) {
//! use std::time::Duration;
//! use fly_machines::poll::{Acceptor, Poller};
//!
//! let poller = Poller::new(client.clock().clone(), Duration::from_millis(250), Duration::from_secs(5))
//!     .timeout(Duration::from_secs(30));
//! let app = client.app("my-app");
//! let found = poller
//!     .poll(|_round| {
//!         let get = app.get().send();
//!         async move {
//!             match get.await {
//!                 Ok(app) => Acceptor::Done(app),
//!                 Err(e) if e.is_not_found() || e.is_retryable() => Acceptor::Retry,
//!                 Err(e) => Acceptor::Fail(e),
//!             }
//!         }
//!     })
//!     .await;
//! # let _ = found;
//! # }
//! ```

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, later};

/// What one attempt saw, and so what the poller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptor<T, E> {
    /// Success: the poll ends with this value.
    Done(T),
    /// Failure that waiting will not fix: the poll ends with this error.
    Fail(E),
    /// Not yet: try again after the next pause.
    Retry,
    /// Not yet: try again after the next pause, but after at most this long (a caller that
    /// knows the answer is close, such as a machine about to become visible).
    RetryWithin(Duration),
    /// Not yet: try again after exactly this long (a server said when); the pauses do not grow.
    RetryAfter(Duration),
    /// Not yet, but the attempt itself took its time (a long-poll the server held): try again
    /// at once, and start the pauses over.
    RetryNow,
}

/// How a pause is drawn from its step (the step doubles from `first` to `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the step.
    None,
    /// Between half the step and the step: spreads waiters while keeping the pace.
    #[default]
    Half,
    /// Between zero and the step: spreads waiters the most.
    Full,
}

impl Jitter {
    /// A pause for `step`, drawn with `unit` in `[0, 1)`.
    fn draw(self, step: Duration, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match self {
            Jitter::None => step,
            Jitter::Half => {
                let half = step / 2;
                half.saturating_add(half.mul_f64(unit))
            }
            Jitter::Full => step.mul_f64(unit),
        }
    }
}

/// Why a poll ended without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollError<E> {
    /// An attempt answered [`Acceptor::Fail`].
    Failed(E),
    /// The deadline passed while attempts kept answering "not yet".
    TimedOut {
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        waited: Duration,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for PollError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Failed(e) => e.fmt(f),
            PollError::TimedOut { attempts, waited } => {
                write!(f, "still not done after {attempts} attempts in {waited:?}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PollError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PollError::Failed(e) => Some(e),
            PollError::TimedOut { .. } => None,
        }
    }
}

/// One attempt as the attempt sees it: which one it is and how much time is left.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    number: u32,
    started: Instant,
    at: Instant,
    deadline: Instant,
}

impl Round {
    /// The attempt's number, counting from 0 (the first attempt, made at once).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Time from the first attempt to this one.
    pub fn elapsed(&self) -> Duration {
        self.at.saturating_duration_since(self.started)
    }

    /// Time from this attempt to the deadline (zero at or past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(self.at)
    }

    /// The instant the poll began.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the poll gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline out to `at` when that is later (a lease wait that must outlast a
    /// lease it may hold). Never moves it closer.
    pub fn extend_deadline(&mut self, at: Instant) {
        self.deadline = self.deadline.max(at);
    }
}

/// The loop of a wait: pauses, jitter, a deadline and a clock. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Poller {
    clock: Arc<dyn Clock>,
    first: Duration,
    max: Duration,
    jitter: Jitter,
    timeout: Duration,
}

impl Poller {
    /// Pauses from `first` doubling to `max` (`max` below `first` counts as `first`), half
    /// jitter, no deadline, on `clock`.
    pub fn new(clock: Arc<dyn Clock>, first: Duration, max: Duration) -> Poller {
        Poller {
            clock,
            first,
            max: max.max(first),
            jitter: Jitter::Half,
            timeout: Duration::MAX,
        }
    }

    /// How pauses are spread.
    pub fn jitter(mut self, jitter: Jitter) -> Poller {
        self.jitter = jitter;
        self
    }

    /// Give up this long after the first attempt (any length; `Duration::MAX` never ends).
    pub fn timeout(mut self, timeout: Duration) -> Poller {
        self.timeout = timeout;
        self
    }

    /// Runs `attempt` at once, then after each pause, until it answers [`Acceptor::Done`] or
    /// [`Acceptor::Fail`], or the deadline passes after an answer of "not yet". A pause never
    /// ends past the deadline: the last attempt comes at the deadline.
    ///
    /// An attempt that keeps state from one try to the next (the last state seen, say) is
    /// easier written as a loop over [`start`](Self::start).
    pub async fn poll<T, E, Fut>(
        &self,
        mut attempt: impl FnMut(Round) -> Fut,
    ) -> Result<T, PollError<E>>
    where
        Fut: Future<Output = Acceptor<T, E>>,
    {
        let mut polling = self.start();
        loop {
            let answer = attempt(*polling.round()).await;
            if let ControlFlow::Break(outcome) = polling.next(answer).await {
                return outcome;
            }
        }
    }

    /// Starts a poll driven by the caller's own loop: make an attempt, hand its answer to
    /// [`Polling::next`], and stop when that says so.
    ///
    /// ```
    /// # async fn demo(poller: fly_machines::poll::Poller) {
    /// use std::ops::ControlFlow;
    /// use fly_machines::poll::Acceptor;
    ///
    /// let mut polling = poller.start();
    /// let mut tries = 0;
    /// let outcome: Result<u32, _> = loop {
    ///     tries += 1;
    ///     let answer = if tries == 3 { Acceptor::Done(tries) } else { Acceptor::<_, ()>::Retry };
    ///     if let ControlFlow::Break(outcome) = polling.next(answer).await {
    ///         break outcome;
    ///     }
    /// };
    /// # let _ = outcome;
    /// # }
    /// ```
    pub fn start(&self) -> Polling {
        let started = self.clock.now();
        Polling {
            poller: self.clone(),
            round: Round {
                number: 0,
                started,
                at: started,
                deadline: later(started, self.timeout),
            },
            step: self.first,
        }
    }
}

/// A poll in progress, for callers that run the loop themselves (see [`Poller::start`]).
#[derive(Debug)]
pub struct Polling {
    poller: Poller,
    round: Round,
    step: Duration,
}

impl Polling {
    /// The attempt about to be made (or just made).
    pub fn round(&self) -> &Round {
        &self.round
    }

    /// The attempt, to move its deadline out ([`Round::extend_deadline`]).
    pub fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }

    /// Starts the pauses over from the first step (an attempt that held for a while, such as a
    /// long-poll, shows the server is answering at its own pace).
    pub fn reset_pauses(&mut self) {
        self.step = self.poller.first;
    }

    /// Takes the answer of the attempt just made: `Break` with the outcome when the poll is
    /// over (done, failed, or out of time), else pauses as the answer asks (never past the
    /// deadline) and returns `Continue` for the next attempt.
    pub async fn next<T, E>(
        &mut self,
        answer: Acceptor<T, E>,
    ) -> ControlFlow<Result<T, PollError<E>>> {
        let wanted = match answer {
            Acceptor::Done(value) => return ControlFlow::Break(Ok(value)),
            Acceptor::Fail(error) => return ControlFlow::Break(Err(PollError::Failed(error))),
            Acceptor::Retry => self.next_pause(),
            Acceptor::RetryWithin(most) => self.next_pause().min(most),
            Acceptor::RetryAfter(pause) => pause,
            Acceptor::RetryNow => {
                self.reset_pauses();
                Duration::ZERO
            }
        };
        let clock = &self.poller.clock;
        let now = clock.now();
        let remaining = self.round.deadline.saturating_duration_since(now);
        if remaining.is_zero() {
            return ControlFlow::Break(Err(PollError::TimedOut {
                attempts: self.round.number.saturating_add(1),
                waited: now.saturating_duration_since(self.round.started),
            }));
        }
        if !wanted.is_zero() {
            clock.sleep(wanted.min(remaining)).await;
        }
        self.round.number = self.round.number.saturating_add(1);
        self.round.at = clock.now();
        ControlFlow::Continue(())
    }

    /// The pause for the current step, jittered, and the step after it.
    fn next_pause(&mut self) -> Duration {
        let pause = self.poller.jitter.draw(self.step, fastrand::f64());
        self.step = self.step.saturating_mul(2).min(self.poller.max);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::convert::Infallible;

    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(5);

    fn poller(clock: &Arc<ManualClock>) -> Poller {
        let clock: Arc<dyn Clock> = clock.clone();
        Poller::new(clock, FIRST, MAX)
    }

    /// Answers "not yet" `n` times, then done with the attempt's number.
    async fn retry_n(poller: &Poller, n: u32) -> Result<u32, PollError<Infallible>> {
        poller
            .poll(|round: Round| async move {
                if round.number() < n {
                    Acceptor::Retry
                } else {
                    Acceptor::Done(round.number())
                }
            })
            .await
    }

    /// The steps a run of pauses draws from: `first` doubling to `max`.
    fn steps(count: usize) -> Vec<Duration> {
        std::iter::successors(Some(FIRST), |s| Some((*s * 2).min(MAX)))
            .take(count)
            .collect()
    }

    #[tokio::test]
    async fn the_first_attempt_is_made_at_once() {
        let clock = ManualClock::auto_advance();
        assert_eq!(retry_n(&poller(&clock), 0).await, Ok(0));
        assert!(clock.sleeps().is_empty());
        assert_eq!(clock.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn without_jitter_pauses_double_up_to_the_most() {
        let clock = ManualClock::auto_advance();
        let poller = poller(&clock).jitter(Jitter::None);
        assert_eq!(retry_n(&poller, 8).await, Ok(8));
        assert_eq!(clock.sleeps(), steps(8));
        assert_eq!(clock.sleeps()[7], MAX);
    }

    #[tokio::test]
    async fn half_jitter_stays_between_half_and_all_of_each_step() {
        let clock = ManualClock::auto_advance();
        retry_n(&poller(&clock).jitter(Jitter::Half), 200)
            .await
            .unwrap();
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 200);
        for (pause, step) in sleeps.iter().zip(steps(200)) {
            assert!(
                *pause >= step / 2 && *pause <= step,
                "{pause:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
        // Jitter: 200 draws are not all the same.
        assert!(sleeps[10..].iter().any(|p| *p != sleeps[10]));
    }

    #[tokio::test]
    async fn full_jitter_stays_between_zero_and_the_step() {
        let clock = ManualClock::auto_advance();
        retry_n(&poller(&clock).jitter(Jitter::Full), 200)
            .await
            .unwrap();
        let sleeps = clock.sleeps();
        for (pause, step) in sleeps.iter().zip(steps(200)) {
            assert!(*pause <= step, "{pause:?} over {step:?}");
        }
        // Some draws fall in the lower half, which half jitter never gives.
        assert!(sleeps[10..].iter().any(|p| *p < MAX / 2));
    }

    #[test]
    fn poll_errors_say_what_happened() {
        let failed: PollError<std::fmt::Error> = PollError::Failed(std::fmt::Error);
        assert_eq!(failed.to_string(), std::fmt::Error.to_string());
        let timed_out: PollError<std::fmt::Error> = PollError::TimedOut {
            attempts: 3,
            waited: Duration::from_secs(2),
        };
        assert_eq!(
            timed_out.to_string(),
            "still not done after 3 attempts in 2s"
        );
    }

    #[test]
    fn jitter_draws_at_the_edges_and_from_bad_units() {
        let step = Duration::from_secs(4);
        assert_eq!(Jitter::Half.draw(step, 0.0), Duration::from_secs(2));
        assert_eq!(Jitter::Half.draw(step, 1.0), step);
        assert_eq!(Jitter::Full.draw(step, 0.0), Duration::ZERO);
        assert_eq!(Jitter::Full.draw(step, f64::NAN), Duration::ZERO);
        assert_eq!(Jitter::Full.draw(step, 7.0), step);
        assert_eq!(Jitter::Half.draw(Duration::MAX, 1.0), Duration::MAX);
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline_and_looks_once_at_it() {
        let clock = ManualClock::auto_advance();
        let timeout = Duration::from_millis(3_300);
        let poller = poller(&clock).jitter(Jitter::None).timeout(timeout);
        let outcome = retry_n(&poller, u32::MAX).await;
        // 250 + 500 + 1000 = 1750, then 1550 (cut from 2000) ends at the deadline exactly.
        assert_eq!(
            clock.sleeps(),
            [250, 500, 1000, 1550].map(Duration::from_millis).to_vec()
        );
        assert_eq!(
            outcome,
            Err(PollError::TimedOut {
                attempts: 5,
                waited: timeout
            })
        );
        assert_eq!(clock.elapsed(), timeout);
    }

    #[tokio::test]
    async fn a_zero_timeout_still_makes_one_attempt() {
        let clock = ManualClock::auto_advance();
        let outcome = retry_n(&poller(&clock).timeout(Duration::ZERO), 1).await;
        assert_eq!(
            outcome,
            Err(PollError::TimedOut {
                attempts: 1,
                waited: Duration::ZERO
            })
        );
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test]
    async fn huge_durations_saturate_instead_of_panicking() {
        let clock = ManualClock::auto_advance();
        let clock_dyn: Arc<dyn Clock> = clock.clone();
        let poller = Poller::new(clock_dyn, Duration::MAX, Duration::MAX)
            .jitter(Jitter::None)
            .timeout(Duration::MAX);
        let outcome = retry_n(&poller, 3).await;
        // The pause is cut to what is left before a deadline about thirty years out, and the
        // second attempt, at that deadline, is the last.
        assert!(matches!(
            outcome,
            Err(PollError::TimedOut { attempts: 2, .. })
        ));
        assert_eq!(clock.sleeps().len(), 1);
        assert!(clock.sleeps()[0] > Duration::from_secs(86_400 * 365));
    }

    #[tokio::test]
    async fn fail_ends_at_once_with_the_error() {
        let clock = ManualClock::auto_advance();
        let outcome: Result<(), _> = poller(&clock)
            .poll(|round: Round| async move {
                if round.number() == 2 {
                    Acceptor::Fail("gone")
                } else {
                    Acceptor::Retry
                }
            })
            .await;
        assert_eq!(outcome, Err(PollError::Failed("gone")));
        assert_eq!(clock.sleeps().len(), 2);
    }

    #[tokio::test]
    async fn retry_after_waits_what_the_server_said_and_retry_now_starts_over() {
        let clock = ManualClock::auto_advance();
        let answers = [
            Acceptor::Retry,
            Acceptor::Retry,
            Acceptor::RetryAfter(Duration::from_secs(7)),
            Acceptor::RetryNow,
            Acceptor::Retry,
            Acceptor::RetryWithin(Duration::from_millis(100)),
            Acceptor::Done(()),
        ];
        let outcome: Result<(), PollError<Infallible>> = poller(&clock)
            .jitter(Jitter::None)
            .poll(|round: Round| std::future::ready(answers[round.number() as usize].clone()))
            .await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(
            clock.sleeps(),
            [250, 500, 7_000, 250, 100]
                .map(Duration::from_millis)
                .to_vec(),
            "RetryNow makes no pause and starts the steps over; RetryWithin caps the step"
        );
    }

    #[tokio::test]
    async fn an_extended_deadline_keeps_the_poll_going() {
        let clock = ManualClock::auto_advance();
        let poller = poller(&clock)
            .jitter(Jitter::None)
            .timeout(Duration::from_secs(1));
        let mut polling = poller.start();
        let ten_seconds_in = later(polling.round().started(), Duration::from_secs(10));
        polling.round_mut().extend_deadline(ten_seconds_in);
        // Moving it closer does nothing.
        let started = polling.round().started();
        polling.round_mut().extend_deadline(started);
        let outcome: Result<u32, PollError<Infallible>> = loop {
            let round = *polling.round();
            let answer = if round.elapsed() >= Duration::from_secs(5) {
                Acceptor::Done(round.number())
            } else {
                Acceptor::Retry
            };
            if let ControlFlow::Break(outcome) = polling.next(answer).await {
                break outcome;
            }
        };
        // 250 + 500 + 1000 + 2000 + 4000 ms: past 5 s at the sixth attempt.
        assert_eq!(outcome, Ok(5));
    }

    #[tokio::test]
    async fn attempts_see_the_time_left() {
        let clock = ManualClock::auto_advance();
        let poller = poller(&clock)
            .jitter(Jitter::None)
            .timeout(Duration::from_secs(1));
        let mut seen = Vec::new();
        let _: Result<(), PollError<Infallible>> = poller
            .poll(|round: Round| {
                seen.push((round.number(), round.remaining()));
                std::future::ready(Acceptor::Retry)
            })
            .await;
        assert_eq!(
            seen,
            vec![
                (0, Duration::from_secs(1)),
                (1, Duration::from_millis(750)),
                (2, Duration::from_millis(250)),
                (3, Duration::ZERO),
            ]
        );
    }
}
