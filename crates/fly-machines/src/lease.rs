//! Machine leases: exclusive, expiring locks on a machine's mutations.
//!
//! [`Machine::lease`] takes a lease and returns a [`LeaseGuard`]. Mutations through
//! [`LeaseGuard::machine`] carry the `fly-machine-lease-nonce` header; a background task refreshes
//! the lease at a third of its TTL; [`LeaseGuard::release`] gives it back (and a dropped guard
//! tries to). Only a conflict (someone else holds it) is retried while acquiring.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::resources::machines::Machine;
use crate::{Result, types};

pub use crate::resources::machines::lease::MachineLeaseBuilder;

/// A held lease. Release it with [`release`](Self::release); dropping it releases best effort.
/// Its `Debug` output leaves the nonce out.
pub struct LeaseGuard {
    machine: Machine,
    nonce: String,
    lease: types::Lease,
    refresher: Option<Refresher>,
    lost: Arc<AtomicBool>,
    released: bool,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lease = types::Lease {
            nonce: self.lease.nonce.as_ref().map(|_| "<redacted>".into()),
            ..self.lease.clone()
        };
        f.debug_struct("LeaseGuard")
            .field("machine", &self.machine)
            .field("nonce", &"<redacted>")
            .field("lease", &lease)
            .field("lost", &self.is_lost())
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

/// The background refresh of a lease, and the signal that stops it between refreshes.
///
/// It is stopped, never aborted: a refresh aborted in flight may still reach Fly after the
/// release, and a refresh that finds no lease takes a new one, which nobody would then release.
/// A stopped refresher finishes the refresh in flight (releasing a new lease it took) first.
struct Refresher {
    task: JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
}

impl Refresher {
    /// Asks the refresher to stop and waits until it has.
    async fn stop(&mut self) {
        self.stop.notify_one();
        let _ = (&mut self.task).await;
    }
}

/// Refreshes the lease at a third of its TTL. Refreshes skip the client-side limiter: waiting
/// behind other callers' acquire attempts on the same machine could let the lease expire.
fn spawn_refresher(
    machine: Machine,
    nonce: String,
    ttl_secs: u64,
    lost: Arc<AtomicBool>,
) -> Refresher {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let every = Duration::from_secs(ttl_secs)
        .div_f64(3.0)
        .max(Duration::from_millis(500));
    let clock = machine.app.client.clock().clone();
    let task = tokio::spawn(async move {
        let body = types::CreateLeaseRequest {
            description: None,
            ttl: i64::try_from(ttl_secs).ok(),
        };
        loop {
            tokio::select! {
                biased;
                _ = stopped.notified() => return,
                _ = clock.sleep(every) => {}
            }
            match machine.lease_call(Some(&nonce), &body, true).await {
                Ok(envelope) => {
                    let granted = envelope.data.and_then(|lease| lease.nonce);
                    match granted {
                        Some(other) if other != nonce => {
                            // Ours expired and the refresh took a brand-new lease: give that one
                            // back at once so it blocks no one, and report ours as lost.
                            lost.store(true, Ordering::SeqCst);
                            tracing::warn!(machine_id = %machine.id, "lease expired before it was refreshed; it is lost");
                            if let Err(e) = machine.release_lease(&other).await {
                                tracing::warn!(machine_id = %machine.id, error = %e, "could not release the lease a late refresh took");
                            }
                            return;
                        }
                        _ => tracing::trace!(machine_id = %machine.id, "lease refreshed"),
                    }
                }
                Err(e) if e.is_not_found() || e.is_conflict() => {
                    lost.store(true, Ordering::SeqCst);
                    tracing::warn!(machine_id = %machine.id, error = %e, "lease lost; no longer refreshing");
                    return;
                }
                Err(e) => {
                    tracing::warn!(machine_id = %machine.id, error = %e, "lease refresh failed; will try again")
                }
            }
        }
    });
    Refresher { task, stop }
}

impl LeaseGuard {
    /// The guard of a lease just taken, refreshed in the background every third of
    /// `refresh_ttl_secs` when that is given.
    pub(crate) fn hold(
        machine: Machine,
        nonce: String,
        lease: types::Lease,
        refresh_ttl_secs: Option<u64>,
    ) -> LeaseGuard {
        let lost = Arc::new(AtomicBool::new(false));
        let refresher = refresh_ttl_secs.map(|ttl_secs| {
            spawn_refresher(machine.clone(), nonce.clone(), ttl_secs, lost.clone())
        });
        LeaseGuard {
            machine,
            nonce,
            lease,
            refresher,
            lost,
            released: false,
        }
    }

    /// The machine handle whose mutations carry this lease's nonce.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The lease nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether the background refresh found the lease gone (expired, or taken by someone
    /// else). Mutations through [`machine`](Self::machine) will then fail with a lease conflict.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The lease as granted (owner, expiry in Unix seconds, version).
    pub fn lease(&self) -> &types::Lease {
        &self.lease
    }

    /// Stops refreshing and releases the lease. A lease that already expired is not an error.
    ///
    /// The guard counts as released only once the DELETE has been answered: a `release()` that
    /// is dropped before then (a caller's timeout while the limiter holds it) leaves the guard to
    /// release on drop, as if `release()` had never been called. A release that fails is tried
    /// once more, best effort, the same way.
    pub async fn release(mut self) -> Result<()> {
        // The refresh in flight, if any, lands before the DELETE, never after it.
        if let Some(refresher) = &mut self.refresher {
            refresher.stop().await;
        }
        self.refresher = None;
        let released = self.machine.release_lease(&self.nonce).await;
        self.released = released.is_ok();
        released
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let refresher = self.refresher.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to finish on: stop refreshing at once; the TTL frees the lease.
            if let Some(refresher) = refresher {
                refresher.task.abort();
            }
            return;
        };
        if self.released {
            if let Some(refresher) = refresher {
                refresher.stop.notify_one();
            }
            return;
        }
        // Best effort, from the runtime: let the refresh in flight land, then release.
        let machine = self.machine.clone();
        let nonce = std::mem::take(&mut self.nonce);
        runtime.spawn(async move {
            if let Some(mut refresher) = refresher {
                refresher.stop().await;
            }
            if let Err(e) = machine.release_lease(&nonce).await {
                tracing::debug!(machine_id = %machine.id, error = %e, "releasing a dropped lease failed");
            }
        });
    }
}
