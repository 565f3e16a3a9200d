//! Crash and resume with real processes: `fly-deploy apply` is killed with SIGKILL after each
//! line it prints (each step boundary), and at seeded points of its run, then applied again.
//! After the second run the fleet has converged, no machine is duplicated, the foreign machine
//! is untouched and no lease outlives its TTL.
//!
//! The emulator runs in this process on a manual clock with instant transitions: the CLI's
//! calls see machines change at once, and after a kill the test moves the emulator's clock
//! past the lease TTL, so a lease the dead process held expires without anyone waiting for it.

use std::process::Stdio;
use std::time::Duration;

use fly_machines::testing::TestServer;
use fly_machines::types::MachineConfig;
use fly_machines_sim::{Sim, SimHandle};
use tokio::io::{AsyncBufReadExt, BufReader};

use fly_machines_deploy::{DesiredFleet, marks};

const APP: &str = "crash-shop";
/// Longest one CLI run may take in real time.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Past the longest lease the CLI takes (30 s).
const PAST_TTL: Duration = Duration::from_secs(31);

fn fleet_text(image: &str, count: u32, kind: &str) -> String {
    crate::apply::fleet_toml(APP, kind, count, image, "min_healthy_time = \"0s\"")
}

fn file(name: &str, text: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the fleet file");
    path.to_str().expect("utf-8").to_owned()
}

fn command(sim: &SimHandle, path: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fly-deploy"));
    cmd.args(["apply", path, "--yes", "--wait", "0"])
        .env("FLY_API_TOKEN", sim.token())
        .env("FLY_API_HOSTNAME", sim.hostname())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `apply` and kills it with SIGKILL right after it prints line `kill_after` (counting
/// from 1). Returns whether it was killed (a run may end before that line).
async fn apply_killed_after(sim: &SimHandle, path: &str, kill_after: usize) -> bool {
    let mut child = command(sim, path).spawn().expect("fly-deploy starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let killed = tokio::time::timeout(RUN_LIMIT, async {
        let mut seen = 0;
        while let Ok(Some(_line)) = lines.next_line().await {
            seen += 1;
            if seen == kill_after {
                child.start_kill().expect("SIGKILL");
                return true;
            }
        }
        false
    })
    .await
    .expect("the run ends or reaches its line within the limit");
    let _ = tokio::time::timeout(RUN_LIMIT, child.wait()).await;
    killed
}

/// Runs `apply` to its end; asserts it converged.
async fn apply_to_the_end(sim: &SimHandle, path: &str) {
    let out = tokio::time::timeout(RUN_LIMIT, command(sim, path).output())
        .await
        .expect("the run ends within the limit")
        .expect("fly-deploy runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn world() -> (SimHandle, String) {
    let sim = Sim::builder()
        .manual_clock()
        .transition_time(Duration::ZERO)
        .no_rate_limits()
        .start()
        .await
        .expect("emulator");
    let client = sim.client();
    client
        .apps()
        .create(APP, "personal")
        .send()
        .await
        .expect("app");
    let foreign = MachineConfig {
        image: Some("postgres:16".into()),
        ..Default::default()
    };
    let made = client
        .app(APP)
        .machines()
        .create(foreign)
        .send()
        .await
        .expect("a foreign machine");
    (sim, made.id().to_owned())
}

/// Checks what must hold after any number of kills and one full run.
fn check(sim: &SimHandle, desired: &DesiredFleet, foreign: &str, image: &str, count: usize) {
    let live: Vec<_> = sim
        .machines(APP)
        .into_iter()
        .filter(|m| !m.state().is_terminal())
        .collect();
    let ours: Vec<_> = live
        .iter()
        .filter(|m| m.metadata(marks::FLEET) == Some(desired.name()))
        .collect();
    assert_eq!(
        ours.len(),
        count,
        "no machine duplicated or missing: {ours:#?}"
    );
    for m in &ours {
        assert_eq!(m.image(), Some(image), "{}", m.id());
        assert_eq!(m.state().as_str(), "started", "{}", m.id());
        assert!(!m.is_cordoned(), "{} is left out of the proxy", m.id());
        assert_eq!(
            m.metadata(marks::REVISION),
            Some(desired.groups()[0].revision()),
            "{}",
            m.id()
        );
    }
    let f = live
        .iter()
        .find(|m| m.id() == foreign)
        .expect("the foreign machine is still there");
    assert_eq!(
        f.image(),
        Some("postgres:16"),
        "the foreign machine is untouched"
    );
    let anchors = live
        .iter()
        .filter(|m| m.metadata(marks::LOCK).is_some())
        .count();
    assert!(anchors <= 1, "one anchor at most, found {anchors}");
    // Past the TTL, nothing is leased any more.
    sim.advance(PAST_TTL);
    let leased: Vec<_> = sim
        .machines(APP)
        .into_iter()
        .filter(|m| m.lease().is_some())
        .map(|m| m.id().to_owned())
        .collect();
    assert!(leased.is_empty(), "leases outlived their TTL: {leased:?}");
}

/// The fewest machines of the app serving (started and not cordoned, as the emulator applied
/// each change) since change `after`; the foreign machine counts too.
fn min_serving_since(sim: &SimHandle, after: u64) -> usize {
    let changes = sim.serving_changes(APP);
    let before = changes
        .iter()
        .rev()
        .find(|c| c.seq <= after)
        .map_or(0, |c| c.count);
    changes
        .iter()
        .filter(|c| c.seq > after)
        .map(|c| c.count)
        .fold(before, usize::min)
}

/// Kills one apply after each line it prints, resuming every time, over a create and then an
/// image change: every step boundary of both, then a full run. Through the change, across
/// every kill and resume, serving never drops below the strategy's floor (of the 3 fleet
/// machines: 2 for rolling with `max_unavailable` 1, all 3 for canary and blue-green; plus the
/// foreign machine).
async fn kill_at_every_line(kind: &str) -> usize {
    let (sim, foreign) = world().await;
    let mut kills = 0;
    for (name, image) in [("v1", "nginx:1.27"), ("v2", "nginx:1.28")] {
        let from = sim.serving_changes(APP).last().map_or(0, |c| c.seq);
        let made_before = sim.all_machines(APP).len();
        let text = fleet_text(image, 3, kind);
        let path = file(&format!("crash-{kind}-{name}"), &text);
        let mut line = 1;
        while apply_killed_after(&sim, &path, line).await {
            kills += 1;
            sim.advance(PAST_TTL);
            line += 1;
        }
        apply_to_the_end(&sim, &path).await;
        check(
            &sim,
            &DesiredFleet::from_toml(&text).expect("fleet"),
            &foreign,
            image,
            3,
        );
        if name == "v2" {
            let floor = 1 + if kind == "rolling" { 2 } else { 3 };
            let min = min_serving_since(&sim, from);
            println!("{kind}_min_serving: {min} (floor {floor})");
            assert!(min >= floor, "{kind}: serving fell to {min}, below {floor}");
            // However often it was cut short, the change made one canary, or no machine at
            // all in place.
            let made = sim.all_machines(APP).len() - made_before;
            match kind {
                "canary" => assert_eq!(made, 1, "canary: one canary made, across every resume"),
                "rolling" => assert_eq!(made, 0, "rolling: machines move in place"),
                _ => {}
            }
        }
    }
    sim.shutdown().await;
    kills
}

#[tokio::test]
async fn killed_at_every_step_a_rolling_apply_resumes() {
    let kills = kill_at_every_line("rolling").await;
    println!("rolling_kills: {kills}");
    assert!(kills >= 15, "{kills} kills");
}

/// A canary run killed after its canary is made resumes without making another: the next
/// plan sees the extra machine, destroys an old one at the end, and rolls no wider than that.
#[tokio::test]
async fn killed_at_every_step_a_canary_apply_resumes() {
    let kills = kill_at_every_line("canary").await;
    println!("canary_kills: {kills}");
    assert!(kills >= 15, "{kills} kills");
}

#[tokio::test]
async fn killed_at_every_step_a_blue_green_apply_resumes() {
    let kills = kill_at_every_line("bluegreen").await;
    println!("bluegreen_kills: {kills}");
    assert!(kills >= 15, "{kills} kills");
}

#[tokio::test]
async fn killed_at_seeded_points_a_scale_up_and_down_resumes() {
    let (sim, foreign) = world().await;
    let mut kills = 0;
    // A seeded walk of counts and images; each apply is killed after a seeded line (which may
    // be past its end, so some runs finish), then the next step starts from what is there.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for (i, (count, image)) in [
        (4, "nginx:1.27"),
        (2, "nginx:1.28"),
        (5, "nginx:1.29"),
        (1, "nginx:1.29"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = fleet_text(image, count, "rolling");
        let path = file(&format!("crash-walk-{i}"), &text);
        for _ in 0..3 {
            let line = usize::try_from(next(12) + 1).unwrap_or(1);
            if apply_killed_after(&sim, &path, line).await {
                kills += 1;
            }
            sim.advance(PAST_TTL);
        }
        apply_to_the_end(&sim, &path).await;
        let desired = DesiredFleet::from_toml(&text).expect("fleet");
        check(&sim, &desired, &foreign, image, count as usize);
    }
    println!("walk_kills: {kills}");
    assert!(kills >= 6, "{kills} kills");
    sim.shutdown().await;
}
