//! Accessors for [`MachineEvent`].

use std::time::SystemTime;

use super::{EventKind, MachineState, unix_millis};
use crate::types::MachineEvent;

impl MachineEvent {
    /// The event id; empty when absent. Pass it as `from_event_id` to wait for what follows.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// What happened (`launch`, `start`, `exit`...); `EventKind::Other("")` when absent.
    pub fn kind(&self) -> EventKind {
        EventKind::parse(self.type_.as_deref().unwrap_or_default())
    }

    /// The machine state recorded with the event.
    pub fn state(&self) -> MachineState {
        MachineState::parse(self.status.as_deref().unwrap_or_default())
    }

    /// Who caused it (`user`, `flyd`); empty when absent.
    pub fn source(&self) -> &str {
        self.source.as_deref().unwrap_or_default()
    }

    /// When it happened; `None` when absent or out of range.
    pub fn time(&self) -> Option<SystemTime> {
        self.timestamp.and_then(unix_millis)
    }

    /// For an exit event, the main process's exit code.
    pub fn exit_code(&self) -> Option<i64> {
        self.request
            .as_ref()?
            .get("exit_event")?
            .get("exit_code")?
            .as_i64()
    }
}
