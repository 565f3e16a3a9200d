//! Plan and apply in a loop, as kube-runtime's controller does: level-triggered.
//!
//! Each round observes the app, plans from what it sees, and applies the plan; it never
//! remembers what an earlier round did, so a machine destroyed or changed by hand is put back
//! by the next round, and a round cut short by a crash is finished by the next one. Fly has no
//! watch API, so rounds come on a timer: `interval`, spread by up to a tenth either way so that
//! many reconcilers do not poll in step. A failed round backs off (doubling from
//! `error_backoff` up to `max_backoff`) until one succeeds. Each round takes the fleet's lock
//! ([`FleetLock`]) without waiting: a round that finds it held is skipped, so two reconcilers,
//! or a reconciler and `fly-deploy apply`, never act on a fleet at once.

use std::time::Duration;

use fly_machines::Client;
use futures::Stream;

use crate::apply::{Applier, ApplyError, Report};
use crate::desired::DesiredFleet;
use crate::lock::{FleetLock, LockError};
use crate::observed::observe;
use crate::plan::plan;

/// What one round did.
#[derive(Debug)]
pub enum Outcome {
    /// The app already ran the desired fleet.
    Converged,
    /// The round changed machines.
    Applied(Report),
    /// The round's apply failed (and rolled back as the strategy says).
    Failed(ApplyError),
    /// The round could not observe the app, or lock the fleet for another reason.
    Unavailable(String),
    /// Another deployer held the fleet: the round did nothing.
    Held(String),
}

impl Outcome {
    /// Whether the round ended well (converged, or applied).
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Converged | Outcome::Applied(_))
    }
}

/// Keeps a fleet converged.
#[derive(Clone, Debug)]
pub struct Reconciler {
    client: Client,
    desired: DesiredFleet,
    interval: Duration,
    error_backoff: Duration,
    max_backoff: Duration,
    holder: String,
    applier: Applier,
}

impl Reconciler {
    /// A reconciler for `desired` on `client`: a round every 30 s, backing off from 5 s to
    /// 5 minutes after failures.
    pub fn new(client: Client, desired: DesiredFleet) -> Reconciler {
        Reconciler {
            applier: Applier::new(client.clone()),
            client,
            desired,
            interval: Duration::from_secs(30),
            error_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            holder: format!("fly-deploy reconciler pid {}", std::process::id()),
        }
    }

    /// The time between rounds that end well (at least a second).
    pub fn interval(mut self, every: Duration) -> Reconciler {
        self.interval = every.max(Duration::from_secs(1));
        self
    }

    /// The first pause after a failed round, and the longest (doubling in between).
    pub fn error_backoff(mut self, first: Duration, max: Duration) -> Reconciler {
        self.error_backoff = first.max(Duration::from_millis(100));
        self.max_backoff = max.max(self.error_backoff);
        self
    }

    /// How this reconciler names itself to other deployers that find the fleet locked.
    pub fn holder(mut self, holder: impl Into<String>) -> Reconciler {
        self.holder = holder.into();
        self
    }

    /// The applier rounds use (for its progress events, lease TTL and poll interval).
    pub fn applier(mut self, applier: Applier) -> Reconciler {
        self.applier = applier;
        self
    }

    /// One round: lock, observe, plan, apply, unlock.
    pub async fn reconcile_once(&self) -> Outcome {
        let lock =
            match FleetLock::acquire(&self.client, &self.desired, &self.holder, Duration::ZERO)
                .await
            {
                Ok(lock) => lock,
                Err(e @ LockError::Held { .. }) => return Outcome::Held(e.to_string()),
                Err(e) => return Outcome::Unavailable(e.to_string()),
            };
        let outcome = match observe(&self.client, self.desired.app()).await {
            Err(e) => Outcome::Unavailable(format!("listing the machines: {e}")),
            Ok(seen) => {
                let plan = plan(&self.desired, &seen);
                if plan.is_converged() {
                    Outcome::Converged
                } else {
                    match self.applier.apply(&self.desired, &plan).await {
                        Ok(report) => Outcome::Applied(report),
                        Err(e) => Outcome::Failed(e),
                    }
                }
            }
        };
        // A release that fails leaves the lock to its TTL.
        let _ = lock.release().await;
        outcome
    }

    /// Rounds without end, each outcome as it comes; the pause between rounds runs on the
    /// client's clock. Drop the stream to stop (a round in flight is dropped with it: its
    /// leases are released or expire, and the next run finishes what it left).
    pub fn run(self) -> impl Stream<Item = Outcome> {
        futures::stream::unfold((self, 0u32, 0u64), |(me, failures, round)| async move {
            if round > 0 {
                let pause = me.pause(failures, round);
                me.client.clock().sleep(pause).await;
            }
            let outcome = me.reconcile_once().await;
            let failures = if outcome.is_ok() {
                0
            } else {
                failures.saturating_add(1)
            };
            Some((outcome, (me, failures, round.saturating_add(1))))
        })
    }

    /// The pause before round `round`, after `failures` failed rounds in a row.
    fn pause(&self, failures: u32, round: u64) -> Duration {
        if failures == 0 {
            // Spread by up to a tenth either way, the same for the same fleet and round.
            let spread = self.interval / 10;
            let mix = hash(self.desired.name(), round) % 2001; // 0..=2000
            let offset = spread.mul_f64(mix as f64 / 1000.0); // 0..=2 spreads
            (self.interval.saturating_sub(spread)).saturating_add(offset)
        } else {
            let doubled = self
                .error_backoff
                .checked_mul(1u32 << failures.saturating_sub(1).min(16))
                .unwrap_or(self.max_backoff);
            doubled.min(self.max_backoff)
        }
    }
}

/// FNV-1a of the fleet's name and the round: the jitter of that round.
fn hash(name: &str, round: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(round.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reconciler() -> Reconciler {
        let client = Client::builder()
            .token("t")
            .base_url("http://127.0.0.1:9")
            .build()
            .expect("client");
        Reconciler::new(client, DesiredFleet::new("shop").expect("fleet"))
    }

    #[test]
    fn pauses_spread_within_a_tenth_and_back_off_doubling() {
        let r = reconciler().interval(Duration::from_secs(30));
        for round in 1..200 {
            let p = r.pause(0, round);
            assert!(
                p >= Duration::from_secs(27) && p <= Duration::from_secs(33),
                "{p:?}"
            );
        }
        let r = r.error_backoff(Duration::from_secs(5), Duration::from_secs(60));
        let pauses: Vec<u64> = (1..7).map(|f| r.pause(f, 1).as_secs()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 60, 60]);
        assert_eq!(r.pause(u32::MAX, 1), Duration::from_secs(60));
    }
}
