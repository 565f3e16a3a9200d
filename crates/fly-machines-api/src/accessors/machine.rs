//! Accessors for [`Machine`]: what a caller reads after a get, list, create or update.

use super::{HostStatus, MachineState};
use crate::types::{CheckStatus, Machine, MachineConfig, MachineEvent, StrippedLease};

impl Machine {
    /// The machine id; empty when the answer had none.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The machine name, unique in its app; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The lifecycle state; `MachineState::Other("")` when absent.
    pub fn state(&self) -> MachineState {
        MachineState::parse(self.state.as_deref().unwrap_or_default())
    }

    /// The region code (`iad`); empty when absent.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or_default()
    }

    /// The version of the machine this answer describes: `version`, or `instance_id` (the same
    /// value under its older name) from servers that send only that. Pass it to a wait so only
    /// this version counts, or to an update as `if_version` to refuse concurrent changes.
    pub fn version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .filter(|v| !v.is_empty())
            .or_else(|| self.instance_id.as_deref().filter(|v| !v.is_empty()))
    }

    /// Whether the host is reachable; `HostStatus::Other("")` when absent.
    pub fn host_status(&self) -> HostStatus {
        HostStatus::parse(self.host_status.as_deref().unwrap_or_default())
    }

    /// The private IPv6 address on the app's network.
    pub fn private_ip(&self) -> Option<&str> {
        self.private_ip.as_deref()
    }

    /// The config, when the answer carried it (summaries do not).
    pub fn config(&self) -> Option<&MachineConfig> {
        self.config.as_ref()
    }

    /// The image reference from the config.
    pub fn image(&self) -> Option<&str> {
        self.config.as_ref().and_then(|c| c.image.as_deref())
    }

    /// One metadata value from the config: `m.metadata("tenant")`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.config
            .as_ref()
            .and_then(|c| c.metadata.as_ref())
            .and_then(|md| md.get(key))
            .map(String::as_str)
    }

    /// One environment value from the config.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.config
            .as_ref()
            .and_then(|c| c.env.as_ref())
            .and_then(|env| env.get(name))
            .map(String::as_str)
    }

    /// The latest health-check results (empty when none or `null`).
    pub fn checks(&self) -> &[CheckStatus] {
        self.checks.as_deref().unwrap_or_default()
    }

    /// Recent events, newest first (empty when none or `null`).
    pub fn events(&self) -> &[MachineEvent] {
        self.events.as_deref().unwrap_or_default()
    }

    /// Creation time as sent (RFC 3339).
    pub fn created_at(&self) -> Option<&str> {
        self.created_at.as_deref()
    }

    /// Last change as sent (RFC 3339).
    pub fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }

    /// The lease held on the machine, when the answer was asked to include leases
    /// (`include_leases`) and one is held. Its nonce is never part of it.
    pub fn lease(&self) -> Option<&StrippedLease> {
        self.lease.as_ref()
    }

    /// Whether the proxy is sending the machine no new traffic.
    pub fn is_cordoned(&self) -> bool {
        self.cordoned.unwrap_or(false)
    }
}

impl crate::types::ExecResponse {
    /// What the command wrote to standard output; empty when absent.
    pub fn stdout(&self) -> &str {
        self.stdout.as_deref().unwrap_or_default()
    }

    /// What the command wrote to standard error; empty when absent.
    pub fn stderr(&self) -> &str {
        self.stderr.as_deref().unwrap_or_default()
    }

    /// The command's exit code, when it exited (not when a signal ended it).
    pub fn exit_code(&self) -> Option<i64> {
        self.exit_code
    }

    /// The signal that ended the command, when one did.
    pub fn exit_signal(&self) -> Option<i64> {
        self.exit_signal
    }

    /// Whether the command exited with code 0 (an absent code counts as 0, as Fly leaves it
    /// out then) and no signal ended it.
    pub fn is_success(&self) -> bool {
        self.exit_code.unwrap_or(0) == 0 && self.exit_signal.is_none_or(|s| s == 0)
    }
}
