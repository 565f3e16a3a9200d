//! One deployer per fleet at a time, across processes, with nothing but Fly's own API.
//!
//! The lock is a lease on the fleet's *anchor*: a machine created once per fleet and never
//! started (`skip_launch`), marked [`marks::LOCK`], that the planner never counts or touches.
//! Why a lease and not Redis: every deployer already talks to Fly and nothing else, so the lock
//! needs no other service; a lease expires by itself when its holder dies (its TTL, refreshed
//! while held), so a crashed deployer never blocks the next one for long; and Fly keeps it
//! consistent for every client, flyctl included. Why an anchor and not a fleet machine: a new
//! fleet has none yet, and the anchor is never updated or destroyed by a rollout, so holding
//! its lease never gets in the way of the rollout's own leases. Two first runs make one anchor:
//! its create carries an idempotency key.

use std::time::Duration;

use fly_machines::{Client, LeaseGuard};

use crate::desired::DesiredFleet;
use crate::marks;

/// Why the fleet could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another deployer holds the fleet.
    #[error("another deployer holds fleet `{fleet}`{}", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Held {
        /// The fleet.
        fleet: String,
        /// The holder's lease description, when Fly shows it.
        holder: Option<String>,
    },
    /// A call failed.
    #[error("locking fleet `{fleet}`: {source}")]
    Api {
        /// The fleet.
        fleet: String,
        /// The SDK's error.
        source: fly_machines::Error,
    },
}

/// The fleet's lock, held until [`FleetLock::release`] (or dropped: the lease is released in
/// the background, or expires within its TTL).
#[derive(Debug)]
pub struct FleetLock {
    guard: LeaseGuard,
}

impl FleetLock {
    /// Locks `desired`'s fleet, waiting up to `wait` while another deployer holds it.
    /// `holder` is shown to that other deployer (who, where, what).
    pub async fn acquire(
        client: &Client,
        desired: &DesiredFleet,
        holder: &str,
        wait: Duration,
    ) -> Result<FleetLock, LockError> {
        let fleet = desired.name().to_owned();
        let api = |source| LockError::Api {
            fleet: fleet.clone(),
            source,
        };
        let app = client.app(desired.app());
        let anchor = match find_anchor(client, desired).await.map_err(api)? {
            Some(id) => app.machine(id),
            None => {
                let mut config = fly_machines::types::MachineConfig {
                    image: desired
                        .groups()
                        .first()
                        .and_then(|g| g.config().image.clone()),
                    ..Default::default()
                };
                config
                    .metadata
                    .get_or_insert_with(Default::default)
                    .insert(marks::LOCK.to_owned(), fleet.clone());
                let made = app
                    .machines()
                    .create(config)
                    .skip_launch()
                    .idempotency_key(format!("{fleet}-lock"))
                    .send()
                    .await
                    .map_err(api)?;
                made.into_handle()
            }
        };
        match anchor
            .lease(Duration::from_secs(30))
            .description(holder.to_owned())
            .acquire_timeout(wait)
            .send()
            .await
        {
            Ok(guard) => Ok(FleetLock { guard }),
            Err(e) if e.is_conflict() || e.is_lease_conflict() => {
                let holder = anchor
                    .current_lease()
                    .await
                    .ok()
                    .flatten()
                    .and_then(|l| l.description);
                Err(LockError::Held { fleet, holder })
            }
            Err(e) => Err(api(e)),
        }
    }

    /// Releases the lock.
    pub async fn release(self) -> fly_machines::Result<()> {
        self.guard.release().await
    }
}

/// The anchor of `desired`'s fleet, if it has one.
async fn find_anchor(
    client: &Client,
    desired: &DesiredFleet,
) -> fly_machines::Result<Option<String>> {
    let machines = match client
        .app(desired.app())
        .machines()
        .list()
        .metadata(marks::LOCK, desired.name())
        .await
    {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(machines
        .iter()
        .filter(|m| !m.state().is_terminal() && m.metadata(marks::LOCK) == Some(desired.name()))
        .map(|m| m.id().to_owned())
        .min())
}
