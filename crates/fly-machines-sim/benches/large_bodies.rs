//! Does one large request stall the others? Get Machine latency on one app, alone and while
//! another app's machine is updated with 15 MB configs in a loop, measured in the same run.
//!
//! Prints `name: value` lines: `small_get_p50_ms_alone`, `small_get_p90_ms_alone`,
//! `small_get_p90_ms_beside_15mb_updates`, `p90_ratio_beside_vs_alone` (the cost a large
//! body imposes on unrelated calls; bodies are parsed and answers encoded outside the state
//! lock, so it stays small), and `large_updates_done`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fly_machines_sim::Sim;
use serde_json::json;

const SAMPLES: usize = 300;
const BODY_MB: usize = 15;
const LARGE_UPDATES: u64 = 8;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Sequential GETs of one machine, at least `SAMPLES` and until `enough` says so; returns
/// the sorted latencies.
async fn sample(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    enough: impl Fn() -> bool,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(SAMPLES);
    while out.len() < SAMPLES || !enough() {
        let started = Instant::now();
        let resp = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert!(resp.status().is_success());
        let _ = resp.bytes().await;
        out.push(started.elapsed());
    }
    out.sort();
    out
}

async fn machine(client: &reqwest::Client, base: &str, token: &str, app: &str) -> String {
    client
        .post(format!("{base}/apps"))
        .bearer_auth(token)
        .json(&json!({ "name": app }))
        .send()
        .await
        .expect("app");
    let m: serde_json::Value = client
        .post(format!("{base}/apps/{app}/machines"))
        .bearer_auth(token)
        .json(&json!({ "config": { "image": "nginx:1" } }))
        .send()
        .await
        .expect("machine")
        .json()
        .await
        .expect("json");
    m["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let sim = Sim::builder()
        .no_rate_limits()
        .transition_time(Duration::ZERO)
        .start()
        .await
        .expect("sim");
    let token = sim.token().to_string();
    let base = sim.base_url();
    let client = reqwest::Client::new();
    let small = machine(&client, &base, &token, "small").await;
    let big = machine(&client, &base, &token, "big").await;
    let small_url = format!("{base}/apps/small/machines/{small}");

    let alone = sample(&client, &small_url, &token, || true).await;

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let body = Arc::new(
        json!({ "config": { "image": "nginx:2", "env": { "BIG": "x".repeat(BODY_MB << 20) } } })
            .to_string(),
    );
    let writer = {
        let (stop, done, body, client) = (stop.clone(), done.clone(), body.clone(), client.clone());
        let (url, token) = (format!("{base}/apps/big/machines/{big}"), token.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.as_bytes().to_vec())
                    .send()
                    .await;
                if let Ok(resp) = resp
                    && resp.status().is_success()
                {
                    let _ = resp.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Let the first large update get going.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Sample across several large updates, not just the first.
    let beside = sample(&client, &small_url, &token, || {
        done.load(Ordering::Relaxed) >= LARGE_UPDATES
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let _ = writer.await;

    let p90_alone = percentile(&alone, 0.9);
    let p90_beside = percentile(&beside, 0.9);
    println!("small_get_p50_ms_alone: {:.2}", percentile(&alone, 0.5));
    println!("small_get_p90_ms_alone: {p90_alone:.2}");
    println!(
        "small_get_p50_ms_beside_15mb_updates: {:.2}",
        percentile(&beside, 0.5)
    );
    println!("small_get_p90_ms_beside_15mb_updates: {p90_beside:.2}");
    println!(
        "p90_ratio_beside_vs_alone: {:.2}",
        p90_beside / p90_alone.max(0.001)
    );
    println!("large_updates_done: {}", done.load(Ordering::Relaxed));
    println!("small_gets_beside: {}", beside.len());
    sim.shutdown().await;
}
