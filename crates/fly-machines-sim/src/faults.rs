//! Fault injection: the seeded draws that decide which request fails, is dropped or is slowed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fly_machines_api::Operation;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::Faults;
use crate::emulator::lock;

#[derive(Debug)]
struct Draws {
    faults: Faults,
    rng: StdRng,
}

/// What the injector decided before a request reaches its handler.
pub(crate) enum Verdict {
    /// Serve the request normally.
    Serve,
    /// Close the connection without an answer.
    Drop,
    /// Answer this 5xx status without touching the world.
    Error(u16),
}

/// The configured faults and the generator their draws come from.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    active: AtomicBool,
    draws: Mutex<Draws>,
}

impl FaultInjector {
    pub(crate) fn new(faults: Faults) -> FaultInjector {
        FaultInjector {
            active: AtomicBool::new(faults.is_active()),
            draws: Mutex::new(Draws {
                rng: StdRng::seed_from_u64(faults.seed),
                faults,
            }),
        }
    }

    /// Whether any fault is configured (checked without a lock on every request).
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Replaces the configuration and reseeds the generator.
    pub(crate) fn set(&self, faults: Faults) {
        self.active.store(faults.is_active(), Ordering::SeqCst);
        let mut d = lock(&self.draws);
        d.rng = StdRng::seed_from_u64(faults.seed);
        d.faults = faults;
    }

    /// The current configuration.
    pub(crate) fn current(&self) -> Faults {
        lock(&self.draws).faults.clone()
    }

    /// The latency to add and the verdict for one request of `op`.
    pub(crate) fn draw_before(&self, op: &Operation) -> (Option<Duration>, Verdict) {
        let mut d = lock(&self.draws);
        let Draws { faults, rng } = &mut *d;
        if !faults.applies_to(op.op) {
            return (None, Verdict::Serve);
        }
        let mut latency = None;
        if !faults.latency.is_zero() || !faults.latency_jitter.is_zero() {
            let jitter_ms = u64::try_from(faults.latency_jitter.as_millis()).unwrap_or(u64::MAX);
            let extra = if jitter_ms > 0 {
                rng.random_range(0..=jitter_ms)
            } else {
                0
            };
            latency = Some(faults.latency.saturating_add(Duration::from_millis(extra)));
        }
        if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
            return (latency, Verdict::Drop);
        }
        if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
            let code = [500, 502, 503][rng.random_range(0..3)];
            return (latency, Verdict::Error(code));
        }
        (latency, Verdict::Serve)
    }

    /// Whether a create in `region` is refused for lack of capacity.
    pub(crate) fn draw_capacity(&self, region: &str) -> bool {
        let mut d = lock(&self.draws);
        let Draws { faults, rng } = &mut *d;
        if faults.capacity_regions.iter().any(|r| r == region) {
            return true;
        }
        faults.capacity_rate > 0.0 && rng.random_bool(faults.capacity_rate)
    }

    /// Whether the ambiguous-create fault applies to `op` (`default` unless configured).
    pub(crate) fn ambiguous_applies_to(
        &self,
        op: fly_machines_api::OperationId,
        default: &[fly_machines_api::OperationId],
    ) -> bool {
        let d = lock(&self.draws);
        match &d.faults.ambiguous_operations {
            Some(ops) => ops.contains(&op),
            None => default.contains(&op),
        }
    }

    /// The status a successful create answers instead, when the ambiguous-create fault fires.
    pub(crate) fn draw_ambiguous_create(&self) -> Option<u16> {
        let mut d = lock(&self.draws);
        let Draws { faults, rng } = &mut *d;
        if faults.ambiguous_create_rate <= 0.0 || !rng.random_bool(faults.ambiguous_create_rate) {
            return None;
        }
        let choices: &[u16] = if faults.ambiguous_statuses.is_empty() {
            &[408, 500, 502, 503]
        } else {
            &faults.ambiguous_statuses
        };
        Some(choices[rng.random_range(0..choices.len())])
    }
}
