//! One virtual timeline for the client and the emulator, moved forward only when nothing else
//! can happen (feature `sim`): for tests of whole workflows that must not sleep.
//!
//! The client gets a [`crate::Clock`] whose sleeps end when virtual time reaches their
//! deadline; the emulator runs on a manual [`fly_machines_sim::Clock`] that reads the same time.
//! A driver task moves time forward when every registered worker is blocked on time: asleep on
//! the client clock, or inside a `/wait` long-poll that the emulator has parked. It jumps to the
//! earliest pending sleep, but never further than one `quantum` while long-polls are parked,
//! because the emulator's own deadlines (transitions, long-poll timeouts, lease expiry) are not
//! visible from here.
//!
//! So a run that needs 200 s of Fly's rate limits takes 200 virtual seconds and well under a real
//! second, and no sleep ever ends before its deadline: pacing, TTLs and timeouts keep their
//! meaning.
//!
//! Workers are futures run through [`VirtualTime::spawn`]. A worker is *busy* while it is
//! being polled, while one of its requests is on the wire (a worker that runs several futures
//! at once, some asleep, is still busy while another one's request is out: the server must see
//! each request at the virtual time it was sent, or calls the client paced arrive bunched), or
//! while it is neither asleep on the clock, nor inside a long-poll ([`VirtualTime::waiting`], or
//! any `/wait` the client sends), nor inside [`VirtualTime::idle`] (waiting for other workers);
//! time does not move while any worker is busy. Tasks that are not workers (the client's lease
//! refresher, for instance) still have their sleeps honoured, but their requests do not hold
//! time back.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::Sleep;
use fly_machines_sim::SimHandle;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

tokio::task_local! {
    static WORKER: u64;
}

/// How long (real time) the timeline may stand still with busy workers before the run is
/// declared stuck.
const STUCK_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Worker {
    name: String,
    waiting: u32,
    idle: u32,
    /// Requests on the wire, long-polls apart.
    on_the_wire: u32,
    /// `/wait` long-polls on the wire.
    long_polls: u32,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// (deadline in virtual ms, sleep id) → the worker that sleeps, if any.
    sleepers: BTreeMap<(u64, u64), Option<u64>>,
    workers: HashMap<u64, Worker>,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    sim_clock: fly_machines_sim::Clock,
    now: watch::Sender<u64>,
    state: Mutex<State>,
    changed: Notify,
    quantum_ms: u64,
    sleeps: AtomicU64,
    steps: AtomicU64,
    /// Workers being polled right now (on another thread than the driver's).
    polling: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }
}

/// The shared timeline. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VirtualTime {
    inner: Arc<Inner>,
}

/// A worker of [`VirtualTime::run_within`] that gave no value: it ran past its real-time limit,
/// or its task was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("worker {name:?} did not finish within {limit:?} of real time")]
pub struct Unfinished {
    /// The worker's name.
    pub name: String,
    /// The real time it was given.
    pub limit: Duration,
}

/// What the driver decided after looking at the workers.
#[derive(Debug)]
enum Decision {
    Advance(u64),
    /// Workers are busy (HTTP in flight, or woken but not yet run).
    Busy,
    /// Every worker is blocked, but `waiting` long-polls are not all parked yet.
    AwaitParked(usize),
    /// Nothing is pending on time at all.
    Nothing,
}

impl VirtualTime {
    /// A timeline at virtual zero; `quantum` bounds each step while long-polls are parked.
    pub fn new(quantum: Duration) -> VirtualTime {
        VirtualTime {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                sim_clock: fly_machines_sim::Clock::manual(),
                now: watch::channel(0).0,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                quantum_ms: quantum.as_millis().max(1) as u64,
                sleeps: AtomicU64::new(0),
                steps: AtomicU64::new(0),
                polling: AtomicU64::new(0),
            }),
        }
    }

    /// The emulator's clock (pass it to `Sim::builder().clock(..)`).
    pub fn sim_clock(&self) -> fly_machines_sim::Clock {
        self.inner.sim_clock.clone()
    }

    /// The client's clock (pass it to `Client::builder().clock(..)`).
    pub fn client_clock(&self) -> Arc<dyn crate::Clock> {
        Arc::new(ClientClock(self.inner.clone()))
    }

    /// A client of `sim` on this timeline, paced by Fly's documented limits as in production:
    /// `vt.client_builder(&sim).build()`, with more settings (an HTTP client) before `build`.
    pub fn client_builder(&self, sim: &SimHandle) -> crate::ClientBuilder {
        crate::Client::builder()
            .token(sim.token())
            .base_url(sim.base_url())
            .clock(self.client_clock())
            .rate_limits(crate::RateLimits::fly_defaults())
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.inner.now_ms())
    }

    /// How many non-zero sleeps the client asked for, and how many steps time took.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.inner.sleeps.load(Ordering::Relaxed),
            self.inner.steps.load(Ordering::Relaxed),
        )
    }

    /// Runs `future` as a worker on its own task.
    pub fn spawn<T, F>(&self, name: impl Into<String>, future: F) -> JoinHandle<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let id = {
            let mut s = self.inner.lock();
            s.next_id += 1;
            let id = s.next_id;
            s.workers.insert(
                id,
                Worker {
                    name: name.into(),
                    ..Worker::default()
                },
            );
            id
        };
        let guard = WorkerGuard {
            inner: self.inner.clone(),
            id,
        };
        let polled = Polled {
            inner: self.inner.clone(),
            future: Box::pin(future),
        };
        tokio::spawn(WORKER.scope(id, async move {
            let _guard = guard;
            polled.await
        }))
    }

    /// Runs `future` as a worker (see [`spawn`](Self::spawn)) and waits for its value, for at
    /// most `limit` of real time: a workflow on this timeline takes moments, so one that runs
    /// past the limit is stuck, and says so instead of hanging the test. A panic in the worker
    /// is raised again here.
    pub async fn run_within<T, F>(
        &self,
        name: impl Into<String>,
        limit: Duration,
        future: F,
    ) -> Result<T, Unfinished>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let name = name.into();
        let work = self.spawn(name.clone(), future);
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(_)) | Err(_) => Err(Unfinished { name, limit }),
        }
    }

    /// Marks the current worker as inside a long-poll while `future` runs: it does not hold
    /// time back once the emulator has parked its `/wait`.
    pub async fn waiting<F: Future>(&self, future: F) -> F::Output {
        let _mark = self.mark(|w| &mut w.waiting);
        future.await
    }

    /// Marks the current worker as waiting for other workers while `future` runs.
    pub async fn idle<F: Future>(&self, future: F) -> F::Output {
        let _mark = self.mark(|w| &mut w.idle);
        future.await
    }

    fn mark(&self, field: fn(&mut Worker) -> &mut u32) -> Option<Mark> {
        let id = WORKER.try_with(|id| *id).ok()?;
        if let Some(w) = self.inner.lock().workers.get_mut(&id) {
            *field(w) += 1;
        }
        self.inner.changed.notify_waiters();
        Some(Mark {
            inner: self.inner.clone(),
            id,
            field,
        })
    }

    fn set_now(&self, to: u64) {
        let now = self.inner.now_ms();
        if to <= now {
            return;
        }
        self.inner
            .sim_clock
            .advance(Duration::from_millis(to - now));
        self.inner.now.send_replace(to);
        self.inner.steps.fetch_add(1, Ordering::Relaxed);
        self.inner.changed.notify_waiters();
    }

    fn decide(&self, parked: usize) -> Decision {
        let s = self.inner.lock();
        let now = self.inner.now_ms();
        // A sleep that is due but still registered belongs to a task that has not run yet.
        if s.sleepers.keys().next().is_some_and(|(d, _)| *d <= now) {
            return Decision::Busy;
        }
        if self.inner.polling.load(Ordering::SeqCst) > 0 {
            return Decision::Busy;
        }
        let asleep = |id: u64| s.sleepers.values().any(|w| *w == Some(id));
        let mut waiting = 0;
        for (id, w) in &s.workers {
            if w.on_the_wire > 0 {
                return Decision::Busy;
            }
            // Each long-poll on the wire must be parked by the emulator before time moves.
            waiting += w.long_polls as usize;
            if asleep(*id) || w.idle > 0 {
                continue;
            }
            if w.waiting > 0 {
                // Inside `waiting`, its long-poll not yet sent (or counted above).
                waiting += usize::from(w.long_polls == 0);
            } else if w.long_polls == 0 {
                return Decision::Busy;
            }
        }
        if parked < waiting {
            return Decision::AwaitParked(waiting);
        }
        let next_sleep = s.sleepers.keys().next().map(|(d, _)| *d);
        let next = if parked > 0 {
            Some(next_sleep.map_or(now + self.inner.quantum_ms, |d| {
                d.min(now + self.inner.quantum_ms)
            }))
        } else {
            next_sleep
        };
        match next {
            Some(to) => Decision::Advance(to),
            None => Decision::Nothing,
        }
    }

    fn describe(&self, parked: usize) -> String {
        let s = self.inner.lock();
        let now = self.inner.now_ms();
        let mut lines = vec![format!(
            "virtual time {now} ms, {parked} parked long-polls, {} sleeps",
            s.sleepers.len()
        )];
        for ((deadline, _), worker) in &s.sleepers {
            lines.push(format!("  sleep until {deadline} ms (worker {worker:?})"));
        }
        for (id, w) in &s.workers {
            lines.push(format!(
                "  worker {id} {:?}: waiting {} idle {} on the wire {} long-polls {}",
                w.name, w.waiting, w.idle, w.on_the_wire, w.long_polls
            ));
        }
        lines.join("\n")
    }

    /// Starts the driver for `sim`. Stop it by aborting the handle (dropping it does not).
    pub fn drive(&self, sim: Arc<SimHandle>) -> JoinHandle<()> {
        let vt = self.clone();
        tokio::spawn(async move {
            let mut last_progress = Instant::now();
            let mut last_seen = (u64::MAX, usize::MAX);
            loop {
                // Let everything that was woken run up to its next await.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                let changed = vt.inner.changed.notified();
                let parked = sim.parked_waits();
                let decision = vt.decide(parked);
                let seen = (vt.inner.now_ms(), parked);
                if seen != last_seen {
                    last_seen = seen;
                    last_progress = Instant::now();
                }
                match decision {
                    Decision::Advance(to) => {
                        vt.set_now(to);
                        last_progress = Instant::now();
                        continue;
                    }
                    Decision::AwaitParked(n) => {
                        tokio::select! {
                            _ = sim.until_parked(n) => {}
                            _ = changed => {}
                            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                        }
                    }
                    Decision::Busy => {
                        tokio::select! {
                            _ = changed => {}
                            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                        }
                    }
                    Decision::Nothing => {
                        last_progress = Instant::now();
                        tokio::select! {
                            _ = changed => {}
                            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                        }
                    }
                }
                if last_progress.elapsed() > STUCK_AFTER {
                    panic!(
                        "virtual time is stuck: nothing moved for {STUCK_AFTER:?}\n{}",
                        vt.describe(sim.parked_waits())
                    );
                }
            }
        })
    }
}

fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_millis() as u64;
    if Duration::from_millis(ms) < d {
        ms + 1
    } else {
        ms
    }
}

/// A worker's future, counted in [`Inner::polling`] while it runs.
struct Polled<F> {
    inner: Arc<Inner>,
    future: std::pin::Pin<Box<F>>,
}

impl<F: Future> Future for Polled<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.inner.polling.fetch_add(1, Ordering::SeqCst);
        let out = self.future.as_mut().poll(cx);
        self.inner.polling.fetch_sub(1, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
        out
    }
}

struct WorkerGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.inner.lock().workers.remove(&self.id);
        self.inner.changed.notify_waiters();
    }
}

struct Mark {
    inner: Arc<Inner>,
    id: u64,
    field: fn(&mut Worker) -> &mut u32,
}

impl Drop for Mark {
    fn drop(&mut self) {
        if let Some(w) = self.inner.lock().workers.get_mut(&self.id) {
            let count = (self.field)(w);
            *count = count.saturating_sub(1);
        }
        self.inner.changed.notify_waiters();
    }
}

struct SleepGuard {
    inner: Arc<Inner>,
    key: (u64, u64),
}

impl Drop for SleepGuard {
    fn drop(&mut self) {
        self.inner.lock().sleepers.remove(&self.key);
        self.inner.changed.notify_waiters();
    }
}

/// The client's view of the timeline.
#[derive(Debug)]
struct ClientClock(Arc<Inner>);

impl crate::Clock for ClientClock {
    fn now(&self) -> Instant {
        self.0.origin + Duration::from_millis(self.0.now_ms())
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let ms = ceil_ms(duration);
        if ms == 0 {
            return Box::pin(std::future::ready(()));
        }
        self.0.sleeps.fetch_add(1, Ordering::Relaxed);
        let deadline = self.0.now_ms() + ms;
        let worker = WORKER.try_with(|id| *id).ok();
        let key = {
            let mut s = self.0.lock();
            s.next_id += 1;
            let key = (deadline, s.next_id);
            s.sleepers.insert(key, worker);
            key
        };
        self.0.changed.notify_waiters();
        let guard = SleepGuard {
            inner: self.0.clone(),
            key,
        };
        let mut rx = self.0.now.subscribe();
        Box::pin(async move {
            let _guard = guard;
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }

    fn request_in_flight(&self, long_poll: bool) -> crate::InFlight {
        let Ok(id) = WORKER.try_with(|id| *id) else {
            // Not a worker's request: it does not hold time back.
            return crate::InFlight::none();
        };
        let field: fn(&mut Worker) -> &mut u32 = if long_poll {
            |w| &mut w.long_polls
        } else {
            |w| &mut w.on_the_wire
        };
        if let Some(w) = self.0.lock().workers.get_mut(&id) {
            *field(w) += 1;
        }
        self.0.changed.notify_waiters();
        crate::InFlight::new(Mark {
            inner: self.0.clone(),
            id,
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MachineConfig;
    use fly_machines_sim::Sim;

    /// A worker that never ends is reported by name once its real-time limit passes, instead
    /// of hanging the test that waits for it.
    #[tokio::test(start_paused = true)]
    async fn a_worker_past_its_limit_is_unfinished() {
        let vt = VirtualTime::new(Duration::from_millis(100));
        let limit = Duration::from_secs(5);
        let stuck = vt
            .run_within("stuck", limit, std::future::pending::<()>())
            .await
            .expect_err("a worker that never ends does not finish");
        assert_eq!(stuck.name, "stuck");
        assert_eq!(stuck.limit, limit);
        assert!(stuck.to_string().contains("\"stuck\""), "{stuck}");
        let done = vt.run_within("quick", limit, async { 7 }).await;
        assert_eq!(done.expect("a worker that ends gives its value"), 7);
    }

    /// A worker's panic is the caller's: it is raised again where the worker is waited for.
    #[tokio::test]
    #[should_panic(expected = "the worker's own panic")]
    async fn a_worker_panic_reaches_the_caller() {
        let vt = VirtualTime::new(Duration::from_millis(100));
        let _ = vt
            .run_within("panics", Duration::from_secs(60), async {
                panic!("the worker's own panic")
            })
            .await;
    }

    /// Creates paced by the client's limiter (Fly's create limit: a burst of 3, then 1 a
    /// second, with the client's 5% margin) reach the emulator exactly when the limiter let
    /// them go, though the worker sending them has most of them asleep meanwhile; so the
    /// client's limiter and the emulator's bucket see the same arrivals and agree: no 429.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paced_requests_arrive_when_sent_and_are_never_refused() {
        let vt = VirtualTime::new(Duration::from_millis(100));
        let sim = Arc::new(
            Sim::builder()
                .clock(vt.sim_clock())
                .start()
                .await
                .expect("the emulator"),
        );
        let client = vt.client_builder(&sim).build().expect("the client");
        let driver = vt.drive(sim.clone());
        let made = vt
            .run_within("creates", Duration::from_secs(60), async move {
                client
                    .apps()
                    .create("paced", "personal")
                    .send()
                    .await
                    .expect("the app");
                let machines = client.app("paced").machines();
                let creates = (0..12).map(|_| {
                    let config = MachineConfig {
                        image: Some("nginx:1".into()),
                        ..Default::default()
                    };
                    machines.create(config).send()
                });
                futures::future::join_all(creates).await
            })
            .await
            .expect("the creates end within a minute of real time");
        driver.abort();
        assert!(made.iter().all(Result::is_ok), "{made:?}");
        let log = sim.requests();
        let throttled: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
        assert!(throttled.is_empty(), "{throttled:?}");
        let mut arrivals: Vec<u128> = log
            .iter()
            .filter(|r| r.operation == Some("Machines_create"))
            .map(|r| {
                r.at.duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
            })
            .collect();
        arrivals.sort_unstable();
        let first = arrivals[0];
        let offsets: Vec<u128> = arrivals.iter().map(|at| at - first).collect();
        let paced: Vec<u128> = (0..12u128).map(|i| i.saturating_sub(2) * 1050).collect();
        assert_eq!(offsets, paced);
    }
}
