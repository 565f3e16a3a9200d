//! Heap allocations per Get Machine call, for bare reqwest, the generated client alone and the
//! full stack, measured one call after another in the same run against one loopback server.
//!
//! Prints `name: value` lines at the end; `allocations_overhead_per_call` is what the request
//! policy (hooks, limiter, retry wrapper, tracing span) adds over the generated client.

mod support;

use std::alloc::System;

use fly_machines::{Client, Limit, RateLimitClass, RateLimits};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CALLS: usize = 2_000;

/// Allocations (including reallocations) per call of `call`, after a warm-up.
async fn per_call<F, Fut>(mut call: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..100 {
        call().await;
    }
    let region = Region::new(GLOBAL);
    for _ in 0..CALLS {
        call().await;
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / CALLS as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (addr, _) = support::serve(false).await;
    let http = reqwest::Client::new();
    let url = support::bare_url(addr);
    let bare = per_call(|| support::bare_get(&http, &url, None)).await;

    let raw = support::generated_client(addr, http.clone());
    let generated = per_call(|| async {
        raw.machines_show("bench", "m1", None, None).await.unwrap();
    })
    .await;

    let client = Client::builder()
        .token("bench-token")
        .base_url(format!("http://{addr}"))
        .rate_limits(RateLimits::fly_defaults().limit(
            RateLimitClass::GetMachine,
            Limit::per_second(1_000_000, 1_000_000),
        ))
        .build()
        .unwrap();
    let machine = client.app("bench").machine("m1");
    let full = per_call(|| async {
        machine.get().await.unwrap();
    })
    .await;

    println!("allocations_per_call_bare: {bare:.1}");
    println!("allocations_per_call_generated: {generated:.1}");
    println!("allocations_per_call_full: {full:.1}");
    println!("allocations_overhead_per_call: {:.1}", full - generated);
}
