//! The metadata keys that mark a machine as the fleet's own.
//!
//! Progress lives on the machines themselves: which fleet and group a machine belongs to, the
//! revision of the group's config it runs and the one it ran before. A later run re-plans from
//! these marks instead of replaying a journal, and a machine without them is never touched.

/// The fleet that owns the machine (the fleet's name, by default its app's name).
pub const FLEET: &str = "fly_deploy_fleet";
/// The group of the fleet the machine belongs to.
pub const GROUP: &str = "fly_deploy_group";
/// The revision of the group's config the machine was last moved to.
pub const REVISION: &str = "fly_deploy_revision";
/// The revision the machine ran before its last move, restored by a rollback.
pub const PREVIOUS_REVISION: &str = "fly_deploy_previous_revision";

/// Marks the fleet's anchor: the never-started machine whose lease is the fleet's lock (see
/// [`crate::lock`]). The planner never counts or touches it.
pub const LOCK: &str = "fly_deploy_lock";

/// Every mark, in one list: they are left out when configs are compared and hashed, and a
/// group's own metadata may not set them.
pub const ALL: [&str; 5] = [FLEET, GROUP, REVISION, PREVIOUS_REVISION, LOCK];

/// Whether `key` is one of the marks.
pub fn is_mark(key: &str) -> bool {
    ALL.contains(&key)
}
