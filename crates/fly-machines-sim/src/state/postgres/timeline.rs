//! A cluster's life on the emulator's clock: when it is created, initialised, ready (or
//! failed), and deleted. The status at any instant follows from these times alone, so nothing
//! has to run in the background.

/// A cluster's lifecycle status, as `PostgresCluster.status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterStatus {
    Creating,
    Initializing,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl ClusterStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "creating",
            ClusterStatus::Initializing => "initializing",
            ClusterStatus::Ready => "ready",
            ClusterStatus::Failed => "failed",
            ClusterStatus::Deleting => "deleting",
            ClusterStatus::Deleted => "deleted",
        }
    }
}

/// The instants a cluster changes status, in Unix milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub(crate) created_ms: u64,
    /// `creating` → `initializing`.
    pub(crate) initializing_ms: u64,
    /// `initializing` → `ready`, or → `failed` when provisioning fails.
    pub(crate) settled_ms: u64,
    pub(crate) fails: bool,
    pub(crate) deleting_ms: Option<u64>,
    pub(crate) deleted_ms: Option<u64>,
}

impl Timeline {
    /// A timeline starting at `now` whose phases each last `step_ms`.
    pub(crate) fn provisioning(now: u64, step_ms: u64, fails: bool) -> Timeline {
        let initializing_ms = now.saturating_add(step_ms);
        Timeline {
            created_ms: now,
            initializing_ms,
            settled_ms: initializing_ms.saturating_add(step_ms),
            fails,
            deleting_ms: None,
            deleted_ms: None,
        }
    }

    pub(crate) fn status(&self, now: u64) -> ClusterStatus {
        if self.deleted_ms.is_some_and(|t| t <= now) {
            ClusterStatus::Deleted
        } else if self.deleting_ms.is_some_and(|t| t <= now) {
            ClusterStatus::Deleting
        } else if now < self.initializing_ms {
            ClusterStatus::Creating
        } else if now < self.settled_ms {
            ClusterStatus::Initializing
        } else if self.fails {
            ClusterStatus::Failed
        } else {
            ClusterStatus::Ready
        }
    }

    /// When the cluster became (or becomes) ready, if it ever does.
    pub(crate) fn ready_ms(&self) -> Option<u64> {
        (!self.fails).then_some(self.settled_ms)
    }

    /// Marks the cluster for deletion at `now`; it is gone `step_ms` later.
    pub(crate) fn delete(&mut self, now: u64, step_ms: u64) {
        self.deleting_ms = Some(now);
        self.deleted_ms = Some(now.saturating_add(step_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_the_clock() {
        let t = Timeline::provisioning(1_000, 500, false);
        assert_eq!(t.status(1_000), ClusterStatus::Creating);
        assert_eq!(t.status(1_499), ClusterStatus::Creating);
        assert_eq!(t.status(1_500), ClusterStatus::Initializing);
        assert_eq!(t.status(2_000), ClusterStatus::Ready);
        assert_eq!(t.ready_ms(), Some(2_000));
        let mut failing = Timeline::provisioning(0, 10, true);
        assert_eq!(failing.status(20), ClusterStatus::Failed);
        assert_eq!(failing.ready_ms(), None);
        failing.delete(30, 10);
        assert_eq!(failing.status(30), ClusterStatus::Deleting);
        assert_eq!(failing.status(40), ClusterStatus::Deleted);
    }

    #[test]
    fn huge_steps_saturate() {
        let t = Timeline::provisioning(u64::MAX - 1, u64::MAX, false);
        assert_eq!(t.status(u64::MAX - 1), ClusterStatus::Creating);
        assert_eq!(t.settled_ms, u64::MAX);
    }
}
