//! The request timeout, on virtual time: a stalled call is cut off after `request_timeout`,
//! whether the client built its own HTTP client or shares one, and a `/wait` long-poll is given
//! its own time instead.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use fly_machines::{Client, RetryPolicy, WaitState};

/// A server on this (paused) runtime: Get Machine never answers; `/wait` answers after 40 s.
async fn serve() -> String {
    let app = Router::new()
        .route(
            "/v1/apps/{app}/machines/{id}",
            get(std::future::pending::<&'static str>),
        )
        .route(
            "/v1/apps/{app}/machines/{id}/wait",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(40)).await;
                ([("content-type", "application/json")], r#"{"ok":true}"#)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client(base_url: &str, shared_http: bool) -> Client {
    let builder = Client::builder()
        .token("test-token")
        .base_url(base_url)
        .retry(RetryPolicy::none())
        .request_timeout(Duration::from_secs(5));
    let builder = if shared_http {
        builder.http_client(reqwest::Client::new())
    } else {
        builder
    };
    builder.build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_stalled_call_is_cut_off_at_the_request_timeout() {
    let base_url = serve().await;
    for shared_http in [false, true] {
        let started = tokio::time::Instant::now();
        let err = client(&base_url, shared_http)
            .app("a")
            .machine("m1")
            .get()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "shared_http={shared_http}: {err}");
        assert_eq!(started.elapsed().as_secs(), 5, "shared_http={shared_http}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_outlives_the_request_timeout() {
    let base_url = serve().await;
    for shared_http in [false, true] {
        let started = tokio::time::Instant::now();
        client(&base_url, shared_http)
            .app("a")
            .machine("m1")
            .wait_once([WaitState::Started])
            .await
            .unwrap();
        assert_eq!(started.elapsed().as_secs(), 40, "shared_http={shared_http}");
    }
}

/// Kept-alive connections, on a raw HTTP/1.1 server of this (paused) runtime.
mod connections {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use fly_machines::types::MachineConfig;
    use fly_machines::{Client, Error, RateLimits, RetryPolicy};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MACHINE: &str = r#"{"id":"m1","state":"started","config":{"image":"nginx"}}"#;

    /// What the server counted: connections accepted, requests read, creates read.
    #[derive(Default)]
    struct Counts {
        connections: AtomicUsize,
        requests: AtomicUsize,
        creates: AtomicUsize,
    }

    /// Keeps connections alive for `idle` (as the emulator does, 10 s), and, with
    /// `drop_reused`, reads the second request of every connection and closes it without an
    /// answer: the moment a server closes an idle connection as the client reuses it.
    async fn serve(idle: Duration, drop_reused: bool) -> (String, Arc<Counts>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                c.connections.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    let mut served = 0;
                    loop {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                                _ => return, // closed, or idle too long
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + length {
                            match stream.read(&mut chunk).await {
                                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                                _ => return,
                            }
                        }
                        c.requests.fetch_add(1, Ordering::SeqCst);
                        if head.starts_with("post") {
                            c.creates.fetch_add(1, Ordering::SeqCst);
                        }
                        served += 1;
                        if drop_reused && served == 2 {
                            return; // closed, no answer
                        }
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\n\r\n{MACHINE}",
                            MACHINE.len()
                        );
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}"), counts)
    }

    fn keep_alive_client(base_url: &str) -> Client {
        Client::builder()
            .token("test-token")
            .base_url(base_url)
            .rate_limits(RateLimits::off())
            .retry(RetryPolicy::default().jitter(false))
            .build()
            .unwrap()
    }

    /// The client lets an idle connection go before a server that keeps it 10 s would: the
    /// call after 5 s idle opens a new one instead of meeting the server's close.
    #[tokio::test(start_paused = true)]
    async fn idle_connections_are_dropped_before_the_server_drops_them() {
        let (base_url, counts) = serve(Duration::from_secs(10), false).await;
        let client = keep_alive_client(&base_url);
        let machine = client.app("a").machine("m1");
        machine.get().await.unwrap();
        machine.get().await.unwrap();
        assert_eq!(
            counts.connections.load(Ordering::SeqCst),
            1,
            "reused at once"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        machine.get().await.unwrap();
        assert_eq!(
            counts.connections.load(Ordering::SeqCst),
            2,
            "after 5 s idle the client must not reuse a connection (the pool keeps them {:?})",
            fly_machines::DEFAULT_POOL_IDLE_TIMEOUT
        );
    }

    /// A reused connection closed before any answer: an idempotent call is sent again on a new
    /// connection; a create is not (the server may have acted on it) and fails as a transport
    /// error after one attempt, with exactly one create sent.
    #[tokio::test(start_paused = true)]
    async fn a_reset_on_a_reused_connection_resends_only_what_is_safe() {
        let (base_url, counts) = serve(Duration::from_secs(10), true).await;
        let client = keep_alive_client(&base_url);
        let machine = client.app("a").machine("m1");
        machine.get().await.unwrap();
        machine.get().await.unwrap();
        assert_eq!(
            (
                counts.connections.load(Ordering::SeqCst),
                counts.requests.load(Ordering::SeqCst)
            ),
            (2, 3),
            "the get on the closed connection was sent again on a new one"
        );

        let (base_url, counts) = serve(Duration::from_secs(10), true).await;
        let client = keep_alive_client(&base_url);
        client.app("a").machine("m1").get().await.unwrap();
        let config: MachineConfig =
            serde_json::from_value(serde_json::json!({"image": "nginx"})).unwrap();
        let err = client.app("a").machines().create(config).await.unwrap_err();
        assert!(
            matches!(&err, Error::Transport(t) if t.attempts == 1),
            "{err}"
        );
        assert_eq!(counts.creates.load(Ordering::SeqCst), 1, "never sent twice");
    }
}

/// A call that times out and is retried ends by `max_elapsed`, not a whole request timeout
/// after it: the retry's timeout is cut to what is left.
#[tokio::test(start_paused = true)]
async fn max_elapsed_is_not_overshot_by_a_retry() {
    let base_url = serve().await;
    let client = Client::builder()
        .token("test-token")
        .base_url(&base_url)
        .rate_limits(fly_machines::RateLimits::off())
        .retry(
            RetryPolicy::default()
                .jitter(false)
                .max_elapsed(Some(Duration::from_secs(8))),
        )
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = client.app("a").machine("m1").get().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(8),
        "the call took {took:?}, past its max_elapsed of 8 s"
    );
}
