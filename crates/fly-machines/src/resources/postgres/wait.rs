//! Waiting for a new cluster to be ready. Provisioning takes minutes, so the cluster is polled
//! with a pause that grows to half a minute, well inside Fly's rate limit.

use std::time::Duration;

use super::{Cluster, ClusterStatus};
use std::ops::ControlFlow;

use crate::poll::{Acceptor, PollError, Poller};
use crate::{Error, Result, types};

/// Why a cluster did not become ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterWaitError {
    /// The deadline passed first.
    #[error(
        "postgres cluster {cluster_id}: not ready after {waited:?} (last status: {last_status})"
    )]
    Timeout {
        /// The cluster.
        cluster_id: String,
        /// How long we waited.
        waited: Duration,
        /// The last status seen, or `unknown`.
        last_status: String,
    },
    /// The cluster reached a status it does not come back from (`failed`, `deleting`,
    /// `deleted`).
    #[error("postgres cluster {cluster_id} is {status}; it will not become ready")]
    Failed {
        /// The cluster.
        cluster_id: String,
        /// The status it reached.
        status: ClusterStatus,
    },
    /// The cluster no longer exists (404).
    #[error("postgres cluster {cluster_id} vanished while waiting for it to be ready")]
    Vanished {
        /// The cluster.
        cluster_id: String,
    },
}

/// The first pause between two polls of [`Cluster::wait_ready`] unless set.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The longest pause, as a multiple of the first (2 s grows to 30 s).
const MAX_POLL_INTERVAL_FACTOR: u32 = 15;

impl ClusterWaitError {
    /// Whether the wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClusterWaitError::Timeout { .. })
    }
}

#[bon::bon]
impl Cluster {
    /// Polls the cluster until it is `ready` and returns it; fails at once when it becomes
    /// `failed` (or is being deleted) or vanishes, and with a timeout error when `timeout`
    /// passes first. Failed polls that may succeed later (5xx, 429, transport) are polled again:
    /// `cluster.wait_ready(d).await`, or `cluster.wait_ready(d).poll_interval(d2).await`.
    pub fn wait_ready(&self, timeout: Duration) -> ClusterWaitReadyBuilder {
        self.clone().wait_ready_builder(timeout)
    }

    #[builder(
        builder_type(name = ClusterWaitReadyBuilder, vis = "pub"),
        start_fn(name = wait_ready_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_wait_ready(
        self,
        #[builder(start_fn)] timeout: Duration,
        /// The first pause between two polls (default 2 s, as provisioning takes minutes); it
        /// doubles up to 15 times itself (default 30 s). A short one suits an emulator whose
        /// Postgres steps are short.
        poll_interval: Option<Duration>,
    ) -> Result<types::PostgresCluster> {
        self.check()?;
        let first = poll_interval
            .unwrap_or(DEFAULT_POLL_INTERVAL)
            .max(Duration::from_millis(1));
        let poller = Poller::new(
            self.client.clock().clone(),
            first,
            first.saturating_mul(MAX_POLL_INTERVAL_FACTOR),
        )
        .timeout(timeout);
        let mut last_status = String::from("unknown");
        let mut polling = poller.start();
        let polled = loop {
            let answer = match self.get().await {
                Ok(cluster) => {
                    let status = cluster.status();
                    if status == ClusterStatus::Ready {
                        Acceptor::Done(cluster)
                    } else if status.is_dead_end() {
                        Acceptor::Fail(Error::from(ClusterWaitError::Failed {
                            cluster_id: self.id.to_string(),
                            status,
                        }))
                    } else {
                        if !status.as_str().is_empty() {
                            last_status = status.as_str().to_owned();
                        }
                        Acceptor::Retry
                    }
                }
                Err(e) if e.is_not_found() => {
                    Acceptor::Fail(Error::from(ClusterWaitError::Vanished {
                        cluster_id: self.id.to_string(),
                    }))
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(cluster_id = %self.id, error = %e, "cluster poll failed; polling again");
                    Acceptor::Retry
                }
                Err(e) => Acceptor::Fail(e),
            };
            if let ControlFlow::Break(outcome) = polling.next(answer).await {
                break outcome;
            }
        };
        polled.map_err(|e| match e {
            PollError::Failed(e) => e,
            PollError::TimedOut { waited, .. } => Error::from(ClusterWaitError::Timeout {
                cluster_id: self.id.to_string(),
                waited,
                last_status,
            }),
        })
    }
}
