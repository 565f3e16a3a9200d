//! Health gates: when a moved machine counts as healthy, as composable conditions.
//!
//! As in kube-runtime's wait conditions, a gate is a value built from small predicates joined
//! with [`ConditionExt::and`]: `started().and(at_version(v)).and(checks_passing())`. Each one
//! reads one observation of the machine and answers [`Verdict::Healthy`], [`Verdict::Waiting`]
//! or [`Verdict::Failed`]; a failure ends the gate at once instead of at its deadline (a
//! machine that crashed, was put back on its old version, or is gone will not get better by
//! waiting). [`Gate`] polls the machine until the condition has held for `min_healthy_time`,
//! or fails, or its deadline passes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fly_machines::types::Machine;
use fly_machines::{Clock, EventKind, MachineState};

/// One look at a machine.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// The machine as last fetched.
    pub machine: &'a Machine,
    /// Events at or before this time (Unix milliseconds, the server's clock) are history; the
    /// machine's latest launch or update event is history's end when it is later.
    pub since_ms: i64,
}

/// What a condition makes of one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The condition holds.
    Healthy,
    /// Not yet; says what it waits for.
    Waiting(String),
    /// It will not hold; says what was seen.
    Failed(String),
}

/// A predicate on one observation of a machine.
pub trait Condition: Send + Sync {
    /// The verdict on this observation.
    fn check(&self, seen: &Observation<'_>) -> Verdict;
    /// What the condition asks for, for messages (`started`, `checks passing`...).
    fn describe(&self) -> String;
}

/// Joins conditions.
pub trait ConditionExt: Condition + Sized {
    /// Both: failed when either fails, waiting while either waits.
    fn and<B: Condition>(self, other: B) -> And<Self, B> {
        And(self, other)
    }
}

impl<C: Condition> ConditionExt for C {}

/// Two conditions that must both hold ([`ConditionExt::and`]).
#[derive(Clone, Debug)]
pub struct And<A, B>(A, B);

impl<A: Condition, B: Condition> Condition for And<A, B> {
    fn check(&self, seen: &Observation<'_>) -> Verdict {
        match (self.0.check(seen), self.1.check(seen)) {
            (Verdict::Failed(why), _) | (_, Verdict::Failed(why)) => Verdict::Failed(why),
            (Verdict::Waiting(why), _) | (_, Verdict::Waiting(why)) => Verdict::Waiting(why),
            (Verdict::Healthy, Verdict::Healthy) => Verdict::Healthy,
        }
    }

    fn describe(&self) -> String {
        format!("{} and {}", self.0.describe(), self.1.describe())
    }
}

/// The machine runs: `started`. A machine that `failed`, is being destroyed or is gone fails
/// the gate; `restarting` (a crash being recovered) fails it too.
#[must_use]
pub fn started() -> Started {
    Started
}

/// See [`started`].
#[derive(Clone, Copy, Debug)]
pub struct Started;

impl Condition for Started {
    fn check(&self, seen: &Observation<'_>) -> Verdict {
        let state = seen.machine.state();
        match state {
            MachineState::Started => Verdict::Healthy,
            MachineState::Failed
            | MachineState::Restarting
            | MachineState::Destroying
            | MachineState::Destroyed
            | MachineState::Replaced
            | MachineState::Migrated
            | MachineState::Stopped
            | MachineState::Stopping
            | MachineState::Suspended
            | MachineState::LaunchFailed => Verdict::Failed(format!("state `{state}`")),
            _ => Verdict::Waiting(format!("state `{state}`")),
        }
    }

    fn describe(&self) -> String {
        "started".to_owned()
    }
}

/// The machine runs `version`, the one the update answered. Any other version means Fly put
/// the machine back (a failed image pull, say) or someone else changed it: the gate fails, so
/// a silent revert is never counted as a success.
#[must_use]
pub fn at_version(version: impl Into<String>) -> AtVersion {
    AtVersion(version.into())
}

/// See [`at_version`].
#[derive(Clone, Debug)]
pub struct AtVersion(String);

impl Condition for AtVersion {
    fn check(&self, seen: &Observation<'_>) -> Verdict {
        match seen.machine.version() {
            Some(v) if v == self.0 => Verdict::Healthy,
            Some(v) => Verdict::Failed(format!(
                "version `{v}`, not `{}`: the machine was put back or changed by someone else",
                self.0
            )),
            None => Verdict::Waiting("no version yet".to_owned()),
        }
    }

    fn describe(&self) -> String {
        format!("at version `{}`", self.0)
    }
}

/// Every check the machine reports passes. A machine that reports none passes (its gate is
/// then started and stable for `min_healthy_time`).
#[must_use]
pub fn checks_passing() -> ChecksPassing {
    ChecksPassing
}

/// See [`checks_passing`].
#[derive(Clone, Copy, Debug)]
pub struct ChecksPassing;

impl Condition for ChecksPassing {
    fn check(&self, seen: &Observation<'_>) -> Verdict {
        let failing: Vec<String> = seen
            .machine
            .checks()
            .iter()
            .filter(|c| !c.is_passing())
            .map(|c| format!("`{}` {}", c.name(), c.state()))
            .collect();
        if failing.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Waiting(format!("checks {}", failing.join(", ")))
        }
    }

    fn describe(&self) -> String {
        "checks passing".to_owned()
    }
}

/// No `exit` event since the machine's latest launch or update: its main process has not
/// ended (or crashed and been restarted, which a poll could miss in the state alone).
#[must_use]
pub fn not_crashing() -> NotCrashing {
    NotCrashing
}

/// See [`not_crashing`].
#[derive(Clone, Copy, Debug)]
pub struct NotCrashing;

impl Condition for NotCrashing {
    fn check(&self, seen: &Observation<'_>) -> Verdict {
        // The latest launch or update starts the run being judged; exits before it belong to
        // an earlier run. Both times are the server's, so no clock is compared with another.
        let events = seen.machine.events();
        let run_began = events
            .iter()
            .filter(|e| matches!(e.kind(), EventKind::Launch | EventKind::Update))
            .filter_map(|e| e.timestamp)
            .max()
            .unwrap_or(i64::MIN)
            .max(seen.since_ms);
        let exits = events
            .iter()
            .filter(|e| e.kind() == EventKind::Exit)
            .filter(|e| e.timestamp.is_some_and(|t| t > run_began))
            .count();
        if exits == 0 {
            Verdict::Healthy
        } else {
            Verdict::Failed(format!("{exits} exit(s) since the gate began (a crash)"))
        }
    }

    fn describe(&self) -> String {
        "not crashing".to_owned()
    }
}

/// The default gate for a machine just moved to `version`: started, at that version, not
/// crashing, every check passing.
#[must_use]
pub fn healthy_at(version: impl Into<String>) -> impl Condition + Clone {
    started()
        .and(at_version(version))
        .and(not_crashing())
        .and(checks_passing())
}

/// A gate that did not pass: the machine, what the gate asked, what it saw, and whether it
/// failed or ran out of time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("machine {machine_id}: gate `{gate}` {}: {saw}", if *.timed_out { "timed out" } else { "failed" })]
pub struct GateError {
    /// The machine.
    pub machine_id: String,
    /// What the gate asked for.
    pub gate: String,
    /// What it saw last.
    pub saw: String,
    /// Whether the deadline passed (else the condition failed).
    pub timed_out: bool,
}

/// Polls a machine until a condition has held for `min_healthy_time`.
#[derive(Clone, Debug)]
pub struct Gate {
    /// How long the condition must hold without a break.
    pub min_healthy_time: Duration,
    /// How long the whole gate may take.
    pub deadline: Duration,
    /// How often the machine is fetched (Fly allows 5 reads a second per machine).
    pub poll_interval: Duration,
    /// How long a 404 counts as "not visible yet" rather than "gone": a machine just created
    /// can take a moment to appear.
    pub not_found_grace: Duration,
}

impl Gate {
    /// Polls `machine` through `clock` until `condition` holds for `min_healthy_time`.
    /// Transient errors of the reads are retried by the SDK and, past that, polled through;
    /// a 404 past `not_found_grace` fails the gate (the machine is gone).
    pub async fn wait(
        &self,
        machine: &fly_machines::Machine,
        condition: &dyn Condition,
        clock: &Arc<dyn Clock>,
    ) -> Result<Machine, GateError> {
        let start = clock.now();
        let deadline = start.checked_add(self.deadline);
        let since_ms = i64::MIN;
        let fail = |saw: String, timed_out: bool| GateError {
            machine_id: machine.id().to_owned(),
            gate: condition.describe(),
            saw,
            timed_out,
        };
        let mut healthy_since: Option<Instant> = None;
        loop {
            let saw;
            match machine.get().await {
                Ok(snapshot) => {
                    let data = snapshot.data();
                    match condition.check(&Observation {
                        machine: data,
                        since_ms,
                    }) {
                        Verdict::Healthy => {
                            let since = *healthy_since.get_or_insert_with(|| clock.now());
                            if clock.now().saturating_duration_since(since) >= self.min_healthy_time
                            {
                                return Ok(data.clone());
                            }
                            saw = "healthy, not yet for long enough".to_owned();
                        }
                        Verdict::Waiting(why) => {
                            healthy_since = None;
                            saw = why;
                        }
                        Verdict::Failed(why) => return Err(fail(why, false)),
                    }
                }
                Err(e)
                    if e.is_not_found()
                        && clock.now().saturating_duration_since(start) >= self.not_found_grace =>
                {
                    return Err(fail("the machine is gone (404)".into(), false));
                }
                Err(e) => {
                    healthy_since = None;
                    saw = format!("could not read the machine: {e}");
                }
            }
            let now = clock.now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(fail(saw, true));
            }
            let left = deadline.map_or(self.poll_interval, |d| d.saturating_duration_since(now));
            clock.sleep(self.poll_interval.min(left)).await;
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Healthy => f.write_str("healthy"),
            Verdict::Waiting(why) => write!(f, "waiting: {why}"),
            Verdict::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}
