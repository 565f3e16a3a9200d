//! The `fly-machines-sim` binary serves on loopback, prints how to use it, and exits cleanly on
//! Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn binary_serves_prints_its_url_and_stops_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fly-machines-sim"))
        .args(["--port", "0", "--token", "bin-token"])
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
