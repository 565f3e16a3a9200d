//! One span per call, with the facts an operator needs, and never the token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fly_machines::ManualClock;
use fly_machines_httpmock::{FlyErrors, MockServerExt, ServerError};
use httpmock::MockServer;
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_call_span_records_operation_attempts_status_and_request_id() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start_async().await;
    server.machines_get(|when, then| {
        when.app_name("a").machine_id("m1");
        then.fly_server_error(ServerError::Unavailable)
            .into_inner()
            .up_to_n_times(1);
    });
    server.machines_get(|when, then| {
        when.app_name("a").machine_id("m1");
        then.into_inner()
            .status(200)
            .header("fly-request-id", "01HREQUESTID")
            .json_body(json!({"id": "m1"}));
    });
    let c = crate::common::builder(&server, ManualClock::auto_advance())
        .token("fm2_very_secret_token")
        .build()
        .unwrap();
    c.app("a").machine("m1").get().await.unwrap();

    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let close = out
        .lines()
        .find(|l| l.contains("fly_machines.call") && l.contains("close"))
        .unwrap_or_else(|| panic!("{out}"));
    for expected in [
        "operation=\"Machines_show\"",
        "app=\"a\"",
        "machine_id=\"m1\"",
        "attempt=2",
        "status=200",
        "request_id=\"01HREQUESTID\"",
        "retry_reason=\"http_503\"",
    ] {
        assert!(close.contains(expected), "missing {expected} in {close}");
    }
    assert!(out.contains("retrying"), "{out}");
    assert!(!out.contains("very_secret"), "token leaked: {out}");
}
