//! Tunables: rate limits and fault injection.

use std::time::Duration;

use fly_machines_api::{OperationId, RateLimitClass};

/// One token bucket: a steady rate and a burst size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size: how many calls may be made back to back.
    pub burst: u32,
}

impl Limit {
    /// A limit of `per_second` calls per second with bursts of `burst`.
    pub const fn new(per_second: f64, burst: u32) -> Limit {
        Limit { per_second, burst }
    }

    /// Fly's limit for a class of operations, from the operation table (the one place the
    /// client and the emulator read Fly's numbers from).
    pub fn fly(class: RateLimitClass) -> Limit {
        let limit = class.fly_limit();
        Limit::new(limit.per_second_f64(), limit.burst)
    }
}

/// Fly's rate limits, applied per action and per machine (per app for calls without a machine
/// in the path, such as Create Machine; per action alone for calls with neither).
///
/// The defaults are Fly's documented numbers, read from the operation table
/// (`RateLimitClass::fly_limit`): 1 request per second with bursts of 3 for every action, Get
/// Machine 5 per second with bursts of 10, and app deletions 100 per minute.
/// Exceeding a limit answers `429` with a `Retry-After` header (whole seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    enabled: bool,
    default: Limit,
    get_machine: Limit,
    app_delete: Limit,
}

impl RateLimits {
    /// Fly's documented limits (the default).
    pub fn fly() -> RateLimits {
        RateLimits {
            enabled: true,
            default: Limit::fly(RateLimitClass::PerMachine),
            get_machine: Limit::fly(RateLimitClass::GetMachine),
            app_delete: Limit::fly(RateLimitClass::AppDelete),
        }
    }

    /// No rate limiting at all.
    pub fn off() -> RateLimits {
        RateLimits {
            enabled: false,
            ..RateLimits::fly()
        }
    }

    /// Replaces the limit of every action except Get Machine and app deletion.
    pub fn with_default(mut self, limit: Limit) -> RateLimits {
        self.default = limit;
        self
    }

    /// Replaces the Get Machine limit.
    pub fn with_get_machine(mut self, limit: Limit) -> RateLimits {
        self.get_machine = limit;
        self
    }

    /// Replaces the app deletion limit.
    pub fn with_app_delete(mut self, limit: Limit) -> RateLimits {
        self.app_delete = limit;
        self
    }

    /// Whether limits are enforced.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The limit of ordinary actions.
    pub fn default_limit(&self) -> Limit {
        self.default
    }

    /// The Get Machine limit.
    pub fn get_machine_limit(&self) -> Limit {
        self.get_machine
    }

    /// The app deletion limit.
    pub fn app_delete_limit(&self) -> Limit {
        self.app_delete
    }

    /// The limit applied to a class of operations.
    pub fn for_class(&self, class: RateLimitClass) -> Limit {
        match class {
            RateLimitClass::GetMachine => self.get_machine,
            RateLimitClass::AppDelete => self.app_delete,
            RateLimitClass::PerMachine | RateLimitClass::PerApp | RateLimitClass::Global => {
                self.default
            }
        }
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits::fly()
    }
}

/// Fault injection: off by default, reproducible from a seed.
///
/// Random decisions (which request gets a 5xx, which connection is dropped, which create is
/// ambiguous, how much latency is added) are drawn from a generator seeded with
/// [`seed`](Faults::seed), in the order requests reach the emulator, so a sequential test sees
/// the same faults on every run.
///
/// ```
/// use std::time::Duration;
/// use fly_machines_api::OperationId;
/// use fly_machines_sim::Faults;
///
/// let faults = Faults::seeded(7)
///     .error_rate(0.2)
///     .not_found_after_create(Duration::from_secs(2))
///     .only_operations([OperationId::MachinesShow]);
/// assert!(faults.is_active());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    pub(crate) seed: u64,
    pub(crate) error_rate: f64,
    pub(crate) latency: Duration,
    pub(crate) latency_jitter: Duration,
    pub(crate) drop_rate: f64,
    pub(crate) not_found_after_create: Duration,
    pub(crate) destroyed_visible_for: Duration,
    pub(crate) ambiguous_create_rate: f64,
    pub(crate) ambiguous_statuses: Vec<u16>,
    pub(crate) ambiguous_operations: Option<Vec<OperationId>>,
    pub(crate) capacity_regions: Vec<String>,
    pub(crate) capacity_rate: f64,
    pub(crate) operations: Option<Vec<OperationId>>,
}

impl Faults {
    /// No faults (the default).
    pub fn none() -> Faults {
        Faults::default()
    }

    /// No faults yet, with the random generator seeded by `seed`.
    pub fn seeded(seed: u64) -> Faults {
        Faults {
            seed,
            ..Faults::default()
        }
    }

    /// Fraction (0.0..=1.0) of requests answered with 500, 502 or 503 (chosen evenly) before
    /// they have any effect.
    pub fn error_rate(mut self, rate: f64) -> Faults {
        self.error_rate = clamp_rate(rate);
        self
    }

    /// Latency added to every affected request: `base` plus a uniform extra of up to `jitter`.
    /// This is wall-clock time (tokio's timer), not the emulator's clock.
    pub fn latency(mut self, base: Duration, jitter: Duration) -> Faults {
        self.latency = base;
        self.latency_jitter = jitter;
        self
    }

    /// Fraction (0.0..=1.0) of requests whose connection is closed without an answer, before
    /// they have any effect.
    pub fn drop_rate(mut self, rate: f64) -> Faults {
        self.drop_rate = clamp_rate(rate);
        self
    }

    /// For this long after a machine is created, every call naming it answers 404 and lists
    /// leave it out, as Fly's eventually consistent reads do.
    pub fn not_found_after_create(mut self, window: Duration) -> Faults {
        self.not_found_after_create = window;
        self
    }

    /// For this long after a machine reaches `destroyed`, it is still shown (in the `destroyed`
    /// state) before it answers 404. Without it a destroyed machine answers 404 at once.
    pub fn destroyed_visible_for(mut self, window: Duration) -> Faults {
        self.destroyed_visible_for = window;
        self
    }

    /// Fraction (0.0..=1.0) of machine and app creates that do create the machine or app but
    /// answer 408, 500, 502 or 503 (see [`ambiguous_statuses`](Faults::ambiguous_statuses)).
    pub fn ambiguous_create_rate(mut self, rate: f64) -> Faults {
        self.ambiguous_create_rate = clamp_rate(rate);
        self
    }

    /// The statuses an ambiguous create answers with, chosen evenly (default 408, 500, 502,
    /// 503). Codes that are not 4xx/5xx are ignored.
    pub fn ambiguous_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Faults {
        self.ambiguous_statuses = statuses
            .into_iter()
            .filter(|s| (400..600).contains(s))
            .collect();
        self
    }

    /// The creates the ambiguous-create fault hits (default: machine and app creates, whose
    /// repeats a client can make safe by key). Any operation may be named; the fault turns its
    /// successful answers into errors after the effect.
    pub fn ambiguous_operations(mut self, ops: impl IntoIterator<Item = OperationId>) -> Faults {
        self.ambiguous_operations = Some(ops.into_iter().collect());
        self
    }

    /// Regions out of capacity: a machine or volume create there answers Fly's capacity error
    /// (`412`, `{"status": "insufficient_capacity"}`) and makes nothing. The region is the
    /// body's, else the emulator's default region.
    pub fn capacity_regions<S: Into<String>>(
        mut self,
        regions: impl IntoIterator<Item = S>,
    ) -> Faults {
        self.capacity_regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// Fraction (0.0..=1.0) of machine and volume creates in any other region that answer the
    /// capacity error, drawn from the seeded generator.
    pub fn capacity_rate(mut self, rate: f64) -> Faults {
        self.capacity_rate = clamp_rate(rate);
        self
    }

    /// Restricts the error rate, the drop rate and the latency to these operations. By default
    /// they hit every operation.
    pub fn only_operations(mut self, ops: impl IntoIterator<Item = OperationId>) -> Faults {
        self.operations = Some(ops.into_iter().collect());
        self
    }

    /// The seed of the fault generator.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        self.error_rate > 0.0
            || self.drop_rate > 0.0
            || self.ambiguous_create_rate > 0.0
            || self.capacity_rate > 0.0
            || !self.capacity_regions.is_empty()
            || !self.latency.is_zero()
            || !self.latency_jitter.is_zero()
            || !self.not_found_after_create.is_zero()
            || !self.destroyed_visible_for.is_zero()
    }

    pub(crate) fn applies_to(&self, op: OperationId) -> bool {
        self.operations.as_ref().is_none_or(|ops| ops.contains(&op))
    }
}

/// A probability in 0.0..=1.0 (NaN counts as 0).
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// Which injected fault shaped a request's answer, as recorded in the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// A 500, 502 or 503 answered before the request had any effect.
    ServerError,
    /// The connection was closed without an answer.
    Dropped,
    /// The machine was created but the answer was an error.
    AmbiguousCreate,
    /// Latency was added (the answer itself is genuine).
    Latency,
    /// A create was refused for lack of capacity in its region.
    Capacity,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fly_limits_come_from_the_operation_table() {
        let fly = RateLimits::fly();
        for class in RateLimitClass::ALL {
            assert_eq!(fly.for_class(class), Limit::fly(class), "{class:?}");
        }
        assert_eq!(fly.default_limit(), Limit::new(1.0, 3));
        assert_eq!(fly.get_machine_limit(), Limit::new(5.0, 10));
        assert_eq!(fly.app_delete_limit().burst, 100);
        assert!((fly.app_delete_limit().per_second - 100.0 / 60.0).abs() < 1e-9);
        // Overrides still win.
        let custom = RateLimits::fly().with_app_delete(Limit::new(1.0, 1));
        assert_eq!(
            custom.for_class(RateLimitClass::AppDelete),
            Limit::new(1.0, 1)
        );
    }
}
