//! The free-form words Fly sends for states and kinds, as open enums.

use super::open_enum::open_enum;

open_enum! {
    /// A machine's lifecycle state. Resting: `created started stopped suspended failed`;
    /// transient: `creating starting stopping restarting suspending destroying replacing
    /// updating launch_failed`; terminal: `destroyed replaced migrated`.
    MachineState {
        /// `created`: made but never started.
        Created => "created",
        /// `creating`
        Creating => "creating",
        /// `starting`
        Starting => "starting",
        /// `started`: running.
        Started => "started",
        /// `stopping`
        Stopping => "stopping",
        /// `stopped`
        Stopped => "stopped",
        /// `suspending`
        Suspending => "suspending",
        /// `suspended`: memory snapshotted; resumes on start.
        Suspended => "suspended",
        /// `restarting`
        Restarting => "restarting",
        /// `updating`
        Updating => "updating",
        /// `replacing`: a new version is taking over.
        Replacing => "replacing",
        /// `destroying`
        Destroying => "destroying",
        /// `destroyed`
        Destroyed => "destroyed",
        /// `replaced`: an older version, superseded.
        Replaced => "replaced",
        /// `migrated`: moved to another host.
        Migrated => "migrated",
        /// `failed`: the machine could not run.
        Failed => "failed",
        /// `launch_failed`
        LaunchFailed => "launch_failed",
    }
}

impl MachineState {
    /// A state a machine stays in until asked to move (`created started stopped suspended
    /// failed`).
    pub fn is_resting(&self) -> bool {
        matches!(
            self,
            MachineState::Created
                | MachineState::Started
                | MachineState::Stopped
                | MachineState::Suspended
                | MachineState::Failed
        )
    }

    /// A state the machine never leaves (`destroyed replaced migrated`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            MachineState::Destroyed | MachineState::Replaced | MachineState::Migrated
        )
    }
}

open_enum! {
    /// Whether the host behind a machine or volume is reachable; when it is not `ok`, other
    /// fields may be stale.
    HostStatus {
        /// `ok`
        Ok => "ok",
        /// `unknown`
        Unknown => "unknown",
        /// `unreachable`
        Unreachable => "unreachable",
    }
}

open_enum! {
    /// The result of a health check.
    CheckState {
        /// `passing`
        Passing => "passing",
        /// `warning`
        Warning => "warning",
        /// `critical`
        Critical => "critical",
    }
}

open_enum! {
    /// A volume's state.
    VolumeState {
        /// `created`: ready to attach.
        Created => "created",
        /// `creating`
        Creating => "creating",
        /// `hydrating`: being filled from a snapshot or source volume.
        Hydrating => "hydrating",
        /// `restoring`
        Restoring => "restoring",
        /// `extending`: growing.
        Extending => "extending",
        /// `pending_destroy`
        PendingDestroy => "pending_destroy",
        /// `scheduled_for_deletion`
        ScheduledForDeletion => "scheduled_for_deletion",
        /// `destroying`
        Destroying => "destroying",
        /// `destroyed`
        Destroyed => "destroyed",
    }
}

impl VolumeState {
    /// The volume is destroyed or on its way there (`pending_destroy`, `scheduled_for_deletion`,
    /// `destroying`, `destroyed`): it can no longer be attached, and a teardown may count it
    /// as done.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            VolumeState::PendingDestroy
                | VolumeState::ScheduledForDeletion
                | VolumeState::Destroying
                | VolumeState::Destroyed
        )
    }
}

open_enum! {
    /// What a machine event records.
    EventKind {
        /// `launch`
        Launch => "launch",
        /// `start`
        Start => "start",
        /// `stop`
        Stop => "stop",
        /// `exit`: the main process ended.
        Exit => "exit",
        /// `update`
        Update => "update",
        /// `restart`
        Restart => "restart",
        /// `suspend`
        Suspend => "suspend",
        /// `destroy`
        Destroy => "destroy",
    }
}
