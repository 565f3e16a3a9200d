//! Cancellation: the rollout's future is dropped after each of its awaits in turn, counted as
//! the emulator's answers (cut after the 1st, the 2nd, ... until a run completes). After each
//! drop, once the tasks it left have wound down and virtual time has then passed the lease TTL,
//! no machine is leased, and the runtime is back to the tasks it had before the rollout (no
//! refresher, release or acquire left behind).
//!
//! The emulator runs on a runtime of its own, and the client keeps no idle connection, so
//! every task counted on the test's runtime is the rollout's or the SDK's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use fly_machines::Client;
use fly_machines::vtime::VirtualTime;
use fly_machines_deploy::{Applier, DesiredFleet, observed, plan};
use fly_machines_sim::{Sim, SimHandle};

use crate::apply::{APP, fleet_of};

/// Past the lease TTL the applier takes (30 s).
const PAST_TTL: Duration = Duration::from_secs(31);
/// Longest the runtime may take (real time) to wind down finished tasks.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Runs `inner` until the emulator has logged `until` requests, then drops it at its next
/// wake: the answer it was waiting for has been given, and is never read.
struct CutAt<F> {
    inner: Pin<Box<F>>,
    sim: Arc<SimHandle>,
    until: usize,
}

impl<F: Future> Future for CutAt<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.sim.requests().len() >= self.until {
            return Poll::Ready(None);
        }
        self.inner.as_mut().poll(cx).map(Some)
    }
}

/// An emulator on a runtime of its own thread; stopped when `stop` is dropped.
struct Emulator {
    sim: Arc<SimHandle>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    fn start(vt: &VirtualTime) -> Emulator {
        let builder = Sim::builder()
            .clock(vt.sim_clock())
            .transition_time(Duration::from_secs(1));
        let (ready, started) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the emulator's runtime");
            runtime.block_on(async move {
                let sim = Arc::new(builder.start().await.expect("the emulator starts"));
                let _ = ready.send(sim.clone());
                let _ = stopped.await;
            });
        });
        let sim = started.recv().expect("the emulator's handle");
        Emulator {
            sim,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Lets finished tasks wind down: waits (bounded in real time) until the count of live tasks
/// is at most `target`, and answers the count then.
async fn settle_tasks(target: usize) -> usize {
    let _ = tokio::time::timeout(SETTLE_LIMIT, async {
        while alive() > target {
            tokio::task::yield_now().await;
        }
    })
    .await;
    alive()
}

/// One cut: a fresh fleet at v1, then the change to v2 dropped once the emulator has
/// answered `k` of its requests. Answers whether the change completed before the cut.
async fn cut_after(kind: &str, k: usize) -> bool {
    let vt = VirtualTime::new(Duration::from_millis(250));
    let emulator = Emulator::start(&vt);
    let sim = emulator.sim.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("the http client");
    let client = vt
        .client_builder(&sim)
        .http_client(http)
        .build()
        .expect("the client builds");
    let driver = vt.drive(sim.clone());
    let run = |name: &'static str, work: Pin<Box<dyn Future<Output = ()> + Send>>| {
        let task = vt.run_within(name, Duration::from_secs(60), work);
        async move { task.await.expect("within the real-time limit") }
    };
    let v1 = fleet_of(kind, 2, "nginx:1.27", "min_healthy_time = \"1s\"");
    let v2 = fleet_of(kind, 2, "nginx:1.28", "min_healthy_time = \"1s\"");
    run("v1", {
        let (client, v1) = (client.clone(), v1.clone());
        Box::pin(async move {
            client
                .apps()
                .create(APP, "personal")
                .send()
                .await
                .expect("the app");
            apply(client, v1).await.expect("the fleet");
        })
    })
    .await;
    // Before the rollout: the driver, and whatever the setup left that winds down.
    let baseline = settle_tasks(1).await;

    let until = sim.requests().len() + k;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    run("cut", {
        let (client, sim, done) = (client.clone(), sim.clone(), done.clone());
        Box::pin(async move {
            let cut = CutAt {
                inner: Box::pin(apply(client, v2)),
                sim,
                until,
            };
            if cut.await.is_some() {
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
    })
    .await;
    // What the drop handed to tasks of their own (an acquire in flight, which releases what it
    // takes; a dropped guard's release) finishes first. Their requests do not hold virtual time
    // back, so an acquire still on its way during the TTL wait would land after the jump, take a
    // lease stamped then, and be caught fresh at the check, just before its release.
    settle_tasks(baseline).await;
    // Past the TTL: what was dropped has been released or has expired.
    let clock = vt.client_clock();
    run("ttl", Box::pin(async move { clock.sleep(PAST_TTL).await })).await;
    let leased: Vec<(String, Option<i64>)> = sim
        .machines(APP)
        .into_iter()
        .filter_map(|m| {
            let id = m.id.clone().unwrap_or_default();
            sim.lease(APP, &id).map(|l| (id, l.expires_at))
        })
        .collect();
    assert!(
        leased.is_empty(),
        "{kind}, cut after answer {k}: still leased past the TTL at {} s, \
         (machine, expires_at): {leased:?}",
        sim.clock().now_ms() / 1000
    );
    let left = settle_tasks(baseline).await;
    assert!(
        left <= baseline,
        "{kind}, cut after answer {k}: {left} tasks alive, {baseline} before the rollout"
    );
    driver.abort();
    let _ = driver.await;
    drop(emulator);
    done.load(std::sync::atomic::Ordering::SeqCst)
}

async fn apply(
    client: Client,
    desired: DesiredFleet,
) -> Result<fly_machines_deploy::Report, fly_machines_deploy::ApplyError> {
    let seen = observed::observe(&client, desired.app())
        .await
        .expect("observe");
    let plan = plan(&desired, &seen);
    Applier::new(client).apply(&desired, &plan).await
}

/// Cuts the change after every answer in turn until one run completes; answers the cuts.
async fn cut_everywhere(kind: &str) -> usize {
    let mut k = 1;
    while !cut_after(kind, k).await {
        k += 1;
        assert!(k < 200, "{kind}: the change never completed");
    }
    println!("{kind}_cancellation_points: {}", k - 1);
    k - 1
}

#[tokio::test]
async fn a_rolling_change_dropped_after_any_await_leaves_no_lease_and_no_task() {
    assert!(cut_everywhere("rolling").await >= 10);
}

#[tokio::test]
async fn a_blue_green_change_dropped_after_any_await_leaves_no_lease_and_no_task() {
    assert!(cut_everywhere("bluegreen").await >= 10);
}

#[tokio::test]
async fn a_canary_change_dropped_after_any_await_leaves_no_lease_and_no_task() {
    assert!(cut_everywhere("canary").await >= 10);
}
