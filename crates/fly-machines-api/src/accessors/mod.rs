//! Hand-written accessors for the generated types, so callers read `m.id()` and `m.state()`
//! instead of unwrapping `Option`s field by field.
//!
//! Every document field is optional on the wire; these methods settle each absence once
//! (an empty id, an empty slice, `None` for a value a caller must tell apart from empty), and
//! turn the free-form words Fly sends (states, statuses, event kinds) into open enums that keep
//! any value this version does not know.

mod app;
mod check;
mod event;
mod lease;
mod machine;
mod open_enum;
mod postgres;
mod states;
mod volume;
mod wait;

pub use postgres::{BackupKind, ClusterStatus, PostgresPlan, PostgresRole};
pub use states::{CheckState, EventKind, HostStatus, MachineState, VolumeState};

/// A Unix time in milliseconds as a [`std::time::SystemTime`]; `None` for a value before 1970
/// or too large to represent.
pub(crate) fn unix_millis(ms: i64) -> Option<std::time::SystemTime> {
    let ms = u64::try_from(ms).ok()?;
    std::time::SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))
}

/// A Unix time in seconds as a [`std::time::SystemTime`]; `None` when out of range.
pub(crate) fn unix_secs(secs: i64) -> Option<std::time::SystemTime> {
    let secs = u64::try_from(secs).ok()?;
    std::time::SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
}
