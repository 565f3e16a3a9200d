//! Accessors for [`WaitMachineResponse`].

use super::MachineState;
use crate::types::WaitMachineResponse;

impl WaitMachineResponse {
    /// The state reached; `MachineState::Other("")` when absent.
    pub fn state(&self) -> MachineState {
        MachineState::parse(self.state.as_deref().unwrap_or_default())
    }

    /// The version the state belongs to.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}
