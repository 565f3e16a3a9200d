//! Accessors for [`CheckStatus`].

use super::CheckState;
use crate::types::CheckStatus;

impl CheckStatus {
    /// The check's name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The result; `CheckState::Other("")` when absent.
    pub fn state(&self) -> CheckState {
        CheckState::parse(self.status.as_deref().unwrap_or_default())
    }

    /// Whether the check passes.
    pub fn is_passing(&self) -> bool {
        self.state() == CheckState::Passing
    }

    /// The last run's output; empty when absent.
    pub fn output(&self) -> &str {
        self.output.as_deref().unwrap_or_default()
    }
}
