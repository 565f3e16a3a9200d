//! `wait_healthy` on the emulator's health checks, on virtual time: a machine whose checks
//! pass after a delay, one whose checks never pass, one that crash-loops, and a rollout that
//! holds its lease until the new version is healthy.

use std::time::Duration;

use fly_machines::{App, Error, OperationId, WaitError, types};
use fly_machines_sim::Sim;

use crate::support::{Figures, World, at_ms, create_app, secs};

const TRANSITION: Duration = Duration::from_millis(500);
const QUANTUM: Duration = Duration::from_millis(100);
const CHECK_DELAY: Duration = Duration::from_secs(5);

async fn world() -> World {
    let sim = Sim::builder()
        .seed(11)
        .transition_time(TRANSITION)
        .check_delay(CHECK_DELAY);
    World::start(sim, QUANTUM).await
}

/// A config declaring one machine check and one service check.
fn checked(image: &str) -> types::MachineConfig {
    types::MachineConfig {
        image: Some(image.to_string()),
        checks: Some(
            [(
                "alive".to_string(),
                types::MachineCheck {
                    type_: Some("http".into()),
                    port: Some(8080),
                    path: Some("/healthz".into()),
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
        ),
        services: Some(vec![types::MachineService {
            internal_port: Some(8080),
            protocol: Some("tcp".into()),
            checks: Some(vec![types::MachineServiceCheck {
                type_: Some("tcp".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

async fn machine(app: &App, key: &str, image: &str) -> fly_machines::MachineSnapshot {
    app.machines()
        .ensure(key, checked(image))
        .send()
        .await
        .expect("ensure")
        .into_inner()
}

#[tokio::test]
async fn wait_healthy_ends_when_every_declared_check_passes() {
    let mut w = world().await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (waited, healthy) = w
        .run("healthy", async move {
            let app = client.app("health-ok");
            create_app(app.client(), app.name()).await;
            let m = machine(&app, "ok", "registry.fly.io/h:1").await;
            let t0 = vt.elapsed();
            let healthy = m
                .wait_healthy(Duration::from_secs(60))
                .await
                .expect("healthy");
            (vt.elapsed() - t0, healthy)
        })
        .await;
    assert_eq!(healthy.state(), fly_machines::MachineState::Started);
    assert_eq!(healthy.checks().len(), 2);
    assert!(healthy.checks().iter().all(|c| c.is_passing()));
    // Two transitions to `started`, then the check delay; polled at most 5 s apart.
    let earliest = TRANSITION * 2 + CHECK_DELAY;
    assert!(
        waited >= earliest && waited <= earliest + Duration::from_secs(5),
        "{waited:?}"
    );
    let mut f = Figures::new("health_passing");
    f.add("waited_s_virtual", secs(waited));
    f.save();
    w.shutdown().await;
}

#[tokio::test]
async fn wait_healthy_times_out_on_checks_that_never_pass() {
    let mut w = world().await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (waited, err) = w
        .run("unhealthy", async move {
            let app = client.app("health-never");
            create_app(app.client(), app.name()).await;
            let m = machine(&app, "never", "example/unhealthy:1").await;
            let t0 = vt.elapsed();
            let err = m.wait_healthy(Duration::from_secs(30)).await.unwrap_err();
            (vt.elapsed() - t0, err)
        })
        .await;
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(text.contains("checks not passing: alive"), "{text}");
    assert_eq!(waited, Duration::from_secs(30), "ends at its deadline");
    w.shutdown().await;
}

#[tokio::test]
async fn wait_healthy_fails_at_once_on_a_crash_loop() {
    let mut w = world().await;
    let (client, vt) = (w.client.clone(), w.vt.clone());
    let (waited, err) = w
        .run("crashloop", async move {
            let app = client.app("health-crash");
            create_app(app.client(), app.name()).await;
            let m = machine(&app, "crash", "example/crashloop:1").await;
            let t0 = vt.elapsed();
            let err = m.wait_healthy(Duration::from_secs(300)).await.unwrap_err();
            (vt.elapsed() - t0, err)
        })
        .await;
    match &err {
        Error::Wait(w) if matches!(**w, WaitError::CrashLoop { exits, .. } if exits >= 2) => {}
        other => panic!("expected a crash loop, got {other}"),
    }
    // Two exits need launch + 2 × (exit, restart): about 5 transitions, nowhere near 300 s.
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    w.shutdown().await;
}

/// `update_image(..).wait_healthy(d)` releases its lease only once the new version is healthy;
/// without it, right after the update answers.
#[tokio::test]
async fn a_rollout_holds_its_lease_until_the_new_version_is_healthy() {
    let mut w = world().await;
    let client = w.client.clone();
    let id = w
        .run("rollout", async move {
            let app = client.app("health-roll");
            create_app(app.client(), app.name()).await;
            let m = machine(&app, "roll", "registry.fly.io/h:1").await;
            m.wait_healthy(Duration::from_secs(60))
                .await
                .expect("v1 healthy");
            let v2 = m
                .handle()
                .update_image("registry.fly.io/h:2")
                .wait_healthy(Duration::from_secs(60))
                .await
                .expect("v2 healthy");
            assert_eq!(v2.image(), Some("registry.fly.io/h:2"));
            assert!(v2.checks().iter().all(|c| c.is_passing()));
            assert!(v2.handle().lease_nonce().is_none());
            v2.id().to_string()
        })
        .await;
    let log = w.sim.requests();
    let of = |op: OperationId| {
        log.iter()
            .filter(|r| r.operation == Some(op.id()) && r.path.contains(&id))
            .filter(|r| (200..300).contains(&r.status))
            .map(at_ms)
            .collect::<Vec<_>>()
    };
    let updated = of(OperationId::MachinesUpdate);
    let released = of(OperationId::MachinesReleaseLease);
    assert_eq!((updated.len(), released.len()), (1, 1));
    let held = Duration::from_millis(released[0] - updated[0]);
    // Replacing, then started, then the checks' delay: all under the lease.
    assert!(held >= TRANSITION + CHECK_DELAY, "{held:?}");
    w.shutdown().await;
}
