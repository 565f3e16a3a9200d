//! Waiting for a machine to reach a state, for as long as you like.
//!
//! Fly's `/wait` holds a request for at most 60 s. [`Machine::wait_for`] loops it until an overall
//! deadline, asks for `failed` too so a crashed machine ends the wait at once, tolerates the brief
//! 404 after a create, and treats 404 as reached when waiting for `destroyed`.

use std::fmt;
use std::time::Duration;

use crate::resources::machine_snapshot::MachineSnapshot;
use crate::resources::machines::Machine;
use crate::{Error, MachineState, Result};

pub use crate::resources::machines::wait::{
    MachineDestroyAndWaitBuilder, MachineStartAndWaitBuilder, MachineStopAndWaitBuilder,
    MachineWaitForBuilder, MachineWaitOnceBuilder, MachineWaitStartedBuilder,
    MachineWaitStoppedBuilder, MachinesWaitAllBuilder,
};

/// A state to wait for. `Settled` means any resting state (`created`, `started`, `stopped`,
/// `suspended`, `failed`, `destroyed`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitState {
    /// `started`
    Started,
    /// `stopped`
    Stopped,
    /// `suspended`
    Suspended,
    /// `destroyed` (a 404 counts as reached)
    Destroyed,
    /// `failed`
    Failed,
    /// any resting state
    Settled,
}

impl WaitState {
    /// The name Fly uses: the machine state's own word, or `settled`.
    pub fn as_str(&self) -> &'static str {
        match self.machine_state() {
            Some(state) => state.known_word().unwrap_or_default(),
            None => "settled",
        }
    }

    /// The one machine state this wanted state names; `None` for `Settled`.
    fn machine_state(&self) -> Option<MachineState> {
        Some(match self {
            WaitState::Started => MachineState::Started,
            WaitState::Stopped => MachineState::Stopped,
            WaitState::Suspended => MachineState::Suspended,
            WaitState::Destroyed => MachineState::Destroyed,
            WaitState::Failed => MachineState::Failed,
            WaitState::Settled => return None,
        })
    }

    /// Whether a machine in `state` satisfies this wanted state.
    pub fn is_reached_by(&self, state: &MachineState) -> bool {
        match self.machine_state() {
            Some(wanted) => *state == wanted,
            None => state.is_resting() || *state == MachineState::Destroyed,
        }
    }
}

impl fmt::Display for WaitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a successful wait saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    /// The state reached (`destroyed` when the machine is gone).
    pub state: MachineState,
    /// The machine version the state belongs to, when Fly said.
    pub version: Option<String>,
    /// The event that ended the wait, when Fly said.
    pub event_id: Option<String>,
}

/// Why a wait ended without success.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed first.
    #[error("machine {machine_id}: still not {wanted} after {waited:?} (last state: {last_state})")]
    Timeout {
        /// The machine.
        machine_id: String,
        /// The wanted states, comma-separated.
        wanted: String,
        /// How long we waited.
        waited: Duration,
        /// The last state seen, or `unknown`.
        last_state: String,
    },
    /// The machine's main process kept exiting and being restarted while we waited for it to
    /// be healthy.
    #[error(
        "machine {machine_id} is crash-looping: its main process exited {exits} times since this version was launched"
    )]
    CrashLoop {
        /// The machine.
        machine_id: String,
        /// Exits of the current version seen in its events.
        exits: usize,
    },
    /// The machine landed in `failed` while we waited for something else.
    #[error("machine {machine_id} failed while waiting for {wanted}")]
    MachineFailed {
        /// The machine.
        machine_id: String,
        /// The wanted states, comma-separated.
        wanted: String,
    },
}

impl WaitError {
    /// Whether the wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitError::Timeout { .. })
    }
}

/// The wanted states, `started` when none are given.
pub(crate) fn or_started(states: Vec<WaitState>) -> Vec<WaitState> {
    if states.is_empty() {
        vec![WaitState::Started]
    } else {
        states
    }
}

/// States as `/wait` takes them: comma-separated names.
pub(crate) fn as_query(states: &[WaitState]) -> String {
    states
        .iter()
        .map(WaitState::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// One machine to wait for, with the version that counts when it is known (a
/// [`MachineSnapshot`] from a create or update knows it; a bare [`Machine`] handle does not).
#[derive(Debug, Clone)]
pub struct WaitTarget {
    pub(crate) machine: Machine,
    pub(crate) version: Option<String>,
}

impl From<Machine> for WaitTarget {
    fn from(machine: Machine) -> WaitTarget {
        WaitTarget {
            machine,
            version: None,
        }
    }
}

impl From<&Machine> for WaitTarget {
    fn from(machine: &Machine) -> WaitTarget {
        machine.clone().into()
    }
}

impl From<&MachineSnapshot> for WaitTarget {
    fn from(snapshot: &MachineSnapshot) -> WaitTarget {
        WaitTarget {
            machine: snapshot.handle().clone(),
            version: snapshot.version().map(str::to_string),
        }
    }
}

impl From<MachineSnapshot> for WaitTarget {
    fn from(snapshot: MachineSnapshot) -> WaitTarget {
        (&snapshot).into()
    }
}

/// The machines of a [`Machines::wait_all`](crate::Machines::wait_all): made from any list of [`Machine`]s or
/// [`MachineSnapshot`]s (owned or borrowed).
#[derive(Debug, Clone)]
pub struct WaitTargets(pub Vec<WaitTarget>);

impl<I, T> From<I> for WaitTargets
where
    I: IntoIterator<Item = T>,
    T: Into<WaitTarget>,
{
    fn from(machines: I) -> WaitTargets {
        WaitTargets(machines.into_iter().map(Into::into).collect())
    }
}

/// What [`Machines::wait_all`](crate::Machines::wait_all) saw: one result per machine, in the order given (index it, or
/// iterate it, like a `Vec`), and the whole at once with [`into_result`](Self::into_result).
#[derive(Debug)]
pub struct WaitAll {
    pub(crate) ids: Vec<String>,
    pub(crate) results: Vec<Result<WaitOutcome>>,
}

impl WaitAll {
    /// Whether every machine reached a wanted state.
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(Result::is_ok)
    }

    /// How many machines did not.
    pub fn failed_count(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
    }

    /// The machines that did not, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Error)> {
        self.ids
            .iter()
            .zip(&self.results)
            .filter_map(|(id, r)| r.as_ref().err().map(|e| (id.as_str(), e)))
    }

    /// Every outcome, in order, or the first machine's error (it names the machine) when any
    /// failed: `app.machines().wait_all(&fleet, [WaitState::Started]).await.into_result()?`.
    pub fn into_result(self) -> Result<Vec<WaitOutcome>> {
        self.results.into_iter().collect()
    }
}

impl std::ops::Deref for WaitAll {
    type Target = [Result<WaitOutcome>];

    fn deref(&self) -> &[Result<WaitOutcome>] {
        &self.results
    }
}

impl IntoIterator for WaitAll {
    type Item = Result<WaitOutcome>;
    type IntoIter = std::vec::IntoIter<Result<WaitOutcome>>;

    fn into_iter(self) -> Self::IntoIter {
        self.results.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_states_are_reached_by_typed_states() {
        let parse = MachineState::parse;
        assert!(WaitState::Started.is_reached_by(&MachineState::Started));
        assert!(!WaitState::Started.is_reached_by(&MachineState::Starting));
        assert!(WaitState::Destroyed.is_reached_by(&MachineState::Destroyed));
        assert!(WaitState::Failed.is_reached_by(&parse("failed")));
        // `/wait` is asked with the machine states' own words.
        let wanted = [
            WaitState::Started,
            WaitState::Stopped,
            WaitState::Suspended,
            WaitState::Destroyed,
            WaitState::Failed,
            WaitState::Settled,
        ];
        assert_eq!(
            as_query(&wanted),
            "started,stopped,suspended,destroyed,failed,settled"
        );
        for resting in [
            "created",
            "started",
            "stopped",
            "suspended",
            "failed",
            "destroyed",
        ] {
            assert!(
                WaitState::Settled.is_reached_by(&parse(resting)),
                "{resting}"
            );
        }
        for moving in ["starting", "stopping", "replacing", "hibernating", ""] {
            assert!(
                !WaitState::Settled.is_reached_by(&parse(moving)),
                "{moving}"
            );
            assert!(
                !WaitState::Started.is_reached_by(&parse(moving)),
                "{moving}"
            );
        }
    }
}
