//! Hostile servers and hostile inputs: huge `Retry-After` values, `Duration::MAX` everywhere a
//! duration is taken, path parameters that try to leave their segment, redirects to another
//! host, oversized bodies, and waits against a server that never holds a poll.
//!
//! Everything runs on 127.0.0.1 with virtual time (a [`ManualClock`]), so nothing sleeps.
//! `cargo test -p fly-machines --test client hostile_servers -- --nocapture` prints, per class, how many
//! inputs were tried and what came of them.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::loopback::{Answer, Seen, Server, Tally};
use crate::own_process;
use fly_machines::types::MachineConfig;
use fly_machines::{Client, Clock, Error, ManualClock, RateLimits, RetryPolicy, WaitState};

const MACHINE: &str =
    r#"{"id":"m1","state":"started","instance_id":"v1","config":{"image":"nginx"}}"#;

fn client_for(server: &Server, clock: Arc<ManualClock>) -> fly_machines::ClientBuilder {
    Client::builder()
        .token("adversarial-token")
        .base_url(server.base_url())
        .clock(clock)
        .rate_limits(RateLimits::off())
        .retry(RetryPolicy::default().jitter(false))
}

// ---------------------------------------------------------------------------------------------
// Retry-After

/// Values a server might put in `Retry-After`, from sane to absurd.
const RETRY_AFTER_VALUES: &[&str] = &[
    "999999",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1.7976931348623157e308",
    "inf",
    "+inf",
    "NaN",
    "-1",
    "-0",
    "0",
    "1e-300",
    " 5 ",
    "18446744073709551615.9",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "garbage",
    "",
];

/// Each value answers the first Get Machine with a 429; the retry and every later call on the
/// same machine must finish within the cap (30 s) plus the limiter's pacing, with the limiter on.
#[tokio::test]
async fn retry_after_never_holds_a_call_or_a_machine_past_the_cap() {
    let first_seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen_by_server = first_seen.clone();
    let server = Server::start(move |req: &Seen| {
        let index: usize = req.path().rsplit('/').next().unwrap()[1..].parse().unwrap();
        if seen_by_server.lock().unwrap().insert(index) {
            Answer::with_headers(
                429,
                &[("retry-after", RETRY_AFTER_VALUES[index])],
                r#"{"error":"slow down"}"#,
            )
        } else {
            Answer::json(200, MACHINE)
        }
    })
    .await;
    let mut tally = Tally::default();
    for (index, value) in RETRY_AFTER_VALUES.iter().enumerate() {
        let clock = ManualClock::auto_advance();
        let client = client_for(&server, clock.clone())
            .rate_limits(RateLimits::fly_defaults())
            .retry(
                RetryPolicy::default()
                    .jitter(false)
                    .max_retry_after(Duration::from_secs(30)),
            )
            .build()
            .unwrap();
        let machine = client.app("a").machine(format!("m{index}"));
        machine.get().await.unwrap();
        let after_retry = clock.elapsed();
        for _ in 0..3 {
            machine.get().await.unwrap();
        }
        let total = clock.elapsed();
        assert!(
            after_retry <= Duration::from_secs(31) && total <= Duration::from_secs(40),
            "Retry-After {value:?}: retry after {after_retry:?}, three more calls by {total:?}"
        );
        let outcome = if after_retry >= Duration::from_secs(30) {
            "capped at 30 s"
        } else {
            "honoured below the cap or ignored"
        };
        tally.record("Retry-After values", outcome);
    }
    tally.print("Retry-After (limiter on, cap 30 s)");
}

// ---------------------------------------------------------------------------------------------
// Duration::MAX

/// A server good enough for waits, leases, creates and lookups.
async fn cooperative_server(creates_failing: usize) -> Server {
    let creates = Arc::new(AtomicUsize::new(0));
    Server::start(move |req: &Seen| {
        let path = req.path();
        match (req.method.as_str(), path) {
            (_, p) if p.ends_with("/wait") => {
                Answer::json(200, r#"{"ok":true,"state":"started","version":"v1"}"#)
            }
            ("POST", p) if p.ends_with("/lease") => Answer::json(
                201,
                r#"{"status":"success","data":{"nonce":"secret-nonce-7","expires_at":1,"owner":"me"}}"#,
            ),
            ("DELETE", p) if p.ends_with("/lease") => Answer::json(200, "{}"),
            ("POST", "/v1/apps/a/machines") => {
                if creates.fetch_add(1, Ordering::SeqCst) < creates_failing {
                    Answer::json(503, r#"{"error":"try again"}"#)
                } else {
                    Answer::json(200, MACHINE)
                }
            }
            // After a failed create, the machine it made shows up in the list.
            ("GET", "/v1/apps/a/machines") if creates.load(Ordering::SeqCst) > 0 => Answer::json(
                200,
                r#"[{"id":"m1","state":"created","config":{"image":"nginx","metadata":{"fly_machines_launch_id":"k1"}}}]"#,
            ),
            ("GET", "/v1/apps/a/machines") => Answer::json(200, "[]"),
            _ => Answer::json(200, MACHINE),
        }
    })
    .await
}

#[tokio::test]
async fn duration_max_is_as_long_as_representable_or_refused_never_a_panic() {
    let server = cooperative_server(1).await;
    let mut tally = Tally::default();
    let max = Duration::MAX;

    let clock = ManualClock::auto_advance();
    let client = client_for(&server, clock.clone()).build().unwrap();
    let machine = client.app("a").machine("m1");

    let reached = machine
        .wait_for(vec![WaitState::Started])
        .timeout(max)
        .not_found_grace(max)
        .send()
        .await
        .unwrap();
    assert_eq!(reached.state, "started");
    tally.record("wait_for(..).timeout(MAX)", "ok");

    let guard = machine
        .lease(Duration::from_secs(30))
        .acquire_timeout(max)
        .auto_refresh(false)
        .send()
        .await
        .unwrap();
    guard.release().await.unwrap();
    tally.record("lease(..).acquire_timeout(MAX)", "ok");

    let refused = machine.lease(max).auto_refresh(false).send().await;
    assert!(
        matches!(
            &refused,
            Err(Error::InvalidInput(input)) if input.what == "lease ttl"
        ),
        "{refused:?}"
    );
    tally.record("lease(MAX)", "clear error");

    let created = client
        .app("a")
        .machines()
        .create(MachineConfig {
            image: Some("nginx".into()),
            ..Default::default()
        })
        .idempotency_key("k1")
        .visibility_grace(max)
        .send()
        .await;
    // The first create fails with a 503; the lookup, with a grace of "forever", finds the
    // machine that create made.
    assert_eq!(created.unwrap().id.as_deref(), Some("m1"));
    tally.record("create().visibility_grace(MAX)", "ok");

    let raw = client
        .raw()
        .machines_wait(
            "a",
            "m1",
            None,
            None,
            Some("started"),
            Some(NonZeroU64::MAX),
            None,
        )
        .await;
    assert!(raw.is_ok(), "{raw:?}");
    tally.record("raw machines_wait(timeout = u64::MAX)", "ok");

    // Every duration setting of the client at its maximum, against a flaky server.
    let flaky = Arc::new(AtomicUsize::new(0));
    let flaky_in = flaky.clone();
    let flaky_server = Server::start(move |_: &Seen| {
        if flaky_in.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Answer::with_headers(429, &[("retry-after", "18446744073709551615")], "{}")
        } else {
            Answer::json(200, MACHINE)
        }
    })
    .await;
    let clock = ManualClock::auto_advance();
    let client = client_for(&flaky_server, clock.clone())
        .request_timeout(max)
        .connect_timeout(max)
        .retry(
            RetryPolicy::default()
                .backoff(max, max)
                .max_retry_after(max)
                .max_elapsed(Some(max)),
        )
        .rate_limits(
            RateLimits::fly_defaults()
                .adaptive(true, max)
                .max_wait(Some(max)),
        )
        .build()
        .unwrap();
    for _ in 0..2 {
        client.app("a").machine("m1").get().await.unwrap();
    }
    tally.record("every client duration at MAX, Retry-After u64::MAX", "ok");
    clock.advance(max);
    clock.advance(max);
    tally.record("ManualClock advanced by MAX twice", "ok");
    tally.print("Duration::MAX");
}

// ---------------------------------------------------------------------------------------------
// Path parameters

/// Values that try to leave their path segment or change the path around them.
const HOSTILE_SEGMENTS: &[&str] = &[
    "..\\..\\victim\\machines\\m1",
    "x\\..\\victim",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "a/../b",
    "../victim",
    "a%2F..%2Fvictim",
    "\\",
    "/",
    "//",
    "?x=1",
    "#frag",
    "a?b",
    "a#b",
    "m1;x=y",
    "m1\0",
    "\t",
    " ",
    "\r\nX-Injected: 1",
    "%",
    "%%",
    "%zz",
    "..%00",
    "\u{ff0e}\u{ff0e}",
    "\u{2025}",
    "ü",
    "a b",
    "victim@host",
    "http://evil",
    "~user",
    "...",
    ".a",
];

fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Every hostile value, in the app and the machine position of Get Machine and in the app of
/// List Machines through the raw client: either the call is refused before anything is sent, or
/// the server sees exactly the operation's path with one segment holding exactly the value.
#[tokio::test]
async fn path_parameters_stay_in_their_segment() {
    let server = Server::start(|req: &Seen| {
        if req.path().ends_with("/machines") {
            Answer::json(200, "[]")
        } else {
            Answer::json(200, MACHINE)
        }
    })
    .await;
    let client = client_for(&server, ManualClock::auto_advance())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let raw = client.raw();
    let mut tally = Tally::default();
    for value in HOSTILE_SEGMENTS {
        let labels = [
            "machines_show(app = value)",
            "machines_show(machine = value)",
            "machines_list(app = value)",
        ];
        for (case, label) in labels.into_iter().enumerate() {
            let before = server.seen().len();
            let (expected, sent_ok) = match case {
                0 => (
                    vec!["apps", value, "machines", "m1"],
                    raw.machines_show(value, "m1", None, None).await.is_ok(),
                ),
                1 => (
                    vec!["apps", "h", "machines", value],
                    raw.machines_show("h", value, None, None).await.is_ok(),
                ),
                _ => (
                    vec!["apps", value, "machines"],
                    raw.machines_list(value, None, None, None, None, None, None, None)
                        .await
                        .is_ok(),
                ),
            };
            assert_eq!(server.seen().len(), before + usize::from(sent_ok));
            let outcome = if sent_ok {
                let seen = server.seen();
                let last = seen.last().unwrap();
                let segments: Vec<Vec<u8>> = last
                    .path()
                    .strip_prefix("/v1/")
                    .unwrap()
                    .split('/')
                    .map(|s| decode_segment(s).unwrap())
                    .collect();
                let expected: Vec<Vec<u8>> =
                    expected.iter().map(|s| s.as_bytes().to_vec()).collect();
                assert_eq!(
                    segments, expected,
                    "{label} with {value:?} was sent to {}",
                    last.target
                );
                "sent as one exact segment"
            } else {
                "refused before sending"
            };
            tally.record(label, outcome);
        }
    }
    for seen in server.seen() {
        assert!(!seen.path().contains("/victim/"), "{}", seen.target);
    }
    // A refusal names the parameter and the problem.
    match raw.machines_show("h", "..", None, None).await {
        Err(fly_machines_api::Error::InvalidRequest(message)) => {
            assert!(message.contains("machine_id"), "{message}")
        }
        other => panic!("`..` was not refused: {other:?}"),
    }
    tally.print("path parameters (raw client)");
}

// ---------------------------------------------------------------------------------------------
// Redirects

/// A server that redirects everything to `target` with `status`.
async fn redirecting(status: u16, target: String) -> Server {
    Server::start(move |req: &Seen| {
        Answer::with_headers(
            status,
            &[("location", &format!("{target}{}", req.target))],
            "",
        )
    })
    .await
}

fn create_config() -> MachineConfig {
    let mut env = std::collections::HashMap::new();
    env.insert("DATABASE_PASSWORD".to_string(), "hunter2".to_string());
    MachineConfig {
        image: Some("nginx".into()),
        env: Some(env.into_iter().collect()),
        ..Default::default()
    }
}

/// Redirects of every kind, to another port on loopback (another origin) and to the same
/// origin: our client follows none of them, so the other host never sees the request and the
/// call fails with the redirect's status. A caller's client that does follow them gets the
/// other host's answer refused.
#[tokio::test]
async fn redirects_are_not_followed_and_foreign_answers_are_refused() {
    let elsewhere = Server::start(|_: &Seen| Answer::json(200, MACHINE)).await;
    let mut tally = Tally::default();
    for status in [301u16, 302, 303, 307, 308] {
        let origin = redirecting(status, elsewhere.base_url()).await;
        let client = client_for(&origin, ManualClock::auto_advance())
            .build()
            .unwrap();
        let created = client
            .app("a")
            .machines()
            .create(create_config())
            .send()
            .await;
        assert_eq!(
            created.as_ref().err().and_then(Error::status),
            Some(status),
            "{created:?}"
        );
        let got = client.app("a").machine("m1").get().await;
        assert_eq!(got.as_ref().err().and_then(Error::status), Some(status));
        tally.record("our client, cross-origin redirect", "not followed, error");

        let same = redirecting(status, origin.base_url()).await;
        let client = client_for(&same, ManualClock::auto_advance())
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        assert_eq!(got.as_ref().err().and_then(Error::status), Some(status));
        tally.record("our client, same-origin redirect", "not followed, error");

        // A caller-supplied client that follows redirects.
        let following = reqwest::Client::builder().build().unwrap();
        let client = client_for(&origin, ManualClock::auto_advance())
            .http_client(following)
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        assert!(matches!(&got, Err(Error::ResponseRefused(_))), "{got:?}");
        let shown = got.unwrap_err().to_string();
        assert!(shown.contains("redirect"), "{shown}");
        tally.record("caller's following client", "foreign answer refused");

        // The same origin, another app's path: a following client lands there; refused too.
        let other_app = Server::start(move |req: &Seen| {
            if req.path().contains("/apps/a/") {
                Answer::with_headers(status, &[("location", "/v1/apps/b/machines/m9")], "")
            } else {
                Answer::json(200, MACHINE)
            }
        })
        .await;
        let client = client_for(&other_app, ManualClock::auto_advance())
            .http_client(reqwest::Client::builder().build().unwrap())
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        match &got {
            Err(Error::ResponseRefused(_)) => {
                let shown = got.unwrap_err().to_string();
                assert!(shown.contains("/v1/apps/b/machines/m9"), "{shown}");
            }
            other => panic!("{status}: {other:?}"),
        }
        tally.record(
            "caller's following client, same origin, another app's path",
            "answer refused",
        );
    }
    // Only the caller's following client (one GET per status) ever reached the other host; our
    // client's creates, and their secrets, never did.
    let reached = elsewhere.seen();
    assert_eq!(reached.len(), 5, "{reached:?}");
    assert!(
        reached
            .iter()
            .all(|s| s.method == "GET" && s.body.is_empty())
    );
    tally.print("redirects");
}

// ---------------------------------------------------------------------------------------------
// Body size

/// Announced lengths past the limit are refused before reading; chunked bodies are cut at the
/// limit; bodies within the limit pass.
#[tokio::test]
async fn response_bodies_are_bounded() {
    let limit: u64 = 1024 * 1024;
    let mut tally = Tally::default();
    for announced in [limit + 1, 200 * 1024 * 1024, u64::MAX] {
        let server = Server::start(move |_: &Seen| {
            Answer::head_only(format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \
                 {announced}\r\nconnection: close\r\n\r\n"
            ))
        })
        .await;
        let client = client_for(&server, ManualClock::auto_advance())
            .max_response_bytes(limit)
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        match got {
            Err(Error::ResponseTooLarge(e)) => {
                assert_eq!((e.limit, e.size), (limit, announced));
                tally.record("announced length over the limit", "refused unread");
            }
            // hyper refuses a length it cannot represent before we see it.
            Err(Error::Transport(_)) if announced == u64::MAX => {
                tally.record("announced length over the limit", "transport error")
            }
            other => panic!("length {announced}: {other:?}"),
        }
    }
    for (chunk, chunks) in [
        (64 * 1024, 160),
        (100, 20_000),
        (1024 * 1024, 2),
        (1, 2_000),
        (64 * 1024, 15),
    ] {
        let server = Server::start(move |_: &Seen| Answer::chunked(chunk, chunks)).await;
        let client = client_for(&server, ManualClock::auto_advance())
            .max_response_bytes(limit)
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let err = client.app("a").machine("m1").get().await.unwrap_err();
        if ((chunk * chunks) as u64) < limit {
            // Read whole: the filler then fails to decode as a machine.
            assert!(matches!(err, Error::Decode(_)), "{err}");
            tally.record("chunked body within the limit", "read whole");
            continue;
        }
        match err {
            Error::ResponseTooLarge(e) => {
                let size = e.size;
                assert_eq!(e.limit, limit);
                assert!(size > limit && size <= limit + chunk as u64 + 2, "{size}");
                tally.record("chunked body over the limit", "cut at the limit");
            }
            other => panic!("{chunk} x {chunks}: {other}"),
        }
        assert!(err_message_names_limit(limit));
    }
    // Within the limit: a normal answer decodes.
    let server = Server::start(|_: &Seen| Answer::json(200, MACHINE)).await;
    let client = client_for(&server, ManualClock::auto_advance())
        .max_response_bytes(MACHINE.len() as u64)
        .build()
        .unwrap();
    client.app("a").machine("m1").get().await.unwrap();
    tally.record("body exactly at the limit", "decoded");
    tally.print("response bodies (limit 1 MiB)");
}

// ---------------------------------------------------------------------------------------------
// Memory bounded by bytes

/// Peak resident memory of this process, from Linux's own counters: `VmHWM` after writing 5
/// to `clear_refs` (which resets it to the current size). Elsewhere nothing is measured.
mod peak {
    fn status(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Starts measuring; the resident size now, if it can be measured.
    pub fn reset() -> Option<u64> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        status("VmRSS:")
    }

    /// The peak since `reset`, above the resident size then.
    pub fn since(base: Option<u64>) -> Option<u64> {
        Some(status("VmHWM:")?.saturating_sub(base?))
    }
}

/// A 200 whose body is a JSON list of `count` copies of `element`, written in 64 KiB pieces
/// made as they are sent (so the server never holds the whole body).
fn big_list(element: &'static str, count: usize) -> Answer {
    let length = 2 + count * (element.len() + 1) - 1;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\
         connection: close\r\n\r\n"
    );
    let per_piece = (64 * 1024 / (element.len() + 1)).max(1);
    let pieces = (0..count.div_ceil(per_piece)).map(move |piece| {
        let from = piece * per_piece;
        let to = (from + per_piece).min(count);
        let mut out = Vec::with_capacity((to - from) * (element.len() + 1) + 1);
        for i in from..to {
            out.push(if i == 0 { b'[' } else { b',' });
            out.extend_from_slice(element.as_bytes());
        }
        if to == count {
            out.push(b']');
        }
        out
    });
    Answer {
        head,
        chunks: Box::new(pieces),
        reset: false,
    }
}

/// Lists of tiny objects that each decode into a whole `Machine`: peak memory of the call stays
/// under 8x the body limit, and the list is refused, not decoded into gigabytes. Peak memory is
/// a figure of the whole process, so this runs in a process of its own.
#[test]
fn list_memory_is_bounded_by_bytes_not_objects() {
    let name = own_process::test_name(
        module_path!(),
        "list_memory_is_bounded_by_bytes_not_objects",
    );
    own_process::run(&name, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(list_memory_measured());
    });
}

/// The body of `list_memory_is_bounded_by_bytes_not_objects`, in the process of its own.
async fn list_memory_measured() {
    let mut tally = Tally::default();
    let limit: u64 = 32 * 1024 * 1024;
    for (label, element, bytes) in [
        (
            "1 MB list of {\"id\":\"m\"}",
            r#"{"id":"m"}"#,
            1_000_000usize,
        ),
        ("31 MB list of {\"id\":\"m\"}", r#"{"id":"m"}"#, 31_000_000),
        ("31 MB list of {}", "{}", 31_000_000),
    ] {
        let count = bytes / (element.len() + 1);
        let server = Server::start(move |_: &Seen| big_list(element, count)).await;
        let client = client_for(&server, ManualClock::auto_advance())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let base = peak::reset();
        let got = client.app("a").machines().list().await;
        let peak = peak::since(base);
        if let Some(peak) = peak {
            assert!(
                peak < 8 * limit,
                "{label}: peak {} MB, not under 8x the {} MB limit",
                peak / 1_000_000,
                limit / 1_000_000
            );
        }
        let outcome = match got {
            Err(Error::ResponseTooLarge(e)) => {
                let (l, size) = (e.limit, e.size);
                assert_eq!(
                    l,
                    2 * limit,
                    "{label}: the decode budget is twice the byte limit"
                );
                assert!(size > l, "{label}: {size}");
                "refused (decode budget)"
            }
            Ok(list) => {
                assert_eq!(list.len(), count);
                "decoded"
            }
            Err(other) => panic!("{label}: {other}"),
        };
        let peak = peak.map_or("not measured here".to_string(), |p| {
            format!("peak {} MB", p.div_ceil(1_000_000))
        });
        tally.record(label, &format!("{outcome}, {peak}"));
    }
    // An ordinary list well within budget still decodes.
    let server = Server::start(|_: &Seen| big_list(MACHINE, 2_000)).await;
    let client = client_for(&server, ManualClock::auto_advance())
        .build()
        .unwrap();
    assert_eq!(
        client.app("a").machines().list().await.unwrap().len(),
        2_000
    );
    tally.record("2,000 ordinary machines", "decoded");
    tally.print(
        "list memory (body limit 32 MiB; peak resident memory of the call, server included)",
    );
}

fn err_message_names_limit(limit: u64) -> bool {
    let err = Error::from(fly_machines::ResponseTooLarge {
        operation: fly_machines::OperationId::MachinesShow,
        limit,
        size: limit + 1,
    });
    let shown = err.to_string();
    shown.contains(&limit.to_string()) && shown.contains("max_response_bytes")
}

// ---------------------------------------------------------------------------------------------
// Polling

/// A `/wait` that answers at once, in the wrong state or with 408, for 5 s of virtual time with
/// the limiter off: the wait backs off between polls instead of asking again at once.
#[tokio::test]
async fn waits_back_off_between_polls_that_return_at_once() {
    let mut tally = Tally::default();
    for (label, answer) in [
        (
            "200 in the wrong state",
            (200u16, r#"{"ok":true,"state":"stopped"}"#),
        ),
        ("immediate 408", (408, r#"{"error":"deadline exceeded"}"#)),
        ("immediate 503", (503, r#"{"error":"unavailable"}"#)),
    ] {
        // Past 50 polls the machine "starts", so a wait that polls in a tight loop ends in
        // success (and fails this test) instead of spinning forever.
        let polls = Arc::new(AtomicUsize::new(0));
        let server = Server::start(move |_: &Seen| {
            if polls.fetch_add(1, Ordering::SeqCst) >= 50 {
                Answer::json(200, r#"{"ok":true,"state":"started"}"#)
            } else {
                Answer::json(answer.0, answer.1)
            }
        })
        .await;
        let clock = ManualClock::auto_advance();
        let client = client_for(&server, clock.clone())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let err = client
            .app("a")
            .machine("m1")
            .wait_for(vec![WaitState::Started])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let polls = server.seen().len();
        // Pauses of at least 125, 250, 500, 1000, 2000 ms fit in 5 s: at most 7 polls.
        assert!((3..=7).contains(&polls), "{label}: {polls} polls in 5 s");
        tally.record(label, &format!("{polls} polls in 5 s"));
    }
    tally.print("wait polling (limiter off, 5 s virtual)");
}

// ---------------------------------------------------------------------------------------------
// Secrets in Debug

#[tokio::test]
async fn the_lease_nonce_never_shows_in_debug() {
    let server = cooperative_server(0).await;
    let client = client_for(&server, ManualClock::auto_advance())
        .build()
        .unwrap();
    let guard = client
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(30))
        .auto_refresh(false)
        .send()
        .await
        .unwrap();
    assert_eq!(guard.nonce(), "secret-nonce-7");
    for shown in [
        format!("{guard:?}"),
        format!("{:?}", guard.machine()),
        format!("{:#?}", guard),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains("secret-nonce-7"), "{shown}");
        assert!(!shown.contains("adversarial-token"), "{shown}");
    }
    let sent = server.seen();
    guard.release().await.unwrap();
    assert!(
        sent.iter()
            .all(|s| s.header("fly-machine-lease-nonce").is_none())
    );
    let release = server.seen().pop().unwrap();
    assert_eq!(
        release.header("fly-machine-lease-nonce"),
        Some("secret-nonce-7")
    );
}

// ---------------------------------------------------------------------------------------------
// Broken answers

/// Answers no HTTP library should accept, and answers cut short: each ends in a typed error,
/// a GET is retried (at most `max_attempts` times), and a create without an idempotency key is
/// never sent twice after the server may have acted on it.
#[tokio::test]
async fn broken_answers_end_in_typed_errors_without_duplicate_creates() {
    let heads: Vec<(&str, String)> = vec![
        ("empty answer", String::new()),
        ("garbage", "\u{0}\u{1}garbage\r\n\r\n".into()),
        ("bad status line", "HTTP/1.1 abc OK\r\n\r\n".into()),
        ("status 999", "HTTP/1.1 999 X\r\ncontent-length: 0\r\n\r\n".into()),
        (
            "body shorter than announced",
            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\":".into(),
        ),
        (
            "header of 1 MiB",
            format!(
                "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 2\r\n\r\n{{}}",
                "a".repeat(1024 * 1024)
            ),
        ),
        (
            "10,000 headers",
            format!(
                "HTTP/1.1 200 OK\r\n{}content-length: 2\r\n\r\n{{}}",
                "x-h: 1\r\n".repeat(10_000)
            ),
        ),
        (
            "bad chunk size",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".into(),
        ),
        (
            "both length and chunked",
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
                .into(),
        ),
    ];
    let mut tally = Tally::default();
    for (label, head) in heads {
        let server = Server::start(move |_: &Seen| Answer::head_only(head.clone())).await;
        let client = client_for(&server, ManualClock::auto_advance())
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        let gets = server.seen().len();
        assert!((1..=4).contains(&gets), "{label}: {gets} GETs");
        let created = client
            .app("a")
            .machines()
            .create(MachineConfig {
                image: Some("nginx".into()),
                ..Default::default()
            })
            .send()
            .await;
        let creates = server.seen().len() - gets;
        assert_eq!(creates, 1, "{label}: create sent {creates} times");
        for result in [got.map(|_| ()), created.map(|_| ())] {
            let outcome = match result {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    match e {
                        Error::Transport(_) => "transport error".into(),
                        Error::Decode(_) => "decode error".into(),
                        Error::Api(api) => format!("API error {}", api.status),
                        other => format!("{other}"),
                    }
                }
            };
            tally.record(label, &outcome);
        }
    }
    tally.print("broken answers (GET, then create; each create sent once)");
}

/// A lease nonce or header value that cannot be sent is refused before anything is sent.
#[tokio::test]
async fn unsendable_header_values_are_refused_before_sending() {
    let server = Server::start(|_: &Seen| Answer::json(200, MACHINE)).await;
    let client = client_for(&server, ManualClock::auto_advance())
        .build()
        .unwrap();
    let mut tally = Tally::default();
    for nonce in ["a\r\nx-injected: 1", "a\nb", "\u{7f}", "\0"] {
        let got = client
            .app("a")
            .machine("m1")
            .with_lease_nonce(nonce)
            .cordon()
            .await;
        assert!(
            matches!(got, Err(Error::InvalidInput(_))),
            "{nonce:?}: {got:?}"
        );
        let shown = got.unwrap_err().to_string();
        assert!(shown.contains("cannot be sent in a header"), "{shown}");
        assert!(!shown.contains(nonce), "the nonce shows in {shown}");
        tally.record("lease nonce", "refused before sending");
    }
    assert!(server.seen().is_empty());
    tally.print("header values");
}

// ---------------------------------------------------------------------------------------------
// Leases under cancellation

/// An app with one machine on an in-process emulator (manual clock), and a client of it.
async fn leased_machine_setup() -> (fly_machines_sim::SimHandle, Client, String) {
    let sim = fly_machines_sim::Sim::builder()
        .manual_clock()
        .no_rate_limits()
        .seed(24)
        .start()
        .await
        .expect("the emulator starts");
    let client = Client::builder()
        .token(sim.token())
        .base_url(sim.base_url())
        .rate_limits(RateLimits::off())
        .clock(ManualClock::auto_advance())
        .build()
        .unwrap();
    client.apps().create("leases", "personal").await.unwrap();
    let config: MachineConfig =
        serde_json::from_value(serde_json::json!({"image": "nginx"})).unwrap();
    let machine = client
        .app("leases")
        .machines()
        .create(config)
        .await
        .unwrap();
    let id = machine.id().to_string();
    (sim, client, id)
}

/// Lets background tasks (the acquisition, a guard's release) run until the machine's lease is
/// gone, giving them up to 10 s of real time on loopback (they take microseconds); whether it
/// is still held then.
async fn still_held_after_release(sim: &fly_machines_sim::SimHandle, id: &str) -> bool {
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < give_up {
        if sim.lease("leases", id).is_none() {
            return false;
        }
        tokio::task::yield_now().await;
    }
    sim.lease("leases", id).is_some()
}

/// 1,000 acquisitions, each dropped after a random number of polls (before the POST, while it
/// is in flight, or after the lease was taken): once the background release has run, no lease
/// is left held. Then `release()` futures dropped before their DELETE: the guard still
/// releases. Before the fix, 13 of 89 dropped acquisitions and 4 of 4 dropped releases left
/// the machine leased until its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_lease_calls_leave_no_lease_held() {
    let (sim, client, id) = leased_machine_setup().await;
    let machine = client.app("leases").machine(&id);
    let mut tally = Tally::default();
    let mut held = 0;
    let mut seed: u64 = 0x2400_0001;
    for _ in 0..1_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let polls = (seed >> 33) % 24;
        let mut acquiring = Box::pin(machine.lease(Duration::from_secs(30)).send());
        let mut outcome = "dropped before an answer";
        for _ in 0..polls {
            if let std::task::Poll::Ready(got) = futures::poll!(acquiring.as_mut()) {
                // Taken before the drop: the guard itself is dropped below.
                outcome = if got.is_ok() {
                    "taken, guard dropped"
                } else {
                    "failed"
                };
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(acquiring);
        if still_held_after_release(&sim, &id).await {
            held += 1;
            let later = still_held_after_release(&sim, &id).await;
            eprintln!("LEFT HELD after {polls} polls ({outcome}); still held 10 s later: {later}");
            tally.record("acquisition dropped after 0..24 polls", "LEFT HELD");
            // Free the machine for the next round: wait out the TTL.
            sim.advance(Duration::from_secs(31));
        } else {
            tally.record("acquisition dropped after 0..24 polls", outcome);
        }
    }
    for polls in 0..50 {
        let guard = machine.lease(Duration::from_secs(30)).send().await.unwrap();
        let mut releasing = Box::pin(guard.release());
        for _ in 0..polls % 5 {
            if futures::poll!(releasing.as_mut()).is_ready() {
                break;
            }
        }
        drop(releasing);
        if still_held_after_release(&sim, &id).await {
            held += 1;
            tally.record("release() dropped after 0..4 polls", "LEFT HELD");
            sim.advance(Duration::from_secs(31));
        } else {
            tally.record("release() dropped after 0..4 polls", "released");
        }
    }
    tally.print("lease calls cancelled at random points (emulator, TTL 30 s)");
    println!("  leases left held after the release: {held}");
    assert_eq!(held, 0, "leases left held after cancelled calls");
}

/// A lease acquire answered with a 503 (which may or may not have taken the lease) is tried
/// again, not failed: one 503 never fails a rollout.
#[tokio::test]
async fn a_lease_acquire_answered_503_is_tried_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::start(move |request: &Seen| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match (request.method.as_str(), n) {
            ("POST", 0) => Answer::json(503, r#"{"error":"unavailable"}"#),
            ("POST", _) => Answer::json(
                201,
                r#"{"status":"success","data":{"nonce":"n-1","expires_at":1,"owner":"me"}}"#,
            ),
            _ => Answer::json(200, "{}"),
        }
    })
    .await;
    let client = client_for(&server, ManualClock::auto_advance())
        .build()
        .unwrap();
    let guard = client
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(10))
        .auto_refresh(false)
        .send()
        .await
        .expect("a 503 on acquire is tried again");
    assert_eq!(guard.nonce(), "n-1");
    let posts = server.seen().iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 2);
    guard.release().await.unwrap();
}

/// A lease acquire whose 503 hid a lease it did take: the machine then answers 409 until that
/// lease's TTL (10 s) has run out. The acquisition keeps trying at least that long, even with
/// an `acquire_timeout` of 2 s, and takes the lease once its own lost one has expired.
#[tokio::test]
async fn an_acquire_whose_answer_was_lost_waits_out_its_own_ttl() {
    let clock = ManualClock::auto_advance();
    let started = clock.now();
    let server_clock = clock.clone();
    let server = Server::start(move |request: &Seen| {
        let held_for = server_clock.now().saturating_duration_since(started);
        match request.method.as_str() {
            "POST" if request.header("fly-machine-lease-nonce").is_none() => {
                if held_for.is_zero() {
                    // The first attempt takes the lease; its answer is lost.
                    Answer::json(503, r#"{"error":"unavailable"}"#)
                } else if held_for < Duration::from_secs(10) {
                    Answer::json(
                        409,
                        r#"{"status":"error","message":"lease currently held"}"#,
                    )
                } else {
                    Answer::json(
                        201,
                        r#"{"status":"success","data":{"nonce":"n-2","expires_at":1}}"#,
                    )
                }
            }
            _ => Answer::json(200, "{}"),
        }
    })
    .await;
    let client = client_for(&server, clock.clone()).build().unwrap();
    let guard = client
        .app("a")
        .machine("m1")
        .lease(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(2))
        .auto_refresh(false)
        .send()
        .await
        .expect("the lost lease is waited out");
    assert_eq!(guard.nonce(), "n-2");
    let waited = clock.now().saturating_duration_since(started);
    assert!(
        waited >= Duration::from_secs(10) && waited <= Duration::from_secs(14),
        "{waited:?}"
    );
    guard.release().await.unwrap();
}

/// `wait_all` over 160 machines, 8 of them spread through the list and never starting: the
/// stuck waits run side by side instead of holding the line one timeout after another (before:
/// 8 timeouts end to end).
#[tokio::test(start_paused = true)]
async fn wait_all_is_not_held_up_by_stuck_machines() {
    let server = Server::start(|request: &Seen| {
        if request.path().contains("/stuck-") {
            Answer::json(408, r#"{"error":"deadline exceeded"}"#)
        } else {
            Answer::json(200, r#"{"ok":true,"state":"started"}"#)
        }
    })
    .await;
    let client = Client::builder()
        .token("adversarial-token")
        .base_url(server.base_url())
        .rate_limits(RateLimits::off())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let app = client.app("a");
    let machines: Vec<_> = (0..160)
        .map(|i| {
            let id = if i % 20 == 0 {
                format!("stuck-{i}")
            } else {
                format!("m{i}")
            };
            app.machine(id)
        })
        .collect();
    let timeout = Duration::from_secs(10);
    let started = tokio::time::Instant::now();
    let results = app
        .machines()
        .wait_all(&machines, vec![WaitState::Started])
        .timeout(timeout)
        .send()
        .await;
    let took = started.elapsed();
    assert_eq!(results.len(), 160);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(
            result.is_err(),
            i % 20 == 0,
            "machine {i}: in order, stuck ones failed"
        );
    }
    assert!(
        took < timeout * 3,
        "wait_all took {took:?} for 8 stuck machines with a {timeout:?} timeout each"
    );
    let mut tally = Tally::default();
    tally.record(
        "160 machines, 8 stuck, 8 in flight",
        &format!("{} s for a 10 s timeout", took.as_secs()),
    );
    tally.print("wait_all head-of-line");
}

// ---------------------------------------------------------------------------------------------
// Answers lost mid-body

/// A machine tagged with the idempotency key `job-1`.
const KEYED_MACHINE: &str = r#"{"id":"m1","state":"started","instance_id":"v1","config":{"image":"nginx","metadata":{"fly_machines_launch_id":"job-1"}}}"#;

/// A GET whose first answer is reset after its head and half its body is sent again, within
/// the same call (2 attempts); a create whose answer is lost the same way is never resent
/// blindly: without a key it fails as ambiguous after one POST, with a key it is found by the
/// key after one POST.
#[tokio::test]
async fn an_answer_reset_mid_body_is_retried_only_where_safe() {
    let mut tally = Tally::default();
    for round in 0..10 {
        let gets = Arc::new(AtomicUsize::new(0));
        let counter = gets.clone();
        let server = Server::start(move |_: &Seen| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::reset_mid_body(MACHINE)
            } else {
                Answer::json(200, MACHINE)
            }
        })
        .await;
        let client = client_for(&server, ManualClock::auto_advance())
            .build()
            .unwrap();
        let got = client.app("a").machine("m1").get().await;
        assert!(got.is_ok(), "round {round}: {got:?}");
        assert_eq!(server.seen().len(), 2, "round {round}: one resend");
        tally.record("GET reset mid-body", "ok after 2 attempts");
    }

    for round in 0..10 {
        let server = Server::start(|request: &Seen| match request.method.as_str() {
            "POST" => Answer::reset_mid_body(KEYED_MACHINE),
            _ => Answer::json(200, "[]"),
        })
        .await;
        let client = client_for(&server, ManualClock::auto_advance())
            .build()
            .unwrap();
        let err = client
            .app("a")
            .machines()
            .create(create_config())
            .send()
            .await
            .expect_err("the answer was lost");
        assert!(err.is_ambiguous(), "round {round}: {err}");
        let posts = server.seen().iter().filter(|s| s.method == "POST").count();
        assert_eq!(posts, 1, "round {round}: an unkeyed create was resent");
        tally.record("create reset mid-body, no key", "ambiguous after 1 POST");
    }

    for round in 0..10 {
        let posts = Arc::new(AtomicUsize::new(0));
        let counter = posts.clone();
        let server = Server::start(move |request: &Seen| match request.method.as_str() {
            "POST" => {
                counter.fetch_add(1, Ordering::SeqCst);
                Answer::reset_mid_body(KEYED_MACHINE)
            }
            _ if counter.load(Ordering::SeqCst) == 0 => Answer::json(200, "[]"),
            _ => Answer::json(200, &format!("[{KEYED_MACHINE}]")),
        })
        .await;
        let client = client_for(&server, ManualClock::auto_advance())
            .build()
            .unwrap();
        let made = client
            .app("a")
            .machines()
            .create(create_config())
            .idempotency_key("job-1")
            .send()
            .await;
        assert!(made.is_ok(), "round {round}: {made:?}");
        assert_eq!(posts.load(Ordering::SeqCst), 1, "round {round}: resent");
        tally.record("create reset mid-body, keyed", "found by key after 1 POST");
    }
    tally.print("answers reset mid-body");
}
