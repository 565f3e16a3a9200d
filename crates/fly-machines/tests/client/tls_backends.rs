//! The TLS backend chosen by cargo feature is wired in: a client built with it opens HTTPS
//! connections with a TLS handshake. It runs with the default backend (rustls with ring) as a
//! module of the `client` test binary, and CI builds it alone once per other backend:
//! `cargo test -p fly-machines --no-default-features --features rustls --test tls_backends`
//! (rustls with aws-lc), and the same with `--features native-tls`.

use fly_machines::Client;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// First bytes of every TLS connection: a handshake record (0x16) of TLS major version 3.
const TLS_HANDSHAKE_RECORD: [u8; 2] = [0x16, 0x03];

#[tokio::test]
async fn an_https_call_starts_with_a_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 2];
        socket.read_exact(&mut first).await.unwrap();
        // Dropping the socket ends the handshake: the client gets a connection error.
        first
    });

    // Building the client must not panic: with `rustls-ring`, reqwest has no crypto provider of
    // its own and would refuse to build without the ring config the SDK gives it.
    let client = Client::builder()
        .test_server(format!("https://{addr}"))
        .build()
        .expect("a client with the chosen TLS backend");
    let answer = client.raw().apps_show("tls-probe").await;

    assert_eq!(server.await.unwrap(), TLS_HANDSHAKE_RECORD);
    assert!(answer.is_err(), "the server never completes the handshake");
}

#[tokio::test]
async fn plain_http_still_works_without_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 4];
        socket.read_exact(&mut first).await.unwrap();
        first
    });
    let client = Client::builder()
        .test_server(format!("http://{addr}"))
        .build()
        .unwrap();
    let _ = client.raw().apps_show("plain-probe").await;
    assert_eq!(&server.await.unwrap(), b"GET ");
}
