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
