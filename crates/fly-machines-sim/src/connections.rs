//! Connections: the accept loop and the HTTP/1 connection each client gets, with the limits
//! that keep a misbehaving client from holding the server: a cap on open connections, a
//! timeout on the head of each request (which is also the idle timeout of a kept-alive
//! connection), and accept errors that back off instead of spinning.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::wire_errors::FlyShapedErrors;

/// Marker placed on a response whose connection must be dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedByFault {}

/// The connection limits of one emulator (see the `SimBuilder` methods of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// Most connections open at once; further clients wait in the listen backlog.
    pub(crate) max_connections: usize,
    /// How long a connection may take to send a request head, counted from when it starts
    /// waiting for one: a slow head and an idle kept-alive connection are both closed.
    pub(crate) header_read_timeout: Duration,
    /// How long a request body may take to arrive (checked by the pipeline).
    pub(crate) body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            // Well under the usual 1,024 file descriptors.
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Pauses after failed accepts (for example when file descriptors run out), doubling up to
/// a second, and logs the first failure of a run and then only every power of two.
#[derive(Debug)]
struct AcceptBackoff {
    failures: u64,
    delay: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> AcceptBackoff {
        AcceptBackoff {
            failures: 0,
            delay: Self::FIRST,
        }
    }

    /// Records a failure and returns how long to pause.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if self.failures.is_power_of_two() {
            tracing::warn!(%error, failures = self.failures, "accept failed; backing off");
        }
        let pause = self.delay;
        self.delay = self.delay.saturating_mul(2).min(Self::MAX);
        pause
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting again");
        }
        self.failures = 0;
        self.delay = Self::FIRST;
    }
}

/// One permit per open connection, and a count of the connections being served.
#[derive(Debug)]
pub(crate) struct ConnectionSlots {
    free: Arc<Semaphore>,
    open: AtomicUsize,
}

impl ConnectionSlots {
    pub(crate) fn new(max: usize) -> ConnectionSlots {
        ConnectionSlots {
            free: Arc::new(Semaphore::new(max.max(1))),
            open: AtomicUsize::new(0),
        }
    }

    /// How many connections are open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// A served connection's hold on its slot; released when the connection ends.
struct Occupied {
    slots: Arc<ConnectionSlots>,
    _permit: OwnedSemaphorePermit,
}

impl Occupied {
    fn new(slots: Arc<ConnectionSlots>, permit: OwnedSemaphorePermit) -> Occupied {
        slots.open.fetch_add(1, Ordering::SeqCst);
        Occupied {
            slots,
            _permit: permit,
        }
    }
}

impl Drop for Occupied {
    fn drop(&mut self) {
        self.slots.open.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    slots: Arc<ConnectionSlots>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut backoff = AcceptBackoff::new();
    loop {
        // A slot first: at the cap, clients wait in the backlog instead of costing a descriptor.
        let slot = tokio::select! {
            slot = slots.free.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => {
                        backoff.succeeded();
                        stream
                    }
                    Err(e) => {
                        let pause = backoff.failed(&e);
                        drop(slot);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => break,
                        }
                        continue;
                    }
                };
                let occupied = Occupied::new(slots.clone(), slot);
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let resp = tower::ServiceExt::oneshot(router, req.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if resp.extensions().get::<DropConnection>().is_some() {
                            Err(DroppedByFault)
                        } else {
                            Ok(resp)
                        }
                    }
                });
                let io = TokioIo::new(FlyShapedErrors::new(stream));
                let conn = graceful.watch(http.serve_connection(io, service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(occupied);
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_doubling_to_a_second_and_reset() {
        let mut backoff = AcceptBackoff::new();
        let error = std::io::Error::other("too many open files");
        let pauses: Vec<u128> = (0..10)
            .map(|_| backoff.failed(&error).as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(&error), Duration::from_millis(10));
    }
}
