//! The `fly-machines-sim` binary serves on loopback, prints how to use it, and exits cleanly on
//! Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn binary_serves_prints_its_url_and_stops_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fly-machines-sim"))
        .args([
            "--port",
            "0",
            "--token",
            "bin-token",
            "--postgres-step-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.contains("Ctrl-C");
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("banner printed in time")
        .expect("reader");
    let text = lines.join("\n");
    let base = lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("base URL printed")
        .to_string();
    assert!(base.ends_with("/v1"), "{text}");
    assert!(
        text.contains("FLY_API_HOSTNAME=http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("FLY_API_TOKEN=bin-token"), "{text}");

    let resp = reqwest::Client::new()
        .get(format!("{base}/apps"))
        .bearer_auth("bin-token")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    // With zero-length Postgres phases a new cluster is ready at once.
    let cluster: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/postgres"))
        .bearer_auth("bin-token")
        .json(&serde_json::json!({ "org_slug": "personal", "plan": "basic", "region": "iad" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cluster["data"]["status"], "ready", "{cluster}");

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("exits in time")
    .expect("join")
    .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_transition_time_too_long_to_add_saturates_instead_of_panicking() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fly-machines-sim"))
        .args([
            "--port",
            "0",
            "--token",
            "bin-token",
            "--no-rate-limits",
            "--transition-ms",
            "18446744073709551615",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default()
    });
    let first = tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("banner printed in time")
        .expect("reader");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("base URL printed")
        .to_string();
    let http = reqwest::Client::new();
    let app = http
        .post(format!("{base}/apps"))
        .bearer_auth("bin-token")
        .json(&serde_json::json!({ "name": "a" }))
        .send()
        .await
        .expect("create app");
    assert_eq!(app.status(), 201);
    // Scheduling the boot adds the transition time to now: it saturates.
    let machine = http
        .post(format!("{base}/apps/a/machines"))
        .bearer_auth("bin-token")
        .json(&serde_json::json!({ "config": { "image": "nginx:1" } }))
        .send()
        .await
        .expect("create machine");
    assert_eq!(machine.status(), 200);
    let listed = http
        .get(format!("{base}/apps/a/machines"))
        .bearer_auth("bin-token")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
