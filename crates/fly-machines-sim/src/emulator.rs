//! The state one running emulator shares between its connections and its handle.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::connections::{ConnectionLimits, ConnectionSlots};
use crate::faults::FaultInjector;
use crate::ids::RequestIds;
use crate::limits::RateLimiter;
use crate::request_log::RequestLog;
use crate::state::World;

/// Locks a mutex, recovering the data if a previous holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Called by a long machine listing after each slice it has written, with the world lock
/// released (see [`crate::SimBuilder::on_list_slice`]).
#[derive(Clone, Default)]
pub(crate) struct SliceHook(pub(crate) Option<Arc<dyn Fn(usize) + Send + Sync>>);

impl SliceHook {
    /// Tells the hook, if any, that slice `slice` (from 1) is written.
    pub(crate) fn call(&self, slice: usize) {
        if let Some(hook) = &self.0 {
            hook(slice);
        }
    }
}

impl std::fmt::Debug for SliceHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SliceHook(set)"
        } else {
            "SliceHook(none)"
        })
    }
}

/// Fixed settings of one emulator.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) token: String,
    pub(crate) auth: bool,
    /// Bound to a loopback address: the `Host` header must name this machine.
    pub(crate) loopback_only: bool,
    /// Most `/wait` long-polls parked at once; past it a wait is answered 429 at once and its
    /// connection closed, so long-polls cannot take every connection slot.
    pub(crate) max_parked_waits: usize,
    pub(crate) transition_ms: u64,
    /// How long each Managed Postgres phase lasts (creating, initializing, deleting, a backup).
    pub(crate) postgres_step_ms: u64,
    pub(crate) default_region: String,
    pub(crate) owner: String,
    /// How many versions each machine keeps.
    pub(crate) versions_kept: usize,
}

/// Everything one emulator holds: settings, clock, the world and the per-request layers.
#[derive(Debug)]
pub(crate) struct Emulator {
    pub(crate) settings: Settings,
    pub(crate) connection_limits: ConnectionLimits,
    pub(crate) connection_slots: Arc<ConnectionSlots>,
    pub(crate) clock: Clock,
    pub(crate) world: Mutex<World>,
    /// Notified after every change to the world, so long-polls re-check.
    pub(crate) changed: Notify,
    pub(crate) limiter: RateLimiter,
    pub(crate) faults: FaultInjector,
    pub(crate) log: RequestLog,
    pub(crate) request_ids: RequestIds,
    pub(crate) shutdown: watch::Sender<bool>,
    /// How many `/wait` calls are blocked, and a signal when that changes.
    pub(crate) parked_waits: AtomicUsize,
    pub(crate) parked_changed: Notify,
    /// Told when a long listing has written a slice.
    pub(crate) list_slice_hook: SliceHook,
}
