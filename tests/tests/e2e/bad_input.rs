//! Scenario 5: bad input in both directions.
//!
//! From the caller: app names, machine ids and tokens that cannot be valid must be refused with
//! a typed error naming the value, before any request leaves, and nothing may send a request
//! outside the operation's path. From the server: broken, odd or huge answers must give typed
//! errors naming the problem, or decode where the values are merely unknown; nothing panics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fly_machines::{
    Client, Error, ErrorCode, HostStatus, InvalidInput, MachineState, ManualClock, RateLimits,
    RetryPolicy, WaitState,
};
use fly_machines_sim::Sim;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Figures, config};

/// Names and ids that no app or machine can have.
const BAD: &[&str] = &[
    "",
    "a/b",
    "/",
    "..",
    ".",
    "../other",
    "a%2Fb",
    "%",
    "a b",
    " ",
    "ünïcode",
    "名前",
    "a\nb",
    "a\r\nX-Injected: 1",
    "a?b=c",
    "a#b",
    "a\u{0}b",
    "\u{202e}gnp",
];

fn client_for(base_url: &str, token: &str) -> Client {
    Client::builder()
        .token(token)
        .base_url(base_url)
        .clock(ManualClock::auto_advance())
        .rate_limits(RateLimits::off())
        .retry(RetryPolicy::default().jitter(false))
        .build()
        .expect("client")
}

/// Checks that `result` is an `InvalidInput` for `what` naming `value`.
fn refused<T: std::fmt::Debug>(
    result: fly_machines::Result<T>,
    what: &str,
    value: &str,
    call: &str,
) {
    match result {
        Err(Error::InvalidInput(input)) => {
            let InvalidInput {
                what: w,
                value: v,
                expected,
            } = *input;
            assert_eq!(w, what, "{call}({value:?}) names what is wrong");
            assert_eq!(v, value, "{call}({value:?}) names the value");
            assert!(
                !expected.is_empty(),
                "{call}({value:?}) says what is expected"
            );
            let shown = Error::from(InvalidInput {
                what: w,
                value: v,
                expected,
            })
            .to_string();
            assert!(
                shown.contains(what) && shown.contains(&format!("{value:?}")),
                "{call}: {shown}"
            );
        }
        other => panic!("{call}({value:?}): expected an invalid-input error, got {other:?}"),
    }
}

/// Every handle method refuses bad app names and machine ids before sending anything.
#[tokio::test]
async fn bad_names_and_ids_are_refused_before_any_request() {
    let sim = Sim::builder()
        .no_rate_limits()
        .start()
        .await
        .expect("emulator");
    let client = client_for(&sim.base_url(), sim.token());
    let mut checked = 0;
    for bad in BAD {
        let app = client.app(*bad);
        refused(app.get().await, "app name", bad, "app.get");
        refused(app.delete().await, "app name", bad, "app.delete");
        refused(
            app.machines().list().await,
            "app name",
            bad,
            "machines.list",
        );
        refused(
            app.machines().create(config("nginx:1")).send().await,
            "app name",
            bad,
            "machines.create",
        );
        refused(
            app.machine("m1").get().await,
            "app name",
            bad,
            "machine.get",
        );
        checked += 5;

        let machine = client.app("good-app").machine(*bad);
        refused(machine.get().await, "machine id", bad, "machine.get");
        refused(machine.start().await, "machine id", bad, "machine.start");
        refused(machine.stop().await, "machine id", bad, "machine.stop");
        refused(
            machine.delete().force().await,
            "machine id",
            bad,
            "machine.delete",
        );
        refused(machine.cordon().await, "machine id", bad, "machine.cordon");
        refused(
            machine.update_config(config("nginx:1")).await,
            "machine id",
            bad,
            "machine.update",
        );
        refused(
            machine.metadata().all().await,
            "machine id",
            bad,
            "machine.metadata",
        );
        refused(
            machine
                .wait_for(vec![WaitState::Started])
                .timeout(Duration::from_secs(5))
                .send()
                .await,
            "machine id",
            bad,
            "machine.wait_for",
        );
        refused(
            machine.lease(Duration::from_secs(5)).send().await,
            "machine id",
            bad,
            "machine.lease",
        );
        refused(
            machine.release_lease("n").await,
            "machine id",
            bad,
            "release_lease",
        );
        checked += 10;
    }
    let sent = sim.requests().len();
    let mut fig = Figures::new("bad_input_names");
    fig.add("values", BAD.len());
    fig.add("calls_refused", checked);
    fig.add("requests_sent", sent);
    fig.save();
    assert_eq!(
        sent,
        0,
        "a refused call sent a request: {:?}",
        sim.requests()
    );
    sim.shutdown().await;
}

/// The raw generated client (`Client::raw`) does not validate; it percent-encodes each path
/// parameter. Whatever it is given, the request must stay inside the operation's path.
///
/// Guards a fixed defect (defect 4 in tests/README.md): progenitor's `encode_path` leaves `.`
/// unencoded, so a parameter that is exactly `.` or `..` would become a dot segment that URL
/// parsing removes; the raw client's hook must refuse such requests before they are sent.
#[tokio::test]
async fn the_raw_client_keeps_every_request_inside_its_path() {
    let sim = Sim::builder()
        .no_rate_limits()
        .start()
        .await
        .expect("emulator");
    let client = client_for(&sim.base_url(), sim.token());
    let raw = client.raw();
    for bad in BAD.iter().filter(|b| !b.is_empty()) {
        let _ = raw.machines_show(bad, "m1", None, None).await;
        let _ = raw.machines_show("good-app", bad, None, None).await;
        let _ = raw.machines_delete("good-app", bad, Some(true), None).await;
    }
    let log = sim.requests();
    let escaped: Vec<String> = log
        .iter()
        .filter(|r| {
            r.operation
                .is_none_or(|op| op != "Machines_show" && op != "Machines_delete")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let mut fig = Figures::new("bad_input_raw");
    fig.add("requests", log.len());
    fig.add("requests_outside_their_path", escaped.len());
    fig.save();
    assert!(!log.is_empty(), "the raw client sent its requests");
    assert!(
        escaped.is_empty(),
        "requests that left their operation's path: {escaped:#?}"
    );
    sim.shutdown().await;
}

/// Tokens that cannot go in a header are refused when the client is built, without showing
/// the token; surrounding whitespace (a token read from a file) is trimmed.
#[test]
fn bad_tokens_are_refused_without_showing_them() {
    let cases = [
        ("", ""),
        ("   ", ""),
        ("\n", ""),
        ("secret\nrest", "secret"),
        ("secret\r\nX-Injected: 1", "Injected"),
        ("sec\u{0}ret", "sec"),
        ("s\u{7f}ecret", "ecret"),
        ("sécret", "cret"),
        ("Bearer secret\nrest", "secret"),
    ];
    for (token, secret) in cases {
        let err = Client::builder()
            .token(token)
            .base_url("http://127.0.0.1:9")
            .build()
            .expect_err(&format!("token {token:?} is refused"));
        let Some(input) = err.input() else {
            panic!("token {token:?}: expected an invalid-input error, got {err:?}");
        };
        assert_eq!(input.what, "token");
        let shown = format!("{err} {err:?}");
        assert!(
            secret.is_empty() || !shown.contains(secret),
            "the error shows the token: {shown}"
        );
    }
    // A trailing newline, as `$(cat token-file)` leaves none but a file read may, is trimmed.
    let client = Client::builder()
        .token("fm2_abc\n")
        .base_url("http://127.0.0.1:9")
        .build()
        .expect("a token with a trailing newline is trimmed");
    assert!(format!("{client:?}").contains("FlyV1"));
    let mut fig = Figures::new("bad_input_tokens");
    fig.add("tokens_refused", cases.len());
    fig.save();
}

/// A token that is nothing but a scheme word (`FLY_API_TOKEN="FlyV1 $UNSET"`) is as empty as
/// no token, and must be refused like one.
///
/// Guards a fixed defect (defect 5 in tests/README.md): a token that is only a scheme word
/// (`"FlyV1 "`) must be refused like an empty token, not sent as `Bearer FlyV1`.
#[test]
fn a_token_of_only_a_scheme_word_is_refused() {
    for token in ["FlyV1 ", "Bearer ", "FlyV1  \n"] {
        let built = Client::builder()
            .token(token)
            .base_url("http://127.0.0.1:9")
            .build();
        assert!(
            matches!(&built, Err(e) if e.input().is_some_and(|i| i.what == "token")),
            "token {token:?} is accepted: {built:?}"
        );
    }
}

/// A one-response-per-connection HTTP server that answers every request with the same bytes
/// (possibly cut short) and then closes the connection.
struct Scripted {
    base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    async fn start(reply: Vec<u8>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let reply = Arc::new(reply);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (reply, seen) = (reply.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    seen.lock()
                        .unwrap()
                        .push(text.lines().next().unwrap_or_default().to_string());
                    let _ = stream.write_all(&reply).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Scripted {
            base_url,
            requests,
            task,
        }
    }

    fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             fly-request-id: 01TESTREQUEST\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Fetches machine `m1` from a server that always answers `reply`.
async fn get_from(reply: Vec<u8>) -> (fly_machines::Result<fly_machines::MachineSnapshot>, usize) {
    let server = Scripted::start(reply).await;
    let client = client_for(&server.base_url, "test-token");
    let result = client.app("a").machine("m1").get().await;
    (result, server.hits())
}

fn decode_error(
    result: &fly_machines::Result<fly_machines::MachineSnapshot>,
) -> (&str, u16, &str, &str) {
    match result {
        Err(Error::Decode(d)) => (d.operation.id(), d.status, &d.message, &d.body),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

const TEN_MB: usize = 10 * 1024 * 1024;

#[tokio::test]
async fn broken_answers_give_typed_errors() {
    let mut fig = Figures::new("bad_input_answers");

    // Malformed JSON.
    let (r, _) = get_from(Scripted::response(
        "200 OK",
        "application/json",
        br#"{"id": "m1", "state": "#,
    ))
    .await;
    let (op, status, message, body) = decode_error(&r);
    assert_eq!((op, status), ("Machines_show", 200));
    assert!(message.contains("EOF"), "{message}");
    assert!(
        body.contains(r#""id": "m1""#),
        "the error keeps the body: {body}"
    );
    fig.add(
        "malformed_json",
        format!("{:?}", r.unwrap_err().to_string()),
    );

    // Not JSON at all, under the content type it really has.
    let (r, _) = get_from(Scripted::response(
        "200 OK",
        "text/html",
        b"<html><body>maintenance</body></html>",
    ))
    .await;
    let (_, status, message, body) = decode_error(&r);
    assert_eq!(status, 200);
    assert!(!message.is_empty());
    assert!(body.contains("maintenance"), "{body}");

    // Good JSON under a wrong content type: the body is what counts.
    let (r, _) = get_from(Scripted::response(
        "200 OK",
        "text/plain",
        json!({"id": "m1", "state": "started"})
            .to_string()
            .as_bytes(),
    ))
    .await;
    match r {
        Ok(m) => assert_eq!(m.state.as_deref(), Some("started")),
        Err(Error::Decode(d)) => {
            let message = &d.message;
            assert!(
                message.contains("text/plain"),
                "names the content type: {message}"
            )
        }
        Err(other) => panic!("JSON under text/plain: {other:?}"),
    }

    // An empty body where JSON is expected.
    let (r, _) = get_from(Scripted::response("200 OK", "application/json", b"")).await;
    let (_, status, message, _) = decode_error(&r);
    assert_eq!(status, 200);
    assert!(message.contains("EOF"), "{message}");
    fig.add("empty_body", format!("{:?}", r.unwrap_err().to_string()));

    // An error status whose body is an HTML page, not Fly's JSON.
    let (r, hits) = get_from(Scripted::response(
        "404 Not Found",
        "text/html",
        b"<h1>Not Found</h1>",
    ))
    .await;
    let e = r.expect_err("404");
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        e.api().map(|a| a.message.as_str()),
        Some("<h1>Not Found</h1>")
    );
    assert_eq!(e.request_id(), Some("01TESTREQUEST"));
    assert_eq!(hits, 1, "a 404 is not retried");

    // An unknown error code is kept as sent.
    let (r, _) = get_from(Scripted::response(
        "409 Conflict",
        "application/json",
        json!({"error": "new kind of conflict", "status": "brand_new_code"})
            .to_string()
            .as_bytes(),
    ))
    .await;
    let e = r.expect_err("409");
    assert_eq!(e.code(), Some(&ErrorCode::Other("brand_new_code".into())));

    fig.save();
}

#[tokio::test]
async fn huge_answers_are_decoded_or_cut() {
    let mut fig = Figures::new("bad_input_huge");
    // A 10 MB machine (a huge env value) is a machine.
    let big = "x".repeat(TEN_MB);
    let body =
        json!({"id": "m1", "state": "started", "config": {"image": "a:1", "env": {"BIG": big}}})
            .to_string();
    let (r, _) = get_from(Scripted::response(
        "200 OK",
        "application/json",
        body.as_bytes(),
    ))
    .await;
    let m = r.expect("a 10 MB machine decodes");
    let env = m.into_data().config.and_then(|c| c.env).unwrap_or_default();
    assert_eq!(env.get("BIG").map(String::len), Some(TEN_MB));

    // 10 MB of garbage with a success status: a decode error that keeps at most 1 MiB and says
    // it cut the rest.
    let garbage = vec![b'#'; TEN_MB];
    let (r, _) = get_from(Scripted::response("200 OK", "application/json", &garbage)).await;
    let (_, _, _, kept) = decode_error(&r);
    assert!(kept.len() <= 1024 * 1024 + 64, "kept {} bytes", kept.len());
    assert!(kept.ends_with("[cut at 1 MiB]"), "the cut is said");
    fig.add("garbage_body_kept_bytes", kept.len());

    // 10 MB of garbage with an error status: retried (a GET), then an API error whose body is
    // cut at 1 MiB and whose message stays short.
    let (r, hits) = get_from(Scripted::response(
        "503 Service Unavailable",
        "text/plain",
        &garbage,
    ))
    .await;
    let e = r.expect_err("503");
    let api = e.api().expect("an API error");
    assert_eq!(api.status, 503);
    assert!(
        api.body.len() <= 1024 * 1024 + 64,
        "kept {} bytes",
        api.body.len()
    );
    assert!(api.body.ends_with("[cut at 1 MiB]"), "the cut is said");
    assert!(
        api.message.len() <= 2048,
        "message of {} bytes",
        api.message.len()
    );
    assert_eq!(api.attempts, hits as u32);
    assert!(hits > 1, "a 503 on a GET is retried");
    fig.add("error_body_kept_bytes", api.body.len());
    fig.add("error_attempts", hits);
    fig.save();
}

#[tokio::test]
async fn unknown_values_and_fields_decode() {
    let body = json!({
        "id": "m1",
        "state": "hibernating",
        "host_status": "on_fire",
        "region": "xyz",
        "quantum_flux": {"level": 11},
        "checks": [{"name": "http", "status": "sort_of_ok", "output": "?", "brand_new": true}],
        "events": [{"id": "e1", "type": "teleport", "status": "elsewhere", "source": "aliens",
                    "timestamp": 1, "extra": [1, 2, 3]}],
        "config": {
            "image": "a:1",
            "future_knob": {"on": true},
            "restart": {"policy": "sometimes"},
            "guest": {"cpu_kind": "quantum", "cpus": 1, "memory_mb": 256, "gpu_kind": "h900"}
        }
    });
    let (r, _) = get_from(Scripted::response(
        "200 OK",
        "application/json",
        body.to_string().as_bytes(),
    ))
    .await;
    let m = r.expect("unknown values and fields decode");
    // Kept as sent, through the open enums of the accessors.
    assert_eq!(m.state(), MachineState::Other("hibernating".into()));
    assert_eq!(m.host_status(), HostStatus::Other("on_fire".into()));
    assert_eq!(m.checks().len(), 1);
    assert_eq!(
        m.events()[0].state(),
        MachineState::Other("elsewhere".into())
    );

    // A wait answered with a state this version does not know.
    let server = Scripted::start(Scripted::response(
        "200 OK",
        "application/json",
        json!({"ok": true, "state": "hibernating", "version": "v", "event_id": "e", "new": 1})
            .to_string()
            .as_bytes(),
    ))
    .await;
    let client = client_for(&server.base_url, "test-token");
    let answer = client
        .app("a")
        .machine("m1")
        .wait_once([WaitState::Started])
        .timeout(Duration::from_secs(5))
        .await
        .expect("the wait answer decodes");
    assert_eq!(answer.state(), MachineState::Other("hibernating".into()));
    let mut fig = Figures::new("bad_input_unknown");
    fig.add("answers_decoded", 2);
    fig.save();
}

#[tokio::test]
async fn connections_closed_early_give_typed_errors() {
    let mut fig = Figures::new("bad_input_closed");
    // Closed in the middle of the body.
    let mut cut = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\
                    connection: close\r\n\r\n"
        .to_vec();
    cut.extend_from_slice(br#"{"id": "m1", "state": "sta"#);
    let (r, hits) = get_from(cut).await;
    let e = r.expect_err("a cut body is an error");
    assert!(
        matches!(e, Error::Transport(_) | Error::Decode(_)),
        "a typed transport or decode error: {e:?}"
    );
    assert!(e.to_string().contains("Machines_show"), "{e}");
    fig.add("cut_body_error", format!("{:?}", e.to_string()));
    fig.add("cut_body_attempts", hits);

    // Closed without any answer: the GET is retried, then a transport error.
    let (r, hits) = get_from(Vec::new()).await;
    let e = r.expect_err("no answer is an error");
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert_eq!(e.attempts(), Some(hits as u32));
    assert!(hits > 1, "a GET without an answer is retried");
    fig.add("no_answer_attempts", hits);
    fig.save();
}
