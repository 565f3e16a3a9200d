//! Running a plan: creates, moves under the group's strategy, destroys, and rollback.
//!
//! Every change to an existing machine happens under a lease, held until the machine passes
//! its health gate and released on every path (a dropped future drops the guard, which releases
//! it, or at worst it expires within its TTL). Every update carries the version it was planned
//! from (`current_version`), so a concurrent change is a conflict, never overwritten. Creates
//! carry idempotency keys. 429s and transient errors are the SDK's to retry; they never count
//! as a failed deploy.
//!
//! When a gate fails and the strategy rolls back (the default), every machine this run moved
//! goes back to the config it had, under the same gates, and every machine it created is
//! destroyed; the error then names the machine, the gate and what it saw. Progress is kept on
//! the machines (their revision marks), so running the plan again after a crash starts from
//! what is there.

use std::sync::Arc;
use std::time::Duration;

use fly_machines::types::{MachineConfig, UpdateMachineRequest};
use fly_machines::{Client, Clock, MachineSnapshot};
use futures::channel::mpsc::UnboundedSender;
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::desired::{DesiredFleet, Group};
use crate::health::{Condition, ConditionExt, Gate, GateError, at_version, healthy_at, started};
use crate::marks;
use crate::plan::{Plan, Step};
use crate::strategy::{Strategy, StrategyKind};
use crate::surge::Surge;

/// What happened, as it happens: one event per step.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A group's changes began.
    GroupStarted {
        /// The group.
        group: String,
        /// Its strategy, as text.
        strategy: String,
    },
    /// A machine was created.
    Created {
        /// The group.
        group: String,
        /// The new machine.
        machine_id: String,
    },
    /// A machine was updated to the group's config.
    Moved {
        /// The group.
        group: String,
        /// The machine.
        machine_id: String,
        /// The version it now runs.
        version: String,
    },
    /// A machine passed its health gate.
    GatePassed {
        /// The machine.
        machine_id: String,
    },
    /// A machine failed its health gate.
    GateFailed {
        /// What failed.
        error: GateError,
    },
    /// The run is putting moved machines back and removing created ones.
    RollingBack {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
    /// A machine was destroyed.
    Destroyed {
        /// The machine.
        machine_id: String,
    },
    /// Everything in the plan was done.
    Done,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// A machine did not pass its health gate.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// A call failed (after the SDK's own retries).
    #[error("{action} {machine}: {source}")]
    Api {
        /// What was being done (`create`, `update`, `lease`, `destroy`).
        action: &'static str,
        /// The machine (or region, for a create).
        machine: String,
        /// The SDK's error.
        source: fly_machines::Error,
    },
    /// A step did not finish in time.
    #[error("{action} {machine}: not done after {after:?}")]
    TimedOut {
        /// What was being done.
        action: &'static str,
        /// The machine.
        machine: String,
        /// How long it was given.
        after: Duration,
    },
    /// The machine changed since the plan was made (its version or its revision mark).
    #[error("machine {machine} changed since the plan was made ({what}): plan again")]
    Changed {
        /// The machine.
        machine: String,
        /// What changed.
        what: String,
    },
}

/// What became of a rollback.
#[derive(Debug, PartialEq, Eq)]
pub enum Rollback {
    /// The strategy does not roll back: the fleet is left where it stopped.
    Off,
    /// Every machine moved went back, every machine created is gone.
    Done,
    /// Some steps of the rollback failed too: each is named.
    Incomplete(Vec<String>),
}

/// A run that stopped: the group, the cause, and what the rollback did.
#[derive(Debug, thiserror::Error)]
#[error("group `{group}`: {cause} (rollback: {})", match rollback {
    Rollback::Off => "off, the fleet is left where it stopped".to_owned(),
    Rollback::Done => "done, every machine is back".to_owned(),
    Rollback::Incomplete(left) => format!("incomplete: {}", left.join("; ")),
})]
pub struct ApplyError {
    /// The group whose change failed.
    pub group: String,
    /// Why.
    pub cause: Cause,
    /// What the rollback did.
    pub rollback: Rollback,
}

/// A rollback that could not put every machine back: what is left, and what was done.
#[derive(Debug, thiserror::Error)]
#[error("rollback incomplete: {}", left.join("; "))]
pub struct RollbackError {
    /// Each machine not put back, and why.
    pub left: Vec<String>,
    /// The machines that were put back.
    pub report: Report,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Machines created.
    pub created: Vec<String>,
    /// Machines moved to their group's config.
    pub moved: Vec<String>,
    /// Machines destroyed.
    pub destroyed: Vec<String>,
}

/// Runs plans against one client.
#[derive(Clone, Debug)]
pub struct Applier {
    client: Client,
    lease_ttl: Duration,
    poll_interval: Duration,
    progress: Option<UnboundedSender<Progress>>,
}

/// What a new machine made for a move stands in for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StandIn {
    /// A blue-green green: made out of the proxy, uncordoned at the switch.
    Green,
    /// A canary: made serving, and it stays.
    Canary,
    /// A rolling surge's extra machine: made serving, and it stays.
    Surge,
}

impl StandIn {
    /// The word in its create's idempotency key.
    fn word(self) -> &'static str {
        match self {
            StandIn::Green => "green",
            StandIn::Canary => "canary",
            StandIn::Surge => "surge",
        }
    }

    /// The action named when its create fails.
    fn create_action(self) -> &'static str {
        match self {
            StandIn::Green => "create green",
            StandIn::Canary => "create canary",
            StandIn::Surge => "create surge machine",
        }
    }
}

/// What a failing group needs to end its change: where it runs, its strategy (through the
/// group) and the gate machines are put back through.
#[derive(Clone, Copy)]
struct Unwind<'a> {
    app: &'a str,
    group: &'a Group,
    gate: Option<&'a Gate>,
}

/// One machine moved by this run, with what it had before.
struct Moved {
    machine_id: String,
    previous: MachineConfig,
}

impl Applier {
    /// An applier on `client` (its retry policy, rate limits and clock apply to every call).
    pub fn new(client: Client) -> Applier {
        Applier {
            client,
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            progress: None,
        }
    }

    /// Sends every [`Progress`] event to `sender` (the library prints nothing).
    pub fn progress(mut self, sender: UnboundedSender<Progress>) -> Applier {
        self.progress = Some(sender);
        self
    }

    /// How long each lease lasts between refreshes (default 30 s; refreshed at a third).
    pub fn lease_ttl(mut self, ttl: Duration) -> Applier {
        self.lease_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How often a health gate reads its machine (default 1 s).
    pub fn poll_interval(mut self, every: Duration) -> Applier {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }

    fn emit(&self, event: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.unbounded_send(event);
        }
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        self.client.clock()
    }

    /// Runs `plan` (made from `desired`): group by group, creates first, then moves under the
    /// group's strategy, then destroys.
    pub async fn apply(&self, desired: &DesiredFleet, plan: &Plan) -> Result<Report, ApplyError> {
        let mut report = Report::default();
        // A new fleet's app is made first (in the fleet's organization), safely repeated.
        if plan.steps().any(|(_, s)| matches!(s, Step::Create { .. })) {
            self.client
                .apps()
                .ensure(desired.app().to_owned(), desired.org_slug().to_owned())
                .send()
                .await
                .map_err(|source| ApplyError {
                    group: String::new(),
                    cause: Cause::Api {
                        action: "ensure app",
                        machine: desired.app().to_owned(),
                        source,
                    },
                    rollback: Rollback::Off,
                })?;
        }
        for group_plan in &plan.groups {
            let span = tracing::info_span!("fly_deploy.group", group = %group_plan.name);
            match desired.find_group(&group_plan.name) {
                Some(group) => {
                    self.emit(Progress::GroupStarted {
                        group: group.name().to_owned(),
                        strategy: group.strategy().to_string(),
                    });
                    self.apply_group(desired, group, &group_plan.steps, &mut report)
                        .instrument(span)
                        .await?;
                }
                None => {
                    self.destroy_all(
                        desired.app(),
                        &group_plan.name,
                        &group_plan.steps,
                        &mut report,
                    )
                    .instrument(span)
                    .await?;
                }
            }
        }
        self.emit(Progress::Done);
        Ok(report)
    }

    async fn apply_group(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        steps: &[Step],
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        let strategy = *group.strategy();
        let gate = self.gate(&strategy);
        let mut created: Vec<String> = Vec::new();
        let mut moved: Vec<Moved> = Vec::new();
        let unwind = Unwind {
            app: desired.app(),
            group,
            gate: gate.as_ref(),
        };

        // New capacity first. Each create has its own key, so a rerun never makes a second.
        let creates: Vec<&Step> = steps
            .iter()
            .filter(|s| matches!(s, Step::Create { .. }))
            .collect();
        let concurrency = usize::try_from(strategy.concurrency()).unwrap_or(8).max(1);
        let gate_ref = gate.as_ref();
        let results = window(&creates, concurrency, |_, step| {
            self.create_one(desired, group, step, gate_ref).boxed()
        })
        .await;
        let (made, failure) = settle(results, &mut created);
        report.created.extend(made.cloned());
        if let Some(cause) = failure {
            return Err(self.fail(&unwind, cause, &moved, &created).await);
        }

        // Machines an interrupted run left out of the proxy come back before anything goes.
        for step in steps {
            let Step::Uncordon { machine_id, .. } = step else {
                continue;
            };
            let machine = self.client.app(desired.app()).machine(machine_id.clone());
            if let Err(source) = self.again(|| machine.uncordon().send()).await {
                let cause = Cause::Api {
                    action: "uncordon",
                    machine: machine_id.clone(),
                    source,
                };
                return Err(self.fail(&unwind, cause, &moved, &created).await);
            }
        }

        // Then the moves, as many at once as the strategy allows.
        let updates: Vec<&Step> = steps
            .iter()
            .filter(|s| matches!(s, Step::Update { .. }))
            .collect();
        if strategy.kind() == StrategyKind::BlueGreen && !updates.is_empty() {
            return match self
                .blue_green(desired, group, &updates, gate.as_ref(), report)
                .await
            {
                Ok(()) => {
                    self.destroy_all(desired.app(), group.name(), steps, report)
                        .await
                }
                Err((greens, cause, switched)) => {
                    created.extend(greens);
                    if switched {
                        // Past the switch the greens serve: they stay, and the error says
                        // which blue machines are left.
                        Err(ApplyError {
                            group: group.name().to_owned(),
                            cause,
                            rollback: Rollback::Incomplete(vec![
                                "the switch had begun: green machines serve, blue ones may be left cordoned".into(),
                            ]),
                        })
                    } else {
                        Err(self.fail(&unwind, cause, &moved, &created).await)
                    }
                }
            };
        }
        let total = usize::try_from(group.count()).unwrap_or(usize::MAX).max(1);
        let batch = match strategy.kind() {
            StrategyKind::Immediate => concurrency,
            _ => strategy.max_unavailable_amount().of(total).max(1),
        };
        let canaries = match strategy.kind() {
            StrategyKind::Canary => strategy.canary_amount().of(total).max(1).min(updates.len()),
            _ => 0,
        };
        // Canaries without volumes are new machines, so serving never drops below the count;
        // a rolling surge makes new machines too, to move faster at the same floor.
        let surge_amount = match strategy.kind() {
            StrategyKind::Rolling => strategy.max_surge_amount().of(total),
            _ => 0,
        };
        let extra = canaries.max(surge_amount);
        if extra > 0 && group.volume().is_none() && !updates.is_empty() {
            let surge = Surge {
                extra,
                canary: canaries > 0,
                batch,
                updates: &updates,
                surplus: steps
                    .iter()
                    .filter(|s| matches!(s, Step::Destroy { .. }))
                    .count(),
            };
            let outcome = self
                .move_with_surge(
                    desired,
                    group,
                    &surge,
                    gate_ref,
                    &mut created,
                    &mut moved,
                    report,
                )
                .await;
            if let Err(cause) = outcome {
                return Err(self.fail(&unwind, cause, &moved, &created).await);
            }
            return self
                .retire_stood_in(desired, group, &surge, steps, report)
                .await;
        }
        // In place (and canaries on machines with volumes, which cannot be made anew): the
        // canaries move alone first; they stay, serving, and must be healthy before the rest
        // move. Within a stage, at most `width` machines are out of service at once, each
        // one's place taken by the next as soon as it is healthy.
        let (first, rest) = updates.split_at(canaries);
        for (stage, width) in [(first, canaries), (rest, batch)] {
            let results = window(stage, width, |_, step| {
                self.move_one(desired, group, step, gate_ref).boxed()
            })
            .await;
            let (done, failure) = settle(results, &mut moved);
            report
                .moved
                .extend(done.into_iter().map(|m| m.machine_id.clone()));
            if let Some(cause) = failure {
                return Err(self.fail(&unwind, cause, &moved, &created).await);
            }
        }

        // Surplus last, once the rest is healthy.
        self.destroy_all(desired.app(), group.name(), steps, report)
            .await
    }

    /// Extra machines as new ones (canaries, or a rolling surge): each of the first updates
    /// gets a machine made in its region at the new config, serving, gated and held healthy
    /// for `min_healthy_time`; the machine it stands in for keeps serving until the end.
    /// Surplus machines the plan already destroys (what a run cut short left, or a scale-down)
    /// count as extra capacity too: as many fewer are made, and (for canaries) that many move
    /// in place first instead. Then the remaining machines roll in place, as wide as
    /// [`Surge::width`] allows. What is created or moved is pushed on `created` and `moved` for
    /// a rollback to find, even on failure.
    #[allow(clippy::too_many_arguments)]
    async fn move_with_surge(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        surge: &Surge<'_>,
        gate: Option<&Gate>,
        created: &mut Vec<String>,
        moved: &mut Vec<Moved>,
        report: &mut Report,
    ) -> Result<(), Cause> {
        let (stood_in, in_place, rest) = surge.stages();
        let concurrency = usize::try_from(group.strategy().concurrency())
            .unwrap_or(8)
            .max(1);
        let role = if surge.canary {
            StandIn::Canary
        } else {
            StandIn::Surge
        };
        let keys = self
            .stand_in_keys(desired, group, role, stood_in.len())
            .await?;
        let results = window(stood_in, concurrency, |i, step| {
            self.stand_in(desired, group, step, &keys[i], role, gate)
                .boxed()
        })
        .await;
        let (made, failure) = settle(results, created);
        report.created.extend(made.cloned());
        if let Some(cause) = failure {
            return Err(cause);
        }
        for (stage, width) in [(in_place, in_place.len()), (rest, surge.width())] {
            let results = window(stage, width, |_, step| {
                self.move_one(desired, group, step, gate).boxed()
            })
            .await;
            let (done, failure) = settle(results, moved);
            report
                .moved
                .extend(done.into_iter().map(|m| m.machine_id.clone()));
            if let Some(cause) = failure {
                return Err(cause);
            }
        }
        Ok(())
    }

    /// After a move with extra machines: destroys the machines the new ones stood in for, then
    /// the plan's surplus, so the group ends at its count with the new machines in it. Every
    /// machine runs the new config by now, so a failure here is not rolled back: the next plan
    /// destroys what is left over (machines of the old revision go first).
    async fn retire_stood_in(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        surge: &Surge<'_>,
        steps: &[Step],
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        let (stood_in, _, _) = surge.stages();
        if let Err(cause) = self.retire_all(desired, group, stood_in, report).await {
            return Err(ApplyError {
                group: group.name().to_owned(),
                cause,
                rollback: Rollback::Off,
            });
        }
        self.destroy_all(desired.app(), group.name(), steps, report)
            .await
    }

    /// Puts every machine of the fleet that carries a previous revision back on the config it
    /// ran at that revision (found in the machine's version history), one machine at a time,
    /// each under a lease with `current_version` and gated like a move. Machines without a
    /// previous revision, or whose history no longer has it, are left and named in the error.
    pub async fn rollback(&self, desired: &DesiredFleet) -> Result<Report, RollbackError> {
        let mut report = Report::default();
        let seen = crate::observed::observe(&self.client, desired.app())
            .await
            .map_err(|e| RollbackError {
                left: vec![format!("listing the machines of `{}`: {e}", desired.app())],
                report: Report::default(),
            })?;
        let app = self.client.app(desired.app());
        let mut left = Vec::new();
        let mut ours: Vec<_> = seen
            .iter()
            .filter(|m| m.is_owned_by(desired.name()))
            .collect();
        ours.sort_by(|a, b| a.id.cmp(&b.id));
        for machine in ours {
            let Some(previous) = machine.mark(marks::PREVIOUS_REVISION) else {
                continue;
            };
            let group = machine.mark(marks::GROUP).unwrap_or_default().to_owned();
            let gate = desired
                .find_group(&group)
                .and_then(|g| self.gate(g.strategy()));
            let handle = app.machine(machine.id.clone());
            let versions = match handle.versions().send().await {
                Ok(v) => v,
                Err(e) => {
                    left.push(format!("machine {}: {e}", machine.id));
                    continue;
                }
            };
            // The newest version that ran the previous revision (the history is newest first).
            let config = versions.into_iter().find_map(|v| {
                v.user_config.filter(|c| {
                    c.metadata
                        .as_ref()
                        .and_then(|m| m.get(marks::REVISION))
                        .map(String::as_str)
                        == Some(previous)
                })
            });
            let Some(config) = config else {
                left.push(format!(
                    "machine {}: no version at revision {previous} is kept",
                    machine.id
                ));
                continue;
            };
            let moved = Moved {
                machine_id: machine.id.clone(),
                previous: config,
            };
            match self.put_back(&app, &moved, gate.as_ref()).await {
                Ok(()) => report.moved.push(machine.id.clone()),
                Err(e) => left.push(format!("machine {}: {e}", machine.id)),
            }
        }
        if left.is_empty() {
            Ok(report)
        } else {
            Err(RollbackError { left, report })
        }
    }

    /// Blue-green: a green machine for each blue one, created out of the proxy
    /// (`skip_service_registration`) with a key, gated on health; then every green uncordoned
    /// before any blue is cordoned, so serving never drops below the group's count; then each
    /// blue stopped and destroyed under a lease. On failure, the greens made so far and whether
    /// the switch had begun.
    async fn blue_green(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        blues: &[&Step],
        gate: Option<&Gate>,
        report: &mut Report,
    ) -> Result<(), (Vec<String>, Cause, bool)> {
        let app = self.client.app(desired.app());
        let concurrency = usize::try_from(group.strategy().concurrency())
            .unwrap_or(8)
            .max(1);
        let mut greens = Vec::new();
        let keys = self
            .stand_in_keys(desired, group, StandIn::Green, blues.len())
            .await
            .map_err(|cause| (Vec::new(), cause, false))?;
        let results = window(blues, concurrency, |i, step| {
            self.stand_in(desired, group, step, &keys[i], StandIn::Green, gate)
                .boxed()
        })
        .await;
        if let (_, Some(cause)) = settle(results, &mut greens) {
            return Err((greens, cause, false));
        }
        for id in &greens {
            let green = app.machine(id.clone());
            if let Err(source) = self.again(|| green.uncordon().send()).await {
                let cause = Cause::Api {
                    action: "uncordon",
                    machine: id.clone(),
                    source,
                };
                return Err((greens, cause, false));
            }
            report.created.push(id.clone());
        }
        // Every green serves now: the blues go, side by side (each under its own lease).
        if let Err(cause) = self.retire_all(desired, group, blues, report).await {
            return Err((greens, cause, true));
        }
        Ok(())
    }

    /// Retires the old machines of `steps` side by side (each under its own lease), noting
    /// each one destroyed in order up to the first that could not be retired, whose cause is
    /// the answer.
    async fn retire_all(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        steps: &[&Step],
        report: &mut Report,
    ) -> Result<(), Cause> {
        let results = window(steps, steps.len(), |_, step| {
            self.retire(desired, group, step).boxed()
        })
        .await;
        for result in results {
            let id = result?;
            self.emit(Progress::Destroyed {
                machine_id: id.clone(),
            });
            report.destroyed.push(id);
        }
        Ok(())
    }

    /// Takes an old machine (a blue one, or one a canary stood in for) out of the proxy and
    /// destroys it, under a lease.
    async fn retire(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        step: &Step,
    ) -> Result<String, Cause> {
        let Step::Update { machine_id, .. } = step else {
            return Err(Cause::Changed {
                machine: String::new(),
                what: "not an update".into(),
            });
        };
        let api = |action, source| Cause::Api {
            action,
            machine: machine_id.clone(),
            source,
        };
        let lease = self
            .client
            .app(desired.app())
            .machine(machine_id.clone())
            .lease(self.lease_ttl)
            .description(format!(
                "fly-deploy {}/{} retire",
                desired.name(),
                group.name()
            ))
            .send()
            .await
            .map_err(|e| api("lease", e))?;
        let leased = lease.machine();
        let outcome = async {
            self.again(|| leased.cordon().send())
                .await
                .map_err(|e| api("cordon", e))?;
            self.destroy(leased).await
        }
        .await;
        let _ = lease.release().await;
        outcome.map(|()| machine_id.clone())
    }

    /// The keys of `count` new stand-ins of `role`: the fleet, group, revision, role and the
    /// lowest slots no live machine's key holds. A slot, not the old machine's id: a rerun's
    /// plan may keep (and update) an old machine whose stand-in a cut-short run already made
    /// and the plan counts among the kept ones; keyed by that old machine, its stand-in would be
    /// found again instead of made, and the group would end one machine short while the old
    /// ones go. A stand-in made but not listed yet holds the lowest free slot, so its key finds
    /// it again.
    async fn stand_in_keys(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        role: StandIn,
        count: usize,
    ) -> Result<Vec<String>, Cause> {
        let prefix = format!(
            "{}-{}-{}-{}-",
            desired.name(),
            group.name(),
            group.revision(),
            role.word()
        );
        // The planner's own view of what lives in the app (gone machines left out).
        let live = crate::observed::observe(&self.client, desired.app())
            .await
            .map_err(|source| Cause::Api {
                action: "list",
                machine: String::new(),
                source,
            })?;
        let taken: std::collections::BTreeSet<usize> = live
            .iter()
            .filter_map(|m| m.mark(fly_machines::resources::machines::LAUNCH_ID_METADATA_KEY))
            .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
            .collect();
        Ok((0..)
            .filter(|slot| !taken.contains(slot))
            .take(count)
            .map(|slot| format!("{prefix}{slot}"))
            .collect())
    }

    /// One new machine standing in for the old one of `step`, at the group's config, gated on
    /// health: a green (made out of the proxy) or a canary (made serving), under `key`.
    async fn stand_in(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        step: &Step,
        key: &str,
        role: StandIn,
        gate: Option<&Gate>,
    ) -> Result<String, (Option<String>, Cause)> {
        let Step::Update {
            machine_id,
            region,
            from_revision,
            to_revision: _,
            ..
        } = step
        else {
            return Err((
                None,
                Cause::Changed {
                    machine: String::new(),
                    what: "not an update".into(),
                },
            ));
        };
        let key = key.to_owned();
        let app = self.client.app(desired.app());
        let config = group.machine_config(desired.name(), from_revision.as_deref());
        let machines = app.machines();
        let created = self
            .persist(|| {
                let create = machines
                    .create(config.clone())
                    .region(region.clone())
                    .idempotency_key(key.clone());
                match role {
                    StandIn::Green => create.skip_service_registration().send().boxed(),
                    StandIn::Canary | StandIn::Surge => create.send().boxed(),
                }
            })
            .await
            .map_err(|source| {
                (
                    None,
                    Cause::Api {
                        action: role.create_action(),
                        machine: format!("for {machine_id}"),
                        source,
                    },
                )
            })?;
        self.made(group, &created, gate).await
    }

    /// Reports a machine this run made and holds it to the gate, when there is one, at the
    /// version it was made at; answers its id, and with a failed gate the id too, so the
    /// machine is found for the rollback.
    async fn made(
        &self,
        group: &Group,
        created: &MachineSnapshot,
        gate: Option<&Gate>,
    ) -> Result<String, (Option<String>, Cause)> {
        let id = created.id().to_owned();
        self.emit(Progress::Created {
            group: group.name().to_owned(),
            machine_id: id.clone(),
        });
        if let (Some(gate), Some(version)) = (gate, created.version()) {
            self.pass(gate, created.handle(), &healthy_at(version))
                .await
                .map_err(|e| (Some(id.clone()), Cause::Gate(e)))?;
        }
        Ok(id)
    }

    /// The gate for moved and created machines: none for the immediate strategy.
    fn gate(&self, strategy: &Strategy) -> Option<Gate> {
        (strategy.kind() != StrategyKind::Immediate).then(|| {
            let gates = strategy.health_gates();
            Gate {
                min_healthy_time: gates.min_healthy_time,
                deadline: gates.healthy_deadline,
                poll_interval: self.poll_interval,
                not_found_grace: NOT_FOUND_GRACE,
            }
        })
    }

    /// How an update without a health gate is checked to have taken: at once, within the
    /// strategy's `healthy_deadline`.
    fn took_gate(&self, strategy: &Strategy) -> Gate {
        Gate {
            min_healthy_time: Duration::ZERO,
            deadline: strategy.health_gates().healthy_deadline,
            poll_interval: self.poll_interval,
            not_found_grace: NOT_FOUND_GRACE,
        }
    }

    async fn create_one(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        step: &Step,
        gate: Option<&Gate>,
    ) -> Result<String, (Option<String>, Cause)> {
        let Step::Create {
            region,
            revision: _,
            volume,
            slot,
            ..
        } = step
        else {
            return Err((
                None,
                Cause::Changed {
                    machine: String::new(),
                    what: "not a create".into(),
                },
            ));
        };
        let app = self.client.app(desired.app());
        let api = |action: &'static str, source: fly_machines::Error| Cause::Api {
            action,
            machine: format!("in {region}"),
            source,
        };
        let mut config = group.machine_config(desired.name(), None);
        if let Some(volume) = volume {
            let made = app
                .volumes()
                .create(volume.name().to_owned(), region.clone(), volume.size_gb())
                .send()
                .await
                .map_err(|e| (None, api("create volume", e)))?;
            config.mounts = Some(vec![fly_machines::types::MachineMount {
                volume: Some(made.id().to_owned()),
                path: Some(volume.path().to_owned()),
                ..Default::default()
            }]);
        }
        // The key names the fleet, group, revision, region and slot: a rerun of the same plan
        // finds what an earlier run made instead of making it twice.
        let key = crate::plan::create_key(desired.name(), group, region, *slot);
        // Keyed, so sending it again after any failure finds what an earlier attempt made.
        let machines = app.machines();
        let created = self
            .persist(|| {
                machines
                    .create(config.clone())
                    .region(region.clone())
                    .idempotency_key(key.clone())
                    .send()
            })
            .await
            .map_err(|e| (None, api("create", e)))?;
        self.made(group, &created, gate).await
    }

    /// Moves one machine under a lease: reads it, checks it is as planned, updates it with
    /// `current_version`, and holds the lease until it passes its gate.
    async fn move_one(
        &self,
        desired: &DesiredFleet,
        group: &Group,
        step: &Step,
        gate: Option<&Gate>,
    ) -> Result<Moved, (Option<Moved>, Cause)> {
        let Step::Update {
            machine_id,
            version,
            from_revision,
            ..
        } = step
        else {
            return Err((
                None,
                Cause::Changed {
                    machine: String::new(),
                    what: "not an update".into(),
                },
            ));
        };
        let api = |action: &'static str, source: fly_machines::Error| Cause::Api {
            action,
            machine: machine_id.clone(),
            source,
        };
        let handle = self.client.app(desired.app()).machine(machine_id.clone());
        let lease = handle
            .lease(self.lease_ttl)
            .description(format!("fly-deploy {}/{}", desired.name(), group.name()))
            .send()
            .await
            .map_err(|e| (None, api("lease", e)))?;
        let outcome = async {
            let leased = lease.machine();
            let current = self
                .read(leased)
                .await
                .map_err(|e| (None, api("read", e)))?;
            if current.metadata(marks::REVISION) != from_revision.as_deref() {
                return Err((
                    None,
                    Cause::Changed {
                        machine: machine_id.clone(),
                        what: "its revision mark".into(),
                    },
                ));
            }
            let previous = current.config().cloned().unwrap_or_default();
            let current_version = current
                .version()
                .map(str::to_owned)
                .or_else(|| version.clone());
            let mut config = group.machine_config(desired.name(), from_revision.as_deref());
            // The group's config names no volume (each machine's own was made with it): the
            // machine keeps its mount, which an update without one would drop.
            if group.volume().is_some() {
                config.mounts = previous.mounts.clone();
            }
            let new_version = self
                .update_to(leased, config, current_version)
                .await
                .map_err(|e| (None, api("update", e)))?;
            let moved = Moved {
                machine_id: machine_id.clone(),
                previous,
            };
            self.emit(Progress::Moved {
                group: group.name().to_owned(),
                machine_id: machine_id.clone(),
                version: new_version.clone(),
            });
            // Without a health gate (immediate) the update must still have taken: started at
            // the version it answered, so a machine Fly silently put back fails every strategy.
            let checked = match gate {
                Some(gate) => self.pass(gate, leased, &healthy_at(new_version)).await,
                None => {
                    let took = started().and(at_version(new_version));
                    self.pass(&self.took_gate(group.strategy()), leased, &took)
                        .await
                }
            };
            if let Err(e) = checked {
                return Err((Some(moved), Cause::Gate(e)));
            }
            Ok(moved)
        }
        .await;
        // Released on every path; a release that fails leaves the lease to its TTL.
        let _ = lease.release().await;
        outcome
    }

    /// Updates a leased machine to `config` with `current_version`, and answers the version it
    /// then runs. An update is not idempotent, so after a failure that may have reached Fly
    /// (a timeout, a 5xx, a dropped connection) the machine is read: if it already runs
    /// `config`, that was the update; if not, it is sent again with the version now read.
    /// Under the lease nobody else can change the machine meanwhile.
    async fn update_to(
        &self,
        leased: &fly_machines::Machine,
        config: MachineConfig,
        mut current_version: Option<String>,
    ) -> fly_machines::Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = UpdateMachineRequest {
                config: Some(config.clone()),
                current_version: current_version.clone(),
                ..Default::default()
            };
            match leased.update(request).send().await {
                Ok(updated) => return Ok(updated.version().unwrap_or_default().to_owned()),
                Err(e)
                    if attempt < UPDATE_ATTEMPTS && (transient(&e) || e.is_version_conflict()) =>
                {
                    let now = self.read(leased).await?;
                    if runs(&config, now.data()) {
                        return Ok(now.version().unwrap_or_default().to_owned());
                    }
                    if e.is_version_conflict() && current_version.as_deref() == now.version() {
                        // A conflict that no lost update of ours explains.
                        return Err(e);
                    }
                    current_version = now.version().map(str::to_owned);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes a call whose repeat does no harm (a cordon, an uncordon, a destroy) again through
    /// transient failures.
    async fn again<F, Fut>(&self, call: F) -> fly_machines::Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = fly_machines::Result<()>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Err(e) if attempt < UPDATE_ATTEMPTS && transient(&e) => {
                    self.clock().sleep(self.poll_interval).await;
                }
                other => return other,
            }
        }
    }

    /// Makes a keyed create (safe to send again) through rate limiting and transient failures
    /// that outlast the SDK's own retries: a 429 storm slows a deploy down, it never fails it.
    /// Waits grow from the poll interval to 10 s; gives up after [`PERSIST_ATTEMPTS`].
    async fn persist<T, F, Fut>(&self, call: F) -> fly_machines::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = fly_machines::Result<T>>,
    {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match call().await {
                Err(e) if attempt < PERSIST_ATTEMPTS && transient(&e) => {
                    let pause = self
                        .poll_interval
                        .saturating_mul(attempt)
                        .min(Duration::from_secs(10));
                    self.clock().sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    /// Reads a machine, reading again through transient failures (a read is safe to repeat).
    async fn read(
        &self,
        machine: &fly_machines::Machine,
    ) -> fly_machines::Result<fly_machines::MachineSnapshot> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match machine.get().send().await {
                Err(e) if attempt < UPDATE_ATTEMPTS && transient(&e) => {
                    self.clock().sleep(self.poll_interval).await;
                }
                other => return other,
            }
        }
    }

    async fn pass(
        &self,
        gate: &Gate,
        machine: &fly_machines::Machine,
        condition: &dyn Condition,
    ) -> Result<(), GateError> {
        match gate.wait(machine, condition, self.clock()).await {
            Ok(_) => {
                self.emit(Progress::GatePassed {
                    machine_id: machine.id().to_owned(),
                });
                Ok(())
            }
            Err(e) => {
                self.emit(Progress::GateFailed { error: e.clone() });
                Err(e)
            }
        }
    }

    /// Ends a group's change after `cause`: rolls back when the strategy says so.
    async fn fail(
        &self,
        unwind: &Unwind<'_>,
        cause: Cause,
        moved: &[Moved],
        created: &[String],
    ) -> ApplyError {
        let Unwind { app, group, gate } = *unwind;
        if !group.strategy().rolls_back() {
            // The fleet stays where it stopped, but nothing this run made is left behind (a
            // green, a canary, a surge or scale-up machine): what it stood in for still serves.
            let left = self.destroy_made(app, created).await;
            return ApplyError {
                group: group.name().to_owned(),
                cause,
                rollback: if left.is_empty() {
                    Rollback::Off
                } else {
                    Rollback::Incomplete(left)
                },
            };
        }
        self.emit(Progress::RollingBack {
            group: group.name().to_owned(),
            reason: cause.to_string(),
        });
        let app = self.client.app(app);
        let mut left = Vec::new();
        // Newest first, so the machine that failed goes back before the healthy ones.
        for m in moved.iter().rev() {
            if let Err(e) = self.put_back(&app, m, gate).await {
                left.push(format!("machine {} not put back: {e}", m.machine_id));
            }
        }
        left.extend(self.destroy_made(app.name(), created).await);
        ApplyError {
            group: group.name().to_owned(),
            cause,
            rollback: if left.is_empty() {
                Rollback::Done
            } else {
                Rollback::Incomplete(left)
            },
        }
    }

    /// Destroys machines this run made; answers what could not be destroyed, and why.
    async fn destroy_made(&self, app: &str, made: &[String]) -> Vec<String> {
        let app = self.client.app(app);
        let mut left = Vec::new();
        for id in made {
            match self.destroy(&app.machine(id.clone())).await {
                Ok(()) => self.emit(Progress::Destroyed {
                    machine_id: id.clone(),
                }),
                Err(e) => left.push(format!("machine {id} not destroyed: {e}")),
            }
        }
        left
    }

    async fn put_back(
        &self,
        app: &fly_machines::App,
        moved: &Moved,
        gate: Option<&Gate>,
    ) -> Result<(), String> {
        let handle = app.machine(moved.machine_id.clone());
        let lease = handle
            .lease(self.lease_ttl)
            .description("fly-deploy rollback".to_owned())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let outcome = async {
            let leased = lease.machine();
            let current = self.read(leased).await.map_err(|e| e.to_string())?;
            let version = self
                .update_to(
                    leased,
                    moved.previous.clone(),
                    current.version().map(str::to_owned),
                )
                .await
                .map_err(|e| e.to_string())?;
            if let Some(gate) = gate {
                self.pass(gate, leased, &healthy_at(version))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        .await;
        let _ = lease.release().await;
        outcome
    }

    /// Destroys the surplus machines of `steps`, each under a lease (so no other deployer is
    /// in the middle of it), killing it if it still runs. A machine already gone is done.
    async fn destroy_all(
        &self,
        app: &str,
        group: &str,
        steps: &[Step],
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        let app = self.client.app(app);
        for step in steps {
            let Step::Destroy { machine_id, .. } = step else {
                continue;
            };
            let fail = |action, source| ApplyError {
                group: group.to_owned(),
                cause: Cause::Api {
                    action,
                    machine: machine_id.clone(),
                    source,
                },
                rollback: Rollback::Off,
            };
            let handle = app.machine(machine_id.clone());
            let lease = match handle
                .lease(self.lease_ttl)
                .description("fly-deploy destroy".to_owned())
                .send()
                .await
            {
                Ok(lease) => lease,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(fail("lease", e)),
            };
            let outcome = self.destroy(lease.machine()).await;
            // The lease went with the machine; releasing it is a courtesy that may 404.
            let _ = lease.release().await;
            if let Err(cause) = outcome {
                return Err(ApplyError {
                    group: group.to_owned(),
                    cause,
                    rollback: Rollback::Off,
                });
            }
            self.emit(Progress::Destroyed {
                machine_id: machine_id.clone(),
            });
            report.destroyed.push(machine_id.clone());
        }
        Ok(())
    }
}

impl Applier {
    /// Destroys a machine (killing it if it runs) and polls until it is gone, on the client's
    /// clock: no long-poll is held open, so a stalled server costs polls, not a hung call.
    async fn destroy(&self, machine: &fly_machines::Machine) -> Result<(), Cause> {
        let api = |source| Cause::Api {
            action: "destroy",
            machine: machine.id().to_owned(),
            source,
        };
        match self.again(|| machine.delete().force().send()).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(api(e)),
        }
        let clock = self.clock();
        let deadline = clock.now().checked_add(DESTROY_TIMEOUT);
        loop {
            match machine.get().send().await {
                Err(e) if e.is_not_found() => return Ok(()),
                Ok(m) if m.state().is_terminal() => return Ok(()),
                Ok(_) => {}
                Err(e) if deadline.is_some_and(|d| clock.now() >= d) => return Err(api(e)),
                Err(_) => {}
            }
            if deadline.is_some_and(|d| clock.now() >= d) {
                return Err(Cause::TimedOut {
                    action: "destroy",
                    machine: machine.id().to_owned(),
                    after: DESTROY_TIMEOUT,
                });
            }
            clock.sleep(self.poll_interval).await;
        }
    }
}

/// Runs `work` over `items` with at most `width` in flight, each freed place taken by the next
/// item at once. After a failure, items not yet started are skipped, while those in flight
/// finish: their outcome is needed to roll back.
async fn window<'a, I, T, E, F>(items: &'a [I], width: usize, work: F) -> Vec<Result<T, E>>
where
    F: Fn(usize, &'a I) -> futures::future::BoxFuture<'a, Result<T, E>>,
{
    let mut pending = items.iter().enumerate();
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut outcomes = Vec::new();
    let mut stopped = false;
    loop {
        while !stopped && in_flight.len() < width.max(1) {
            match pending.next() {
                Some((i, item)) => in_flight.push(work(i, item)),
                None => break,
            }
        }
        match in_flight.next().await {
            Some(outcome) => {
                stopped |= outcome.is_err();
                outcomes.push(outcome);
            }
            None => return outcomes,
        }
    }
}

/// Sorts a window's outcomes: everything that took effect (whole, or partly before a failure)
/// goes into `all`, for a rollback to find; the first cause of failure is returned, with the
/// items that succeeded whole (the last ones added to `all` in their order).
fn settle<T>(
    outcomes: Vec<Result<T, (Option<T>, Cause)>>,
    all: &mut Vec<T>,
) -> (std::slice::Iter<'_, T>, Option<Cause>) {
    let mut failure = None;
    let mut partial = Vec::new();
    let start = all.len();
    for outcome in outcomes {
        match outcome {
            Ok(item) => all.push(item),
            Err((item, cause)) => {
                partial.extend(item);
                failure.get_or_insert(cause);
            }
        }
    }
    let whole = all.len();
    all.extend(partial);
    (all[start..whole].iter(), failure)
}

/// How many times an update is sent (after checking the last one did not land) or a read is
/// repeated through transient failures.
const UPDATE_ATTEMPTS: u32 = 5;

/// How many times a keyed create is sent through rate limiting and transient failures.
const PERSIST_ATTEMPTS: u32 = 30;

/// Whether an error may be gone if the call is made again (the SDK already retried what it
/// could; these are the ones left after its budget).
fn transient(e: &fly_machines::Error) -> bool {
    e.is_retryable() || e.status() == Some(429) || matches!(e, fly_machines::Error::Transport(_))
}

/// Whether `machine` runs `config`: same revision mark, and every value the config sets.
fn runs(config: &MachineConfig, machine: &fly_machines::types::Machine) -> bool {
    let mark = |c: &MachineConfig| {
        c.metadata
            .as_ref()
            .and_then(|m| m.get(marks::REVISION).cloned())
    };
    let Some(running) = machine.config() else {
        return false;
    };
    mark(config) == mark(running) && crate::diff::config_changes(config, running).is_empty()
}

/// How long a machine just created may answer 404 before a gate takes it for gone.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(15);

/// How long a destroy may take to be seen done.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(120);
