//! One replica of a service sharing Fly's budget through Redis: the other process in the
//! shared limiter's multi-process tests (`tests/e2e/shared_limiter.rs`).
//!
//! ```text
//! limiter_replica <redis-url> <namespace> <operation> <scope> reserve <count>
//! limiter_replica <redis-url> <namespace> <operation> <scope> penalize <retry-after-ms>
//! ```
//!
//! `reserve` takes `count` slots at Fly's default limit without waiting for them and prints one
//! `server_time_us wait_us` line per slot; `penalize` records a 429 the way the client does
//! after one, and returns once Redis has it.

use std::process::ExitCode;
use std::time::Duration;

use fly_machines::{LimitKey, Limiter, Operation, RateLimits, SharedLimits};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("limiter_replica: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let [url, namespace, operation, scope, mode, number] = args else {
        return Err(format!(
            "expected <redis-url> <namespace> <operation> <scope> reserve|penalize <n>, got {args:?}"
        ));
    };
    let operation =
        Operation::by_id(operation).ok_or_else(|| format!("unknown operation {operation:?}"))?;
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a whole number, got {number:?}"))?;
    let limits = RateLimits::fly_defaults().margin(0.0).shared(
        SharedLimits::redis(url.as_str())
            .namespace(namespace.as_str())
            .decision_timeout(Duration::from_secs(2))
            .arrival_allowance(Duration::ZERO),
    );
    let limiter = Limiter::new(limits).ok_or("limiting is off")?;
    let shared = limiter.shared().ok_or("no shared backend")?;
    let key = LimitKey::new(operation.op, scope);
    match mode.as_str() {
        "reserve" => {
            let limit = fly_machines::Limit::per_second(1, 3);
            for _ in 0..number {
                let slot = shared
                    .reserve(&key, limit)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{} {}", slot.server_time_us, slot.wait.as_micros());
            }
        }
        "penalize" => {
            limiter.penalize(
                operation.rate_limit,
                &key,
                Some(Duration::from_millis(number)),
            );
            shared.flush().await;
            let stats = shared.stats();
            if stats.fallbacks != 0 {
                return Err(format!("the penalty did not reach Redis: {stats:?}"));
            }
        }
        other => return Err(format!("expected reserve or penalize, got {other:?}")),
    }
    Ok(())
}
