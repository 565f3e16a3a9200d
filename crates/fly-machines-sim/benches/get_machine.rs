//! Get Machine throughput over loopback with 10,000 machines held, against a bare axum handler
//! returning a fixed body, measured in the same run.
//!
//! Prints `name: value` lines: `get_machine_rps`, `bare_axum_rps`, `sim_vs_bare_ratio` (target
//! ≥ 0.5), `rss_mb_10k_machines` (process RSS with the machines held) and
//! `rss_mb_delta_10k_machines` (growth caused by creating them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use fly_machines_sim::Sim;

const MACHINES: usize = 10_000;
const WORKERS: usize = 32;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

/// Resident set size of this process in MB (Linux; 0 elsewhere).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs `WORKERS` loops of GETs over `urls` for `WARMUP + MEASURE`; returns requests per second
/// during the measured part.
async fn load(client: reqwest::Client, urls: Arc<Vec<String>>, token: Arc<String>) -> f64 {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (client, urls, token) = (client.clone(), urls.clone(), token.clone());
        let (counting, stop, done, failed) =
            (counting.clone(), stop.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w * 7919;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 104_729) % urls.len();
                let ok = match client
                    .get(&urls[i])
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if counting.load(Ordering::Relaxed) {
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    counting.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let failures = failed.load(Ordering::Relaxed);
    if failures > 0 {
        eprintln!("warning: {failures} requests failed");
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(WORKERS * 2)
        .build()?;
    let sim = Sim::builder().no_rate_limits().start().await?;
    let token = Arc::new(sim.token().to_string());
    let base = sim.base_url();
    let rss_before = rss_mb();

    client
        .post(format!("{base}/apps"))
        .bearer_auth(token.as_str())
        .json(&serde_json::json!({ "name": "bench", "org_slug": "personal" }))
        .send()
        .await?
        .error_for_status()?;
    let body = serde_json::json!({
        "config": {
            "image": "registry.fly.io/bench:deployment-01",
            "env": { "PORT": "8080", "MODE": "bench" },
            "services": [{ "internal_port": 8080, "protocol": "tcp",
                           "ports": [{ "port": 443, "handlers": ["tls", "http"] }] }],
            "metadata": { "role": "worker" }
        }
    });
    let created = Instant::now();
    let mut creators = Vec::new();
    let per_task = MACHINES / 8;
    for _ in 0..8 {
        let (client, token, base, body) =
            (client.clone(), token.clone(), base.clone(), body.clone());
        creators.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let m: serde_json::Value = client
                    .post(format!("{base}/apps/bench/machines"))
                    .bearer_auth(token.as_str())
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                ids.push(m["id"].as_str().unwrap_or_default().to_string());
            }
            Ok::<_, reqwest::Error>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(MACHINES);
    for c in creators {
        ids.extend(c.await??);
    }
    let create_secs = created.elapsed().as_secs_f64();
    assert_eq!(sim.machine_count("bench"), MACHINES);
    let rss_after = rss_mb();

    let sim_urls: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("{base}/apps/bench/machines/{id}"))
            .collect(),
    );
    let sim_rps = load(client.clone(), sim_urls, token.clone()).await;

    // The baseline: a bare axum handler returning one machine's JSON as a fixed body.
    let fixed = client
        .get(format!("{base}/apps/bench/machines/{}", ids[0]))
        .bearer_auth(token.as_str())
        .send()
        .await?
        .bytes()
        .await?;
    let bare = Router::new().route(
        "/v1/apps/{app}/machines/{id}",
        get(move || {
            let fixed = fixed.clone();
            async move { ([("content-type", "application/json")], fixed) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = listener.local_addr()?;
    let bare_server = tokio::spawn(async move { axum::serve(listener, bare).await });
    let bare_urls: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("http://{bare_addr}/v1/apps/bench/machines/{id}"))
            .collect(),
    );
    let bare_rps = load(client.clone(), bare_urls, token.clone()).await;
    bare_server.abort();

    println!("machines: {MACHINES}");
    println!(
        "create_machines_per_sec: {:.0}",
        MACHINES as f64 / create_secs
    );
    println!("get_machine_rps: {sim_rps:.0}");
    println!("bare_axum_rps: {bare_rps:.0}");
    println!("sim_vs_bare_ratio: {:.3}", sim_rps / bare_rps.max(1.0));
    println!("rss_mb_10k_machines: {rss_after:.1}");
    println!("rss_mb_delta_10k_machines: {:.1}", rss_after - rss_before);
    sim.shutdown().await;
    Ok(())
}
