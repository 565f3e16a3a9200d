//! Time as the client sees it, so tests can drive retries, pacing and waits without sleeping.
//!
//! The default [`TokioClock`] follows tokio's time (and so also works with paused tokio time in
//! tests that do no real I/O). [`ManualClock`] is virtual time for tests that talk to a real
//! loopback server: either every sleep jumps time forward at once (auto-advance, the delays are
//! recorded for assertions), or sleeps wait until the test calls [`ManualClock::advance`].

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of time for the client.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
    /// Called as a request goes on the wire; the answer is back when the returned mark drops.
    /// A virtual clock holds time still meanwhile (a request takes no virtual time), except for
    /// a long-poll, which waits for time on the server. Real clocks ignore it.
    fn request_in_flight(&self, long_poll: bool) -> InFlight {
        let _ = long_poll;
        InFlight::none()
    }
}

/// A request on the wire, as told to a [`Clock`]: dropping it says the answer came.
#[must_use = "dropping the mark at once says the answer already came"]
pub struct InFlight(Option<Box<dyn Send>>);

impl InFlight {
    /// A mark that means nothing (for clocks that ignore requests).
    pub fn none() -> InFlight {
        InFlight(None)
    }

    /// A mark whose drop (of `mark`) tells the clock the answer came.
    pub fn new(mark: impl Send + 'static) -> InFlight {
        InFlight(Some(Box::new(mark)))
    }
}

impl Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "InFlight"
        } else {
            "InFlight(none)"
        })
    }
}

/// About thirty years: what "as long as representable" comes to when an `Instant` cannot hold
/// the exact sum (tokio uses the same horizon for sleeps that never end).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `instant + duration`, saturating: when the sum cannot be represented (a caller asked for
/// `Duration::MAX`), a point so far ahead that it is never reached. Never panics.
pub(crate) fn later(instant: Instant, duration: Duration) -> Instant {
    instant
        .checked_add(duration)
        .or_else(|| instant.checked_add(duration.min(FAR_FUTURE)))
        .unwrap_or(instant)
}

/// tokio's clock: real time, or paused time in `#[tokio::test(start_paused = true)]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Virtual time for tests. See the module docs.
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    auto_advance: bool,
    offset: Arc<watch::Sender<Duration>>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl ManualClock {
    /// A clock whose sleeps return at once, moving time forward by the slept amount.
    pub fn auto_advance() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(true))
    }

    /// A clock whose sleeps wait until [`advance`](Self::advance) moves time past their end.
    pub fn manual() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(false))
    }

    fn new(auto_advance: bool) -> ManualClock {
        ManualClock {
            origin: Instant::now(),
            auto_advance,
            offset: Arc::new(watch::channel(Duration::ZERO).0),
            sleeps: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Moves time forward, waking the sleeps that are due.
    pub fn advance(&self, by: Duration) {
        self.offset
            .send_modify(|offset| *offset = offset.saturating_add(by));
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        *self.offset.borrow()
    }

    /// Every sleep requested so far, in order (zero-length ones included).
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        later(self.origin, self.elapsed())
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        if self.auto_advance {
            // Time moves when the sleep is polled, not when it is made: a sleep that loses a
            // `select!` without being polled must not move time.
            let sleeps = Arc::clone(&self.sleeps);
            let offset = Arc::clone(&self.offset);
            return Box::pin(async move {
                sleeps
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(duration);
                offset.send_modify(|now| *now = now.saturating_add(duration));
            });
        }
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
        let due = self.elapsed().saturating_add(duration);
        let mut rx = self.offset.subscribe();
        Box::pin(async move {
            // An error means the clock was dropped: nothing will ever advance it, so return.
            let _ = rx.wait_for(|now| *now >= due).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn auto_advance_moves_time_and_records() {
        let clock = ManualClock::auto_advance();
        let before = clock.now();
        clock.sleep(Duration::from_secs(3)).await;
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(clock.now() - before, Duration::from_millis(3500));
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(3), Duration::from_millis(500)]
        );
    }

    #[tokio::test]
    async fn an_unpolled_sleep_does_not_move_time() {
        let clock = ManualClock::auto_advance();
        drop(clock.sleep(Duration::from_secs(30)));
        assert_eq!(clock.elapsed(), Duration::ZERO);
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test]
    async fn manual_sleeps_wait_for_advance() {
        let clock = ManualClock::manual();
        let sleeping = tokio::spawn(clock.sleep(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleeping.is_finished());
        clock.advance(Duration::from_secs(5));
        sleeping.await.unwrap();
    }
}
