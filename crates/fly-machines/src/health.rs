//! Waiting for a machine to be healthy: started, at the version that counts, and passing every
//! health check its config declares.

use crate::wait::WaitError;
use crate::{Error, EventKind, MachineState, types};

pub use crate::resources::machines::health::MachineWaitHealthyBuilder;

/// How many exits of the current version since it was launched make a crash loop.
pub const CRASH_LOOP_EXITS: usize = 2;

/// How many health checks `config` declares: its own `checks` and each service's.
pub fn declared_checks(config: &types::MachineConfig) -> usize {
    let own = config.checks.as_ref().map_or(0, |c| c.len());
    let services: usize = config
        .services
        .iter()
        .flatten()
        .map(|s| s.checks.as_ref().map_or(0, Vec::len))
        .sum();
    own.saturating_add(services)
}

/// How many times the current version's main process has exited since it was launched or
/// updated, from the machine's recent events.
pub fn exits_since_launch(machine: &types::Machine) -> usize {
    let mut events: Vec<&types::MachineEvent> = machine.events().iter().collect();
    // Newest first, whatever order the server sent.
    events.sort_by_key(|e| std::cmp::Reverse(e.timestamp.unwrap_or(i64::MIN)));
    events
        .iter()
        .take_while(|e| !matches!(e.kind(), EventKind::Launch | EventKind::Update))
        .filter(|e| e.kind() == EventKind::Exit)
        .count()
}

/// What a look at the machine says about its health.
pub(crate) enum Verdict {
    Healthy,
    /// Not yet; the words say why (for the timeout error).
    NotYet(String),
    Failed(Error),
}

pub(crate) fn judge(machine: &types::Machine, version: Option<&str>) -> Verdict {
    let id = machine.id().to_string();
    if let Some(wanted) = version
        && machine.version() != Some(wanted)
    {
        return Verdict::NotYet(format!(
            "at version {}, not {wanted}",
            machine.version().unwrap_or("unknown")
        ));
    }
    let state = machine.state();
    if state == MachineState::Failed {
        return Verdict::Failed(Error::from(WaitError::MachineFailed {
            machine_id: id,
            wanted: "healthy".into(),
        }));
    }
    let exits = exits_since_launch(machine);
    if exits >= CRASH_LOOP_EXITS {
        return Verdict::Failed(Error::from(WaitError::CrashLoop {
            machine_id: id,
            exits,
        }));
    }
    if state != MachineState::Started {
        return Verdict::NotYet(state.as_str().to_string());
    }
    let declared = machine.config().map_or(0, declared_checks);
    let checks = machine.checks();
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.is_passing())
        .map(|c| c.name())
        .collect();
    if checks.len() < declared {
        return Verdict::NotYet(format!(
            "started, {} of {declared} checks reported",
            checks.len()
        ));
    }
    if !failing.is_empty() {
        return Verdict::NotYet(format!(
            "started, checks not passing: {}",
            failing.join(", ")
        ));
    }
    Verdict::Healthy
}
