//! Waiting for machine states.

/// Why a wait ended without reaching a wanted state.
#[derive(Debug, thiserror::Error)]
#[error("wait")]
pub struct WaitError {}

impl WaitError {
    /// Whether the wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        false
    }
}
