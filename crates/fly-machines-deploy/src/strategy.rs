//! How a group's machines move to a new config: the strategy and its health gates.
//!
//! The knobs follow the anchors users know: Kubernetes' `maxUnavailable` and `maxSurge`, Nomad's
//! `min_healthy_time`, `healthy_deadline` and `progress_deadline`, Argo Rollouts' canary and
//! blue-green with automatic rollback.

use std::fmt;
use std::time::Duration;

use crate::desired::FleetError;

/// Which way a group's machines move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// In place, at most `max_unavailable` machines out of service at once.
    Rolling,
    /// First `canary` machines, which join serving and stay; the rest roll once the canaries
    /// have been healthy for `min_healthy_time`. Without volumes the canaries are new machines
    /// and the rest roll no wider than the extra machines serving, so serving never drops
    /// below the group's count; the machines they stood in for go last. With volumes they
    /// move in place (serving ≥ n − max(`canary`, `max_unavailable`)).
    Canary,
    /// A full new (green) set is created and gated on health before the old (blue) set is
    /// cordoned, stopped and destroyed. Not for machines with volumes.
    BlueGreen,
    /// Everything at once, at bounded concurrency, with no health gates (each update is still
    /// checked to have taken: started, at the version it answered).
    Immediate,
}

impl StrategyKind {
    /// The word used in fleet files: `rolling`, `canary`, `bluegreen` or `immediate`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "rolling",
            StrategyKind::Canary => "canary",
            StrategyKind::BlueGreen => "bluegreen",
            StrategyKind::Immediate => "immediate",
        }
    }

    /// Every kind, in the order of the words of [`StrategyKind::as_str`].
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Rolling,
        StrategyKind::Canary,
        StrategyKind::BlueGreen,
        StrategyKind::Immediate,
    ];
}

impl std::str::FromStr for StrategyKind {
    type Err = FleetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                FleetError::new(
                    "strategy.kind",
                    s,
                    "one of `rolling`, `canary`, `bluegreen` or `immediate`",
                )
            })
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number of machines, absolute or as a fraction of the group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// That many machines.
    Count(u32),
    /// That share of the group's machines, rounded up (a fraction above 0 and at most 1).
    Fraction(f64),
}

impl Amount {
    /// The number of machines this amount is for a group of `total`, never more than `total`.
    pub fn of(self, total: usize) -> usize {
        let wanted = match self {
            Amount::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            // Both factors are bounded (a fraction at most 1, a machine count), so the product
            // is a finite number no larger than `total`.
            Amount::Fraction(f) => (f * total as f64).ceil() as usize,
        };
        wanted.min(total)
    }

    /// Whether the amount is no machine at all.
    pub fn is_zero(self) -> bool {
        matches!(self, Amount::Count(0)) || matches!(self, Amount::Fraction(f) if f == 0.0)
    }

    /// Checks the amount for `setting`: a fraction must be finite, above 0 (unless `zero_ok`)
    /// and at most 1; a count of 0 is refused unless `zero_ok`.
    pub(crate) fn check(self, setting: &str, zero_ok: bool) -> Result<Amount, FleetError> {
        match self {
            Amount::Count(0) if !zero_ok => Err(FleetError::new(
                setting,
                "0",
                "at least 1 machine, or a fraction above 0 (0 would never let a machine change)",
            )),
            Amount::Fraction(f)
                if !f.is_finite() || !(0.0..=1.0).contains(&f) || (f == 0.0 && !zero_ok) =>
            {
                Err(FleetError::new(
                    setting,
                    f,
                    if zero_ok {
                        "a fraction from 0 to 1"
                    } else {
                        "a fraction above 0 and at most 1"
                    },
                ))
            }
            ok => Ok(ok),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Fraction(x) => write!(f, "{}%", (x * 100.0).round()),
        }
    }
}

/// When a moved machine counts as healthy, and how long the rollout may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gates {
    /// How long a machine must stay started with its checks passing (Nomad's default: 10 s).
    pub min_healthy_time: Duration,
    /// How long one machine may take to become healthy (default 5 minutes).
    pub healthy_deadline: Duration,
    /// How long the whole rollout may go without a machine becoming healthy (default 10
    /// minutes).
    pub progress_deadline: Duration,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(5 * 60),
            progress_deadline: Duration::from_secs(10 * 60),
        }
    }
}

/// How a group's machines move from one config to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Strategy {
    kind: StrategyKind,
    max_unavailable: Amount,
    max_surge: Amount,
    canary: Amount,
    max_concurrency: u32,
    gates: Gates,
    rollback: bool,
}

impl Default for Strategy {
    /// Rolling, a quarter of the group at a time (at least one machine), no surge, rollback on.
    fn default() -> Self {
        Strategy {
            kind: StrategyKind::Rolling,
            max_unavailable: Amount::Fraction(0.25),
            max_surge: Amount::Count(0),
            canary: Amount::Count(1),
            max_concurrency: 8,
            gates: Gates::default(),
            rollback: true,
        }
    }
}

impl Strategy {
    /// A strategy of this kind with the defaults of [`Strategy::default`].
    pub fn new(kind: StrategyKind) -> Strategy {
        Strategy {
            kind,
            ..Strategy::default()
        }
    }

    /// Rolling in place.
    pub fn rolling() -> Strategy {
        Strategy::new(StrategyKind::Rolling)
    }

    /// Canaries first (new machines, or in place for groups with volumes), then rolling.
    pub fn canary() -> Strategy {
        Strategy::new(StrategyKind::Canary)
    }

    /// A full green set, then the switch.
    pub fn blue_green() -> Strategy {
        Strategy::new(StrategyKind::BlueGreen)
    }

    /// All at once.
    pub fn immediate() -> Strategy {
        Strategy::new(StrategyKind::Immediate)
    }

    /// At most this many (or this share) of the group's machines out of service at once.
    /// 0 is refused: it would never let a machine change.
    pub fn max_unavailable(mut self, amount: Amount) -> Result<Strategy, FleetError> {
        self.max_unavailable = amount.check("max_unavailable", false)?;
        Ok(self)
    }

    /// Extra machines a rolling move may make above the group's count (Kubernetes'
    /// `maxSurge`; default 0). With a surge, new machines at the new config are made and gated
    /// first, then the rest roll with up to `max_unavailable` plus the extra machines out at
    /// once (serving stays at or above n − `max_unavailable`, and the move is faster), and the
    /// machines the new ones stood in for are destroyed last. Rolling only, and not for groups
    /// with volumes: a canary strategy makes its canaries as new machines already, blue-green
    /// a full extra set, and immediate moves in place; anything above 0 for them is refused
    /// rather than ignored.
    pub fn max_surge(mut self, amount: Amount) -> Result<Strategy, FleetError> {
        let amount = amount.check("max_surge", true)?;
        if !amount.is_zero() && self.kind != StrategyKind::Rolling {
            return Err(FleetError::new(
                "max_surge",
                amount,
                format!(
                    "0 for `{}`: only `rolling` takes a surge (a canary is already a new \
                     machine, blue-green makes a full extra set, immediate moves in place)",
                    self.kind
                ),
            ));
        }
        self.max_surge = amount;
        Ok(self)
    }

    /// How many machines move first as canaries.
    pub fn canaries(mut self, amount: Amount) -> Result<Strategy, FleetError> {
        self.canary = amount.check("canary", false)?;
        Ok(self)
    }

    /// At most this many calls in flight for the immediate strategy and for the creates of
    /// blue-green's greens, canaries and a rolling surge (default 8).
    pub fn max_concurrency(mut self, n: u32) -> Result<Strategy, FleetError> {
        if n == 0 {
            return Err(FleetError::new("max_concurrency", 0, "at least 1"));
        }
        self.max_concurrency = n;
        Ok(self)
    }

    /// The health gates.
    pub fn gates(mut self, gates: Gates) -> Result<Strategy, FleetError> {
        if gates.healthy_deadline.is_zero() {
            return Err(FleetError::new(
                "healthy_deadline",
                "0s",
                "a duration above 0",
            ));
        }
        if gates.progress_deadline < gates.healthy_deadline {
            return Err(FleetError::new(
                "progress_deadline",
                fly_machines_rules::format_go_duration(gates.progress_deadline),
                format!(
                    "at least the healthy_deadline ({})",
                    fly_machines_rules::format_go_duration(gates.healthy_deadline)
                ),
            ));
        }
        self.gates = gates;
        Ok(self)
    }

    /// Whether a failed gate moves every machine already moved back (on by default).
    pub fn rollback(mut self, on: bool) -> Strategy {
        self.rollback = on;
        self
    }

    /// The kind.
    pub fn kind(&self) -> StrategyKind {
        self.kind
    }

    /// The most machines out of service at once.
    pub fn max_unavailable_amount(&self) -> Amount {
        self.max_unavailable
    }

    /// The most extra machines.
    pub fn max_surge_amount(&self) -> Amount {
        self.max_surge
    }

    /// The canaries.
    pub fn canary_amount(&self) -> Amount {
        self.canary
    }

    /// The most calls in flight where the strategy fans out.
    pub fn concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// The health gates.
    pub fn health_gates(&self) -> Gates {
        self.gates
    }

    /// Whether a failure rolls back.
    pub fn rolls_back(&self) -> bool {
        self.rollback
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StrategyKind::Rolling => {
                write!(f, "rolling, max_unavailable {}", self.max_unavailable)?;
                if !self.max_surge.is_zero() {
                    write!(f, ", max_surge {}", self.max_surge)?;
                }
            }
            StrategyKind::Canary => write!(
                f,
                "canary {} as new machines (in place with volumes), then rolling, max_unavailable {}",
                self.canary, self.max_unavailable
            )?,
            StrategyKind::BlueGreen => f.write_str("bluegreen")?,
            StrategyKind::Immediate => write!(f, "immediate, {} at a time", self.max_concurrency)?,
        }
        if !self.rollback {
            f.write_str(", no rollback")?;
        }
        Ok(())
    }
}
