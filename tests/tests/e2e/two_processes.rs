//! The preview-environment program run twice at once, in two processes (`preview_env`),
//! against the emulator's binary (`sim_server`, built from `fly-machines-sim`'s `main.rs`) in a
//! third, with ambiguous creates (and no rate limits): the emulator ends with exactly one app,
//! cluster, database, user, secret, three volumes and three machines. Real processes share no
//! clock, so this scenario runs on real time (short transitions and Postgres steps).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fly_machines::Client;

/// Starts the emulator binary and returns it with its `FLY_API_HOSTNAME`.
fn start_emulator(token: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim_server"))
        .args([
            "--port",
            "0",
            "--token",
            token,
            "--seed",
            "20",
            "--transition-ms",
            "20",
            "--postgres-step-ms",
            "100",
            "--check-delay-ms",
            "100",
            // 15% 5xx on every call, lease acquisition included, and 30% of creates answer
            // 408/5xx after taking effect.
            "--error-rate",
            "0.15",
            "--ambiguous-create-rate",
            "0.3",
            // Two processes pacing themselves apart exceed Fly's per-app budget together (the
            // shared limiter is the answer to that, and has its own tests); here it is off.
            "--no-rate-limits",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut hostname = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("banner");
        if let Some(h) = line.trim().strip_prefix("export FLY_API_HOSTNAME=") {
            hostname = Some(h.to_string());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    (child, hostname.expect("the banner names FLY_API_HOSTNAME"))
}

fn preview_env(hostname: &str, token: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_preview_env"))
        .args(args)
        .env("FLY_API_HOSTNAME", hostname)
        .env("FLY_API_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("preview_env starts")
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("preview_env ends");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "preview_env failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test]
async fn the_same_program_in_two_processes_makes_one_of_each() {
    let token = "two-processes";
    let (mut emulator, hostname) = start_emulator(token);
    let image = "registry.fly.io/preview:v2";
    let first = preview_env(&hostname, token, &["up", "7", image]);
    let second = preview_env(&hostname, token, &["up", "7", image]);
    let outputs = tokio::task::spawn_blocking(move || (finish(first), finish(second)));
    let (a, b) = tokio::time::timeout(Duration::from_secs(240), outputs)
        .await
        .expect("both runs end in time")
        .expect("join");
    let line = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_default()
            .to_string()
    };
    for key in ["app", "cluster", "machines", "volumes"] {
        assert_eq!(
            line(&a, key),
            line(&b, key),
            "{key}: both runs see the same"
        );
    }

    // What the emulator holds, read by a third client.
    let client = Client::builder()
        .token(token)
        .base_url(format!("{hostname}/v1"))
        .build()
        .unwrap();
    let app = client.app("pr-7");
    let machines = app.machines().list().send().await.unwrap();
    let volumes = app.volumes().list().send().await.unwrap();
    let live_volumes = volumes.iter().filter(|v| !v.state().is_gone()).count();
    let secrets = app.secrets().list().send().await.unwrap();
    let clusters = client.postgres().clusters().list("personal").await.unwrap();
    let clusters: Vec<_> = clusters.iter().filter(|c| c.name() == "pr-7-db").collect();
    assert_eq!(machines.len(), 3, "machines");
    assert!(machines.iter().all(|m| m.image() == Some(image)));
    assert_eq!(live_volumes, 3, "volumes");
    assert_eq!(
        secrets
            .secrets
            .iter()
            .flatten()
            .filter(|s| s.name.as_deref() == Some("DATABASE_URL"))
            .count(),
        1
    );
    assert_eq!(clusters.len(), 1, "clusters");
    let cluster = client.postgres().cluster(clusters[0].id());
    let users = cluster.users().list().await.unwrap();
    let databases = cluster.databases().list().await.unwrap();
    assert_eq!(users.iter().filter(|u| u.username() == "app").count(), 1);
    assert_eq!(
        databases
            .iter()
            .filter(|d| d.name.as_deref() == Some("app"))
            .count(),
        1
    );
    let (created_a, created_b): (usize, usize) = (
        line(&a, "created").parse().unwrap(),
        line(&b, "created").parse().unwrap(),
    );
    println!("two_processes_created: {created_a} + {created_b}");

    // Torn down by the program, twice.
    let down = finish(preview_env(&hostname, token, &["down", "7"]));
    assert_eq!(line(&down, "removed"), "2");
    let again = finish(preview_env(&hostname, token, &["down", "7"]));
    assert_eq!(line(&again, "removed"), "0");
    let _ = emulator.kill();
    let _ = emulator.wait();
}
