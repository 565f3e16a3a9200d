//! The shared backend against Redis impostors: bad URLs, refused connections, answers out of
//! bounds. The real `redis-server` tests are in the e2e crate (`tests/tests/shared_limiter`).

use super::*;
use fly_machines_api::OperationId;

#[test]
fn a_client_with_a_bad_redis_url_is_refused_at_build() {
    let err = crate::Client::builder()
        .token("fm2_secret")
        .rate_limits(RateLimits::fly_defaults().shared(SharedLimits::redis("cache.internal:6379")))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache.internal:6379"), "{err}");
    assert!(err.contains("redis://host:port"), "{err}");
    assert!(!err.contains("fm2_secret"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_falls_back_at_once_and_logs_one_outage() {
    // Port 1 on loopback refuses connections.
    let limits = RateLimits::fly_defaults()
        .shared(SharedLimits::redis("redis://127.0.0.1:1/").retry_interval(Duration::ZERO));
    let limiter = Limiter::new(limits).unwrap();
    let shared = limiter.shared().unwrap();
    let key = LimitKey::new(OperationId::MachinesStart, "m1");
    let limit = Limit::per_second(1, 3);
    for _ in 0..3 {
        assert!(shared.reserve(&key, limit).await.is_err());
    }
    let stats = shared.stats();
    assert_eq!(
        (stats.fallbacks, stats.outages, stats.shared_decisions),
        (3, 1, 0)
    );
}

/// The seam's fallback keeps what the shared budget could not: with Redis down, a 429 still
/// holds the key in this process, and the calls after it are paced there.
#[tokio::test]
async fn with_redis_down_a_429_still_holds_the_key_locally() {
    let clock = crate::clock::ManualClock::auto_advance();
    let limits = RateLimits::fly_defaults().margin(0.0).shared(
        // Port 1 on loopback refuses connections; no second attempt during the test.
        SharedLimits::redis("redis://127.0.0.1:1/").retry_interval(Duration::from_secs(3600)),
    );
    let limiter = Limiter::with_clock(limits, clock.clone()).unwrap();
    let (class, key) = (
        crate::RateLimitClass::PerMachine,
        LimitKey::new(OperationId::MachinesStart, "m1"),
    );
    limiter.penalize(class, &key, Some(Duration::from_secs(3)));
    let mut waited = Vec::new();
    for _ in 0..3 {
        waited.push(limiter.acquire(class, &key).await.unwrap().as_secs());
    }
    // Held for Retry-After, then one call per two intervals: no burst, as without Redis.
    assert_eq!(waited, [3, 2, 2]);
    assert_eq!(clock.elapsed(), Duration::from_secs(7));
    // A shared backend never admits without asking the store first.
    assert!(!limiter.try_acquire(class, &LimitKey::new(OperationId::MachinesStart, "m2")));
    let shared = limiter.shared().unwrap();
    shared.flush().await;
    let stats = shared.stats();
    // The penalty and the three admissions: none decided by Redis, one outage.
    assert_eq!(
        (stats.fallbacks, stats.outages, stats.shared_decisions),
        (4, 1, 0)
    );
}

/// A Redis impostor on loopback: answers `SCRIPT LOAD` with `sha` (the real SHA-1 when
/// `None`), `EVALSHA` with `answer` (RESP), and anything else with `+OK`.
async fn fake_redis(sha: Option<&'static str>, answer: String) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    // One command: *N, then N bulk strings.
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let n: usize = line.trim()[1..].parse().unwrap_or(0);
                    let mut words = Vec::new();
                    for _ in 0..n {
                        line.clear();
                        stream.read_line(&mut line).await.unwrap();
                        let len: usize = line.trim()[1..].parse().unwrap();
                        let mut word = vec![0; len + 2];
                        stream.read_exact(&mut word).await.unwrap();
                        words.push(String::from_utf8_lossy(&word[..len]).into_owned());
                    }
                    let command = words.first().map(|w| w.to_uppercase());
                    let reply = match command.as_deref() {
                        Some("SCRIPT") => {
                            let real = redis::Script::new(&words[2]).get_hash().to_string();
                            let sha = sha.map_or(real, str::to_string);
                            format!("${}\r\n{sha}\r\n", sha.len())
                        }
                        Some("EVALSHA") => answer.clone(),
                        _ => "+OK\r\n".to_string(),
                    };
                    if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("redis://{addr}/")
}

fn limiter_at(url: &str, max_wait: Option<Duration>) -> Limiter {
    let limits = RateLimits::fly_defaults()
        .max_wait(max_wait)
        .shared(SharedLimits::redis(url).decision_timeout(Duration::from_secs(5)));
    Limiter::new(limits).unwrap()
}

#[tokio::test]
async fn answers_out_of_bounds_pace_locally_instead_of_hanging() {
    let key = LimitKey::new(OperationId::MachinesStart, "m1");
    let limit = Limit::per_second(1, 3);
    let hour_us: i64 = 3_600_000_000;
    let now_us: i64 = 1_700_000_000_000_000;
    let cases: [(&str, String, Option<Duration>); 6] = [
        (
            "an hour past max_wait",
            format!("*3\r\n:1\r\n:{hour_us}\r\n:{now_us}\r\n"),
            Some(Duration::from_secs(1)),
        ),
        (
            "an hour, no max_wait",
            format!("*3\r\n:1\r\n:{hour_us}\r\n:{now_us}\r\n"),
            None,
        ),
        (
            "a negative wait",
            format!("*3\r\n:1\r\n:-5\r\n:{now_us}\r\n"),
            None,
        ),
        (
            "a verdict of 7",
            format!("*3\r\n:7\r\n:0\r\n:{now_us}\r\n"),
            None,
        ),
        (
            "a refusal without max_wait",
            format!("*3\r\n:0\r\n:10\r\n:{now_us}\r\n"),
            None,
        ),
        (
            "i64::MAX",
            format!("*3\r\n:1\r\n:{}\r\n:{now_us}\r\n", i64::MAX),
            Some(Duration::from_secs(1)),
        ),
    ];
    for (label, answer, max_wait) in cases {
        let url = fake_redis(None, answer).await;
        let limiter = limiter_at(&url, max_wait);
        let shared = limiter.shared().unwrap();
        let got = shared.reserve(&key, limit).await;
        match &got {
            Err(SharedError::OutOfBounds(why)) => assert!(!why.contains("SCRIPT"), "{why}"),
            other => panic!("{label}: {other:?}"),
        }
        // The whole acquire goes local: the burst is admitted at once, without sleeping.
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            limiter.acquire(crate::RateLimitClass::ALL[0], &key),
        )
        .await
        .unwrap_or_else(|_| panic!("{label}: the call hung"));
        assert_eq!(waited, Ok(Duration::ZERO), "{label}");
        assert!(shared.stats().fallbacks >= 1, "{label}");
    }
    // Within bounds, the answer stands.
    let url = fake_redis(None, format!("*3\r\n:1\r\n:250000\r\n:{now_us}\r\n")).await;
    let limiter = limiter_at(&url, Some(Duration::from_secs(1)));
    let got = limiter
        .shared()
        .unwrap()
        .reserve(&key, limit)
        .await
        .unwrap();
    assert_eq!((got.admitted, got.wait), (true, Duration::from_millis(250)));
}

#[tokio::test]
async fn a_script_load_answered_with_another_hash_is_an_error_not_a_panic() {
    let key = LimitKey::new(OperationId::MachinesStart, "m1");
    for sha in ["not-a-sha", "", "0000000000000000000000000000000000000000"] {
        let url = fake_redis(Some(sha), "*3\r\n:1\r\n:0\r\n:1\r\n".to_string()).await;
        let limiter = limiter_at(&url, None);
        let got = limiter
            .shared()
            .unwrap()
            .reserve(&key, Limit::per_second(1, 3))
            .await;
        match got {
            Err(SharedError::OutOfBounds(why)) => assert!(why.contains("SCRIPT LOAD"), "{why}"),
            other => panic!("{sha:?}: {other:?}"),
        }
    }
}
