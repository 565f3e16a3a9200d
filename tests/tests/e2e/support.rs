//! What every scenario needs: an emulator and a client on one virtual timeline, figures, and
//! readings of the emulator's request log.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fly_machines::poll::{Acceptor, Poller};
use fly_machines::{Client, Error, ErrorCode, RetryPolicy, TokioClock, types};
use fly_machines_sim::{MANUAL_EPOCH_MS, RequestRecord, SimBuilder, SimHandle};
use tokio::task::JoinHandle;

use fly_machines::vtime::VirtualTime;

/// Longest a scenario may take in real time before it is declared hung.
const REAL_TIME_LIMIT: Duration = Duration::from_secs(90);

/// An emulator and a client sharing one virtual timeline, with its driver running.
pub struct World {
    pub vt: VirtualTime,
    pub sim: Arc<SimHandle>,
    pub client: Client,
    driver: JoinHandle<()>,
    started: Instant,
}

impl World {
    /// Starts `sim` (its clock is replaced by the shared one) and a client with Fly's rate
    /// limits and the default retry policy, the way a user's service would configure it.
    pub async fn start(sim: SimBuilder, quantum: Duration) -> World {
        World::start_with(sim, quantum, RetryPolicy::default()).await
    }

    /// Like [`World::start`] with a given retry policy.
    pub async fn start_with(sim: SimBuilder, quantum: Duration, retry: RetryPolicy) -> World {
        let vt = VirtualTime::new(quantum);
        let sim = Arc::new(
            sim.clock(vt.sim_clock())
                .request_log_capacity(200_000)
                .start()
                .await
                .expect("the emulator starts"),
        );
        let client = vt
            .client_builder(&sim)
            .retry(retry)
            .build()
            .expect("the client builds");
        let driver = vt.drive(sim.clone());
        World {
            vt,
            sim,
            client,
            driver,
            started: Instant::now(),
        }
    }

    /// Runs `future` as a worker until it ends; fails the test if the timeline gets stuck or
    /// the real-time limit passes.
    pub async fn run<T, F>(&mut self, name: &str, future: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let work = self.vt.spawn(name, future);
        let outcome = tokio::time::timeout(REAL_TIME_LIMIT, async {
            tokio::select! {
                done = work => done,
                driver = &mut self.driver => {
                    match driver {
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        other => panic!("the time driver ended: {other:?}"),
                    }
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(value)) => value,
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("worker {name} ended abnormally: {e}"),
            Err(_) => panic!("{name} did not finish within {REAL_TIME_LIMIT:?} of real time"),
        }
    }

    /// Real time since the world started.
    pub fn real_elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the driver and the emulator.
    pub async fn shutdown(self) {
        self.driver.abort();
        let _ = self.driver.await;
        if let Ok(sim) = Arc::try_unwrap(self.sim) {
            sim.shutdown().await;
        }
    }
}

/// A scenario's figures: printed as `name: value` and appended to a file under the target
/// directory, so runs can be compared over time.
pub struct Figures {
    scenario: &'static str,
    lines: Vec<String>,
}

impl Figures {
    pub fn new(scenario: &'static str) -> Figures {
        Figures {
            scenario,
            lines: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &str, value: impl Display) {
        let line = format!("{}_{name}: {value}", self.scenario);
        println!("{line}");
        self.lines.push(line);
    }

    /// Writes the figures to `<target>/tmp/e2e-figures/<scenario>.txt` (replacing the last run).
    pub fn save(&self) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-figures");
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        if let Ok(mut f) = std::fs::File::create(dir.join(format!("{}.txt", self.scenario))) {
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let _ = writeln!(f, "# run at unix time {stamp}");
            for line in &self.lines {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

/// Virtual milliseconds since the start of the timeline at which the emulator logged `r`.
pub fn at_ms(r: &RequestRecord) -> u64 {
    r.at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        .saturating_sub(MANUAL_EPOCH_MS)
}

/// The machine id in a `/v1/apps/{app}/machines/{id}/...` path.
pub fn machine_of(r: &RequestRecord) -> Option<&str> {
    let mut parts = r.path.split('/');
    while let Some(p) = parts.next() {
        if p == "machines" {
            return parts.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// Requests per operation id.
pub fn per_operation(log: &[RequestRecord]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in log {
        *out.entry(r.operation.unwrap_or("-")).or_default() += 1;
    }
    out
}

/// A small machine config.
pub fn config(image: &str) -> types::MachineConfig {
    types::MachineConfig {
        image: Some(image.to_string()),
        ..Default::default()
    }
}

/// Seconds with millisecond precision, for figures.
pub fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Errors after which the emulator is unchanged, so the call may simply be made again (its
/// injected 5xx answers and dropped connections come before any effect).
pub fn transient(e: &Error) -> bool {
    e.is_retryable() || matches!(e, Error::Transport(_))
}

/// Tries a call again at once after a transient failure, for as long as it takes: no pause
/// and no deadline (the scenario's real-time limit bounds it), so it never sleeps and any clock
/// will do.
fn at_once() -> Poller {
    Poller::new(Arc::new(TokioClock), Duration::ZERO, Duration::ZERO)
}

/// Repeats a call that may fail transiently until it succeeds (for calls that are harmless to
/// repeat, or that the client stopped retrying because its budget ran out).
pub async fn insist<T, F, Fut>(what: &str, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = fly_machines::Result<T>>,
{
    let polled = at_once()
        .poll(|_| {
            let call = f();
            async move {
                match call.await {
                    Ok(v) => Acceptor::Done(v),
                    Err(e) if transient(&e) => Acceptor::RetryNow,
                    Err(e) => Acceptor::Fail(e),
                }
            }
        })
        .await;
    polled.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Creates an app, trying again after transient failures; a name already taken (by an
/// earlier try whose answer was lost) counts as done.
pub async fn create_app(client: &Client, name: &str) {
    let polled = at_once()
        .poll(|_| {
            let create = client.apps().create(name, "personal").send();
            async move {
                match create.await {
                    Ok(_) => Acceptor::Done(()),
                    Err(e) if transient(&e) => Acceptor::RetryNow,
                    Err(e) if e.code() == Some(&ErrorCode::NameTaken) => Acceptor::Done(()),
                    Err(e) => Acceptor::Fail(e),
                }
            }
        })
        .await;
    polled.unwrap_or_else(|e| panic!("create app {name}: {e}"));
}
