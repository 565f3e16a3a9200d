//! `fly-deploy` as a user runs it: a real process, pointed at an emulator through
//! `FLY_API_TOKEN` and `FLY_API_HOSTNAME`. Each run is bounded in time, and nothing sleeps.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use fly_machines::testing::TestServer;
use fly_machines::types::MachineConfig;
use fly_machines_deploy::{DesiredFleet, marks};
use fly_machines_sim::{Sim, SimHandle};

const FLEET: &str = r#"
app = "cli-shop"

[[group]]
name = "web"
image = "nginx:1.27"
regions = { iad = 2 }
"#;

fn fleet_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the fleet file");
    path
}

async fn run(sim: &SimHandle, args: &[&str]) -> Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fly-deploy"))
        .args(args)
        .env("FLY_API_TOKEN", sim.token())
        .env("FLY_API_HOSTNAME", sim.hostname())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("fly-deploy ends within 60 s")
        .expect("fly-deploy runs")
}

async fn sim_with_app() -> SimHandle {
    let sim = Sim::builder()
        .no_rate_limits()
        .start()
        .await
        .expect("emulator");
    sim.client()
        .apps()
        .create("cli-shop", "personal")
        .await
        .expect("app");
    sim
}

#[tokio::test]
async fn plan_prints_the_diff_and_leaves_foreign_machines_alone() {
    let sim = sim_with_app().await;
    let app = sim.client().app("cli-shop");
    let foreign = MachineConfig {
        image: Some("postgres:16".into()),
        ..Default::default()
    };
    app.machines()
        .create(foreign)
        .await
        .expect("foreign machine");
    // One machine of the fleet, made from an older image.
    let old = DesiredFleet::from_toml(&FLEET.replace("1.27", "1.26")).expect("fleet");
    let config = old.groups()[0].machine_config(old.name(), None);
    let ours = app.machines().create(config).await.expect("fleet machine");

    let out = run(
        &sim,
        &["plan", fleet_file("plan", FLEET).to_str().expect("utf-8")],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 to create, 1 to update"), "{stdout}");
    assert!(
        stdout.contains(&format!("~ update  iad  {}", ours.id())),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"~ image: "nginx:1.26" -> "nginx:1.27""#),
        "{stdout}"
    );
    assert!(stdout.contains("1 foreign machine left alone"), "{stdout}");
    // Planning sends no write: the emulator still has the same two machines.
    assert_eq!(sim.machines("cli-shop").len(), 2);

    let status = run(
        &sim,
        &[
            "status",
            fleet_file("status", FLEET).to_str().expect("utf-8"),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("0 of 2 machines"), "{stdout}");
    assert!(stdout.contains(ours.id()), "{stdout}");
    assert!(
        ours.metadata(marks::FLEET) == Some("cli-shop"),
        "the fleet's machine carries its mark"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_exits_2_naming_the_key_and_line() {
    let sim = sim_with_app().await;
    sim.clear_requests();
    let bad = fleet_file("bad", &FLEET.replace("iad = 2", "iad = -2"));
    let out = run(&sim, &["plan", bad.to_str().expect("utf-8")]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 7"), "{stderr}");
    assert!(stderr.contains("group.web.regions.iad"), "{stderr}");
    assert!(sim.requests().is_empty(), "nothing is sent on bad input");
    sim.shutdown().await;
}

/// A fleet whose gates pass as soon as a machine is healthy: the CLI runs on real time.
const QUICK: &str = r#"
app = "cli-shop"

[[group]]
name = "web"
image = "nginx:1.27"
regions = { iad = 2 }

[group.strategy]
kind = "rolling"
max_unavailable = 1
min_healthy_time = "0s"
"#;

#[tokio::test]
async fn apply_converges_then_status_says_so() {
    let sim = sim_with_app().await;
    let file = fleet_file("apply", QUICK);
    let path = file.to_str().expect("utf-8");
    let out = run(&sim, &["apply", path]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "off a terminal, apply needs --yes: {stderr}"
    );
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(sim.machines("cli-shop").len(), 0, "nothing was made");

    let out = run(&sim, &["apply", path, "--yes"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("done: 2 created"), "{stdout}");
    let status = run(&sim, &["status", path]).await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 of 2 machines"), "{stdout}");

    // The image changes; the anchor machine that holds the lock is neither counted nor moved.
    let v2 = fleet_file("apply-v2", &QUICK.replace("1.27", "1.28"));
    let out = run(&sim, &["apply", v2.to_str().expect("utf-8"), "--yes"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 created, 2 moved"), "{stdout}");
    // Off a terminal, progress is plain lines, one per step, and no bar is drawn.
    let moves = stdout
        .lines()
        .filter(|l| l.starts_with("  moved ") && l.contains(" to version "))
        .count();
    assert_eq!(moves, 2, "{stdout}");
    assert!(stdout.lines().any(|l| l == "all groups done"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no terminal escapes: {stdout:?}"
    );

    // And back: every machine returns to the revision it ran before.
    let out = run(&sim, &["rollback", v2.to_str().expect("utf-8"), "--yes"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rolled back: 2 machines"), "{stdout}");
    let status = run(&sim, &["status", path]).await;
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_deployer_exits_3_while_the_fleet_is_held() {
    let sim = sim_with_app().await;
    let desired = DesiredFleet::from_toml(QUICK).expect("fleet");
    // This process holds the fleet, as another deployer would.
    let held = fly_machines_deploy::FleetLock::acquire(
        &sim.client(),
        &desired,
        "the test's own deployer",
        Duration::ZERO,
    )
    .await
    .expect("the lock");
    let file = fleet_file("held", QUICK);
    // The same apply twice: refused while the lock is held, applied once it is released.
    let apply_now = [
        "apply",
        file.to_str().expect("utf-8"),
        "--yes",
        "--wait",
        "0",
    ];
    let out = run(&sim, &apply_now).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the test's own deployer"), "{stderr}");
    let machines = sim.machines("cli-shop");
    assert_eq!(machines.len(), 1, "only the anchor: nothing was applied");
    held.release().await.expect("release");
    let out = run(&sim, &apply_now).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.shutdown().await;
}
