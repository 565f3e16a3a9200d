//! The shared (Redis) limiter against a real `redis-server`: one budget across processes,
//! many keys at once, a 429 shared between replicas, Redis outages, and keys that expire.
//!
//! Nothing sleeps: admissions are reservations whose waits are asserted, not waited for, and
//! expiry is observed with Redis's own clock (`PTTL`, `DEBUG SLEEP`).

mod redis_server;

use std::process::Command;
use std::time::Duration;

use fly_machines::types::MachineConfig;
use fly_machines::{
    Client, Limit, LimitKey, Limiter, OperationId, RateLimitClass, RateLimits, Reservation,
    RetryPolicy, SharedLimiter, SharedLimits, SharedStats,
};
use redis_server::RedisServer;

/// Fly's default limit: 1 call per second, bursts of 3.
const FLY: Limit = Limit::per_second(1, 3);
const SECOND_US: u64 = 1_000_000;

/// Decision timeout of the tests that expect Redis to answer: generous, so that a loaded
/// machine does not turn a slow answer into a fallback. The outage tests set a short one.
const PATIENT: Duration = Duration::from_secs(2);

/// Scheduling slack allowed on top of a decision timeout before a call counts as stuck.
const SLACK: Duration = Duration::from_millis(500);

/// A limiter at Fly's limits, without margin or arrival allowance (so its pacing is exact),
/// sharing `namespace` in `redis`.
fn replica(
    redis: &RedisServer,
    namespace: &str,
    configure: impl Fn(RateLimits) -> RateLimits,
) -> Limiter {
    let limits = RateLimits::fly_defaults().margin(0.0).shared(
        SharedLimits::redis(redis.url())
            .namespace(namespace)
            .decision_timeout(PATIENT)
            .arrival_allowance(Duration::ZERO),
    );
    Limiter::new(configure(limits)).expect("limiting is on")
}

/// Runs `limiter_replica` (a separate process) with `args` after the URL and namespace.
fn run_replica(redis: &RedisServer, namespace: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_limiter_replica"))
        .arg(redis.url())
        .arg(namespace)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("limiter_replica starts")
}

/// The first reservation Redis makes on `key`, trying until it answers (each try is bounded by
/// the decision timeout): after a start, a restart or a freeze.
async fn until_redis_answers(shared: &SharedLimiter, key: &LimitKey) -> Reservation {
    for _ in 0..400 {
        if let Ok(reservation) = shared.reserve(key, FLY).await {
            return reservation;
        }
    }
    panic!("Redis never answered: {:?}", shared.stats());
}

/// (decisions, fallbacks, outages) since `base`.
fn since(shared: &SharedLimiter, base: SharedStats) -> (u64, u64, u64) {
    let now = shared.stats();
    (
        now.shared_decisions - base.shared_decisions,
        now.fallbacks - base.fallbacks,
        now.outages - base.outages,
    )
}

fn finish(child: std::process::Child) -> String {
    let output = child.wait_with_output().expect("limiter_replica runs");
    assert!(
        output.status.success(),
        "limiter_replica failed: {}",
        output.status
    );
    String::from_utf8(output.stdout).expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_exactly_the_burst_then_the_rate() {
    let redis = RedisServer::start();
    let args = ["Machines_start", "m-shared", "reserve", "3"];
    let children = [
        run_replica(&redis, "two-procs", &args),
        run_replica(&redis, "two-procs", &args),
    ];
    // (server time, wait) of every reservation, in the order Redis decided them.
    let mut slots: Vec<(u64, u64)> = children
        .into_iter()
        .flat_map(|child| {
            finish(child)
                .lines()
                .map(|line| {
                    let (at, wait) = line.split_once(' ').expect("`time wait` lines");
                    (at.parse().unwrap(), wait.parse().unwrap())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(slots.len(), 6, "each process reserved 3: {slots:?}");
    slots.sort();
    let first = slots[0].0;
    // The burst goes at once, whichever process asked ...
    for &(_, wait) in &slots[..3] {
        assert_eq!(wait, 0, "{slots:?}");
    }
    // ... and every later call exactly one interval after the one before, on Redis's clock.
    let admitted: Vec<u64> = slots[3..]
        .iter()
        .map(|&(at, wait)| at + wait - first)
        .collect();
    assert_eq!(
        admitted,
        vec![SECOND_US, 2 * SECOND_US, 3 * SECOND_US],
        "{slots:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_keys_proceed_in_parallel() {
    let redis = RedisServer::start();
    let first = replica(&redis, "hundred", |l| l);
    let keys: Vec<LimitKey> = (0..100)
        .map(|i| LimitKey::new(OperationId::MachinesStop, &format!("m{i:03}")))
        .collect();
    // Three calls on each of 100 keys at once: all within their key's burst, none waits.
    let waits = futures::future::join_all(
        keys.iter()
            .flat_map(|key| std::iter::repeat_n(key, 3))
            .map(|key| first.acquire(RateLimitClass::PerMachine, key)),
    )
    .await;
    assert!(waits.iter().all(|w| *w == Ok(Duration::ZERO)), "{waits:?}");
    let stats = first.shared().unwrap().stats();
    assert_eq!((stats.shared_decisions, stats.fallbacks), (300, 0));
    // Another replica finds every one of those budgets spent: the next slot is a second away.
    let second = replica(&redis, "hundred", |l| {
        l.max_wait(Some(Duration::from_millis(500)))
    });
    let refused = futures::future::join_all(
        keys.iter()
            .map(|key| second.acquire(RateLimitClass::PerMachine, key)),
    )
    .await;
    for answer in refused {
        let would_wait = answer.expect_err("the burst is spent");
        assert!(would_wait > Duration::from_millis(500), "{would_wait:?}");
        assert!(would_wait <= Duration::from_secs(1), "{would_wait:?}");
    }
    // A replica of another tenant shares nothing with them.
    let other_tenant = replica(&redis, "another-tenant", |l| l);
    let reservation = other_tenant
        .shared()
        .unwrap()
        .reserve(&keys[0], FLY)
        .await
        .unwrap();
    assert!(reservation.admitted && reservation.wait.is_zero());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_replica_slows_the_others_on_that_key() {
    let redis = RedisServer::start();
    // Another process gets a 429 with `Retry-After: 3` and records it as the client does.
    finish(run_replica(
        &redis,
        "throttled",
        &["Machines_stop", "m-hot", "penalize", "3000"],
    ));
    let limiter = replica(&redis, "throttled", |l| l);
    let shared = limiter.shared().unwrap();
    let hot = LimitKey::new(OperationId::MachinesStop, "m-hot");
    let first = shared.reserve(&hot, FLY).await.unwrap();
    let second = shared.reserve(&hot, FLY).await.unwrap();
    // Held for the Retry-After (less the moments since it was recorded) ...
    assert!(first.admitted, "{first:?}");
    assert!(
        first.wait > Duration::from_millis(2500) && first.wait <= Duration::from_secs(3),
        "{first:?}"
    );
    // ... then paced without bursts at half the rate, where the burst would have let it go.
    assert_eq!(
        second.admitted_at_us() - first.admitted_at_us(),
        2 * SECOND_US
    );
    // Other keys are not slowed.
    let cold = shared
        .reserve(&LimitKey::new(OperationId::MachinesStop, "m-cold"), FLY)
        .await
        .unwrap();
    assert!(cold.wait.is_zero(), "{cold:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_falls_back_to_local_pacing_and_recovers() {
    let mut redis = RedisServer::start();
    let timeout = Duration::from_millis(50);
    let limiter = Limiter::new(
        RateLimits::fly_defaults()
            .margin(0.0)
            .max_wait(Some(Duration::from_millis(500)))
            .shared(
                SharedLimits::redis(redis.url())
                    .namespace("outage")
                    .decision_timeout(timeout)
                    .retry_interval(Duration::ZERO)
                    .arrival_allowance(Duration::ZERO),
            ),
    )
    .unwrap();
    let shared = limiter.shared().unwrap();
    let class = RateLimitClass::PerMachine;
    // Connected, with the script loaded, before anything is counted.
    until_redis_answers(
        shared,
        &LimitKey::new(OperationId::MachinesStart, "warm-up"),
    )
    .await;
    let base = shared.stats();
    // No call may be held by Redis longer than the decision timeout (plus scheduling slack).
    let bounded = |key: &'static str| {
        let limiter = &limiter;
        async move {
            tokio::time::timeout(
                timeout + SLACK,
                limiter.acquire(class, &LimitKey::new(OperationId::MachinesStart, key)),
            )
            .await
            .expect("no call waits on Redis past its timeout")
        }
    };
    for _ in 0..3 {
        assert_eq!(bounded("before").await, Ok(Duration::ZERO));
    }
    assert!(
        bounded("before").await.is_err(),
        "the shared burst is spent"
    );
    assert_eq!(since(shared, base), (4, 0, 0));

    redis.kill();
    // Local pacing: the burst of a fresh key, then a refusal a second out, every call prompt.
    for _ in 0..3 {
        assert_eq!(bounded("during").await, Ok(Duration::ZERO));
    }
    let refused = bounded("during")
        .await
        .expect_err("local pacing spends the burst");
    assert!(refused > Duration::from_millis(500), "{refused:?}");
    assert_eq!(
        since(shared, base),
        (4, 4, 1),
        "one outage, however many calls fell back"
    );

    redis.restart();
    // The connection comes back on its own; every attempt is bounded by the timeout.
    let key = LimitKey::new(OperationId::MachinesStart, "after");
    let reservation = until_redis_answers(shared, &key).await;
    assert!(reservation.admitted && reservation.wait.is_zero());
    // Shared pacing again: the rest of the burst, then the next slot a second later.
    for _ in 0..2 {
        assert!(shared.reserve(&key, FLY).await.unwrap().wait.is_zero());
    }
    let fourth = shared.reserve(&key, FLY).await.unwrap();
    assert!(fourth.wait > Duration::from_millis(900), "{fourth:?}");
    assert_eq!(since(shared, base).2, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_times_out_to_local_pacing() {
    let redis = RedisServer::start();
    let timeout = Duration::from_millis(50);
    let limiter = Limiter::new(
        RateLimits::fly_defaults().margin(0.0).shared(
            SharedLimits::redis(redis.url())
                .namespace("frozen")
                .decision_timeout(timeout)
                .retry_interval(Duration::ZERO)
                .arrival_allowance(Duration::ZERO),
        ),
    )
    .unwrap();
    let shared = limiter.shared().unwrap();
    let key = LimitKey::new(OperationId::MachinesStart, "m-frozen");
    assert!(until_redis_answers(shared, &key).await.wait.is_zero());
    let base = shared.stats();

    redis.freeze();
    // Every call gives up on Redis at its timeout and is admitted by the local burst.
    for _ in 0..3 {
        let admitted = tokio::time::timeout(
            timeout + SLACK,
            limiter.acquire(RateLimitClass::PerMachine, &key),
        )
        .await
        .expect("no call waits on a frozen Redis past its timeout");
        assert_eq!(admitted, Ok(Duration::ZERO));
    }
    assert_eq!(since(shared, base), (0, 3, 1));

    redis.thaw();
    // Back to the shared budget: a fresh key gets its burst, then the next slot a second on.
    let fresh = LimitKey::new(OperationId::MachinesStart, "m-thawed");
    assert!(until_redis_answers(shared, &fresh).await.wait.is_zero());
    for _ in 0..2 {
        assert!(shared.reserve(&fresh, FLY).await.unwrap().wait.is_zero());
    }
    let fourth = shared.reserve(&fresh, FLY).await.unwrap();
    assert!(fourth.wait > Duration::from_millis(900), "{fourth:?}");
    assert_eq!(since(shared, base).2, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let limiter = replica(&redis, "expiry", |l| l);
    let shared = limiter.shared().unwrap();
    let key = LimitKey::new(OperationId::MachinesStart, "m-ttl");
    let name = shared.redis_key(&key);
    assert_eq!(name, "fly-machines:expiry:Machines_start:m-ttl");
    let pttl = |conn: &mut redis::aio::MultiplexedConnection, name: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("PTTL")
                .arg(name)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    // A key lives only as long as its state matters: until its burst is back.
    shared.reserve(&key, FLY).await.unwrap();
    let ttl = pttl(&mut conn, name.clone()).await;
    assert!(ttl > 900 && ttl <= 1001, "one call: {ttl} ms");
    shared.reserve(&key, FLY).await.unwrap();
    shared.reserve(&key, FLY).await.unwrap();
    let ttl = pttl(&mut conn, name.clone()).await;
    assert!(ttl > 2900 && ttl <= 3001, "three calls: {ttl} ms");
    // A penalty keeps it through the hold and the cooldown (10 s by default).
    shared
        .penalize(&key, Duration::from_secs(2), Duration::from_secs(2))
        .await
        .unwrap();
    let ttl = pttl(&mut conn, name.clone()).await;
    assert!(ttl > 11_900 && ttl <= 12_001, "penalized: {ttl} ms");

    // 100 keys of a fast limit are gone once Redis's clock has moved past their last slot.
    let fast = Limit::per_second(1000, 1);
    for i in 0..100 {
        let key = LimitKey::new(OperationId::MachinesShow, &format!("m{i}"));
        shared.reserve(&key, fast).await.unwrap();
    }
    let live = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("KEYS")
                .arg("fly-machines:expiry:Machines_show:*")
                .query_async::<Vec<String>>(&mut conn)
                .await
                .unwrap()
                .len()
        }
    };
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.01")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(live(&mut conn).await, 0, "every fast key expired");
    // The penalized key, whose state still matters, is kept.
    assert!(pttl(&mut conn, name).await > 11_000);
}

/// The arrival allowance (default 250 ms) comes out of the burst: the last call of a burst
/// waits it, and every later call keeps that much of a token in hand at Fly, so a call that
/// arrives sooner after the one before than it was admitted is not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arrival_allowance_comes_out_of_the_burst() {
    let redis = RedisServer::start();
    let limiter = Limiter::new(
        RateLimits::fly_defaults().margin(0.0).shared(
            SharedLimits::redis(redis.url())
                .namespace("allowance")
                .decision_timeout(PATIENT),
        ),
    )
    .expect("limiting is on");
    let shared = limiter.shared().unwrap();
    let key = LimitKey::new(OperationId::MachinesStart, "m-allow");
    let mut admitted = Vec::new();
    for _ in 0..5 {
        let r = shared.reserve(&key, FLY).await.unwrap();
        admitted.push(r.admitted_at_us());
    }
    let first = admitted[0];
    let offsets_ms: Vec<u64> = admitted.iter().map(|at| (at - first) / 1000).collect();
    // 0, 0, then 250 ms, then one interval apart: 1250, 2250 (a few ms of Redis time between
    // the reservations themselves).
    for (got, want) in offsets_ms.iter().zip([0u64, 0, 250, 1250, 2250]) {
        assert!(got.abs_diff(want) <= 20, "{offsets_ms:?}");
    }
}

/// Redis's clock stepped back an hour: the key's state (absolute server time) lies an hour
/// ahead. The script drops state past the horizon instead of answering a wait of an hour; the
/// client refuses any answer past `max_wait` or the longest wait all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_from_a_clock_that_stepped_back_is_dropped_not_waited_for() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let limiter = replica(&redis, "clock-step", |l| {
        l.max_wait(Some(Duration::from_secs(5)))
    });
    let shared = limiter.shared().unwrap();
    let key = LimitKey::new(OperationId::MachinesStart, "m-step");
    let first = shared.reserve(&key, FLY).await.unwrap();
    let hour_ahead = first.server_time_us + 3600 * SECOND_US;
    for (field, value) in [
        ("tat", hour_ahead),
        ("slot", hour_ahead),
        ("until", hour_ahead),
    ] {
        let _: () = redis::cmd("DEL")
            .arg(shared.redis_key(&key))
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(shared.redis_key(&key))
            .arg(field)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
        let base = shared.stats();
        let got = shared.reserve(&key, FLY).await.unwrap();
        assert!(got.admitted, "{field}: {got:?}");
        assert_eq!(got.wait, Duration::ZERO, "{field} an hour ahead: {got:?}");
        assert_eq!(since(shared, base), (1, 0, 0), "{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_one_token_pace_together_through_redis() {
    let redis = RedisServer::start();
    let sim = fly_machines_sim::Sim::builder()
        .start()
        .await
        .expect("the emulator starts");
    // Two replicas of one service: same token, so the same budget by default.
    let replica = || {
        Client::builder()
            .token(sim.token())
            .base_url(sim.base_url())
            .rate_limits(
                RateLimits::fly_defaults()
                    .max_wait(Some(Duration::from_millis(500)))
                    .shared(SharedLimits::redis(redis.url()).decision_timeout(PATIENT)),
            )
            .retry(RetryPolicy::default())
            .build()
            .expect("the client builds")
    };
    let (first, second) = (replica(), replica());
    first
        .apps()
        .create("replicas", "personal")
        .send()
        .await
        .unwrap();
    let config = MachineConfig {
        image: Some("nginx:1.27".into()),
        ..Default::default()
    };
    let machine = first
        .app("replicas")
        .machines()
        .create(config)
        .send()
        .await
        .unwrap();
    let id = machine.id().to_string();
    for _ in 0..3 {
        first.app("replicas").machine(&id).cordon().await.unwrap();
    }
    // The second replica's first call on that machine finds the burst spent by the first, and
    // its limiter refuses rather than wait past its maximum: nothing reaches the emulator.
    let err = second
        .app("replicas")
        .machine(&id)
        .cordon()
        .await
        .expect_err("the shared budget is spent");
    assert!(err.is_rate_limited(), "{err}");
    assert_eq!(err.code().map(|c| c.as_str()), Some("client_rate_limited"));
    let cordons = sim
        .requests()
        .iter()
        .filter(|r| r.operation == Some("Machines_cordon"))
        .count();
    assert_eq!(cordons, 3);
    for client in [&first, &second] {
        let shared = client.limiter().and_then(|l| l.shared()).unwrap();
        assert_eq!(shared.stats().fallbacks, 0);
        assert!(shared.namespace().starts_with("token-"));
    }
}
