//! Accessors for [`Volume`].

use super::{HostStatus, VolumeState};
use crate::types::Volume;

impl Volume {
    /// The volume id (`vol_...`); empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The volume name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The volume's state; `VolumeState::Other("")` when absent.
    pub fn state(&self) -> VolumeState {
        VolumeState::parse(self.state.as_deref().unwrap_or_default())
    }

    /// The region code; empty when absent.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or_default()
    }

    /// Provisioned size in GB; `None` when absent or negative.
    pub fn size_gb(&self) -> Option<u64> {
        self.size_gb.and_then(|s| u64::try_from(s).ok())
    }

    /// The machine it is attached to, if any.
    pub fn attached_machine_id(&self) -> Option<&str> {
        self.attached_machine_id
            .as_deref()
            .filter(|id| !id.is_empty())
    }

    /// Whether the host holding the volume is reachable.
    pub fn host_status(&self) -> HostStatus {
        HostStatus::parse(self.host_status.as_deref().unwrap_or_default())
    }
}
