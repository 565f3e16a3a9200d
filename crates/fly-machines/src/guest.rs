//! Guest sizes: presets such as `shared-cpu-1x` and `performance-2x`, and the CPU and memory
//! bounds Fly enforces, checked before a request is sent.
//!
//! The bounds live in one table, [`rules`], which `#[derive(MachineConfig)]` compiles in as well:
//! a size the derive rejects at compile time is rejected here at run time, with the same words.
//!
//! | cpu_kind      | cpus              | memory_mb, per CPU | step   |
//! |---------------|-------------------|--------------------|--------|
//! | `shared`      | 1, 2, 4, 8        | 256 to 2048        | 256 MB |
//! | `performance` | 1, 2, 4, 8, 16    | 2048 to 8192       | 256 MB |
//!
//! ```
//! use fly_machines::guest::{CpuKind, Guest, GuestPreset};
//!
//! let small = Guest::preset("shared-cpu-1x")?;
//! assert_eq!((small.cpu_kind(), small.cpus(), small.memory_mb()), (CpuKind::Shared, 1, 256));
//!
//! let big = Guest::from(GuestPreset::Performance2x).with_memory_mb(8192)?;
//! let raw: fly_machines::types::MachineGuest = big.into();
//! assert_eq!(raw.memory_mb, Some(8192));
//!
//! let err = Guest::new(CpuKind::Shared, 16, 4096).unwrap_err();
//! assert_eq!(err.to_string(), "invalid cpus `16`: expected 1, 2, 4 or 8 for cpu_kind `shared`");
//! # Ok::<(), fly_machines::guest::GuestError>(())
//! ```

use std::fmt;

use crate::types;

/// The rule table shared with `#[derive(MachineConfig)]`: guest bounds and presets, and the closed
/// sets of words (handlers, protocols, restart policies, autostop values, stop signals, ...), env
/// name and path rules, Go durations, and the base64 form of file contents. Builders use these so
/// that they accept exactly what the derive accepts.
pub use fly_machines_rules as rules;

pub use rules::{CpuKind, GUEST_PRESETS, GUEST_RULES, GuestPreset, GuestRule, MEMORY_STEP_MB};

/// A guest size Fly would accept, or why not: the value, the setting and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GuestError(rules::RuleError);

impl GuestError {
    /// The rule the value broke: [`Rule::CpuKind`](rules::Rule::CpuKind),
    /// [`Rule::Cpus`](rules::Rule::Cpus), [`Rule::MemoryMb`](rules::Rule::MemoryMb) or
    /// [`Rule::Preset`](rules::Rule::Preset).
    pub fn rule(&self) -> rules::Rule {
        self.0.rule()
    }

    /// The setting the value was given for: `cpu_kind`, `cpus`, `memory_mb` or `preset`.
    pub fn setting(&self) -> &str {
        self.0.setting()
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        self.0.value()
    }

    /// What would have been accepted.
    pub fn expected(&self) -> &str {
        self.0.expected()
    }

    /// A close accepted value, for a misspelled kind or preset.
    pub fn suggestion(&self) -> Option<&str> {
        self.0.suggestion()
    }
}

impl GuestError {
    /// The rule error inside, with every detail.
    pub fn into_rule_error(self) -> rules::RuleError {
        self.0
    }
}

impl From<rules::RuleError> for GuestError {
    fn from(err: rules::RuleError) -> Self {
        GuestError(err)
    }
}

/// Checks a guest size as the API takes it (`cpu_kind`, `cpus`, `memory_mb`), reporting the first
/// problem in that order.
///
/// ```
/// use fly_machines::guest::check_guest;
///
/// assert!(check_guest("performance", 2, 4096).is_ok());
/// let err = check_guest("shared", 1, 300).unwrap_err();
/// assert_eq!(err.setting(), "memory_mb");
/// assert_eq!(
///     err.to_string(),
///     "invalid memory_mb `300`: expected a multiple of 256 from 256 to 2048 for 1 shared CPU",
/// );
/// ```
pub fn check_guest(cpu_kind: &str, cpus: i64, memory_mb: i64) -> Result<(), GuestError> {
    rules::check_guest(cpu_kind, cpus, memory_mb)?;
    Ok(())
}

/// A checked guest size: a CPU kind, a CPU count and memory that Fly accepts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guest {
    cpu_kind: CpuKind,
    cpus: u32,
    memory_mb: u32,
}

impl Guest {
    /// A guest of `cpus` CPUs of `cpu_kind` with `memory_mb` of memory, if Fly accepts it.
    pub fn new(cpu_kind: CpuKind, cpus: u32, memory_mb: u32) -> Result<Guest, GuestError> {
        let cpus = rules::check_cpus(cpu_kind, i64::from(cpus))?;
        let memory_mb = rules::check_memory_mb(cpu_kind, cpus, i64::from(memory_mb))?;
        Ok(Guest {
            cpu_kind,
            cpus,
            memory_mb,
        })
    }

    /// The guest of a named preset, such as `"shared-cpu-1x"` or `"performance-2x"`.
    pub fn preset(name: &str) -> Result<Guest, GuestError> {
        Ok(Guest::from(GuestPreset::parse(name)?))
    }

    /// `cpus` shared CPUs with the least memory allowed for them.
    pub fn shared(cpus: u32) -> Result<Guest, GuestError> {
        Guest::with_least_memory(CpuKind::Shared, cpus)
    }

    /// `cpus` performance CPUs with the least memory allowed for them.
    pub fn performance(cpus: u32) -> Result<Guest, GuestError> {
        Guest::with_least_memory(CpuKind::Performance, cpus)
    }

    fn with_least_memory(cpu_kind: CpuKind, cpus: u32) -> Result<Guest, GuestError> {
        let cpus = rules::check_cpus(cpu_kind, i64::from(cpus))?;
        Ok(Guest {
            cpu_kind,
            cpus,
            memory_mb: cpu_kind.memory_range_mb(cpus).0,
        })
    }

    /// The same CPUs with `memory_mb` of memory, if Fly accepts it for them.
    pub fn with_memory_mb(self, memory_mb: u32) -> Result<Guest, GuestError> {
        Guest::new(self.cpu_kind, self.cpus, memory_mb)
    }

    /// The CPU kind.
    pub fn cpu_kind(&self) -> CpuKind {
        self.cpu_kind
    }

    /// The number of CPUs.
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// The memory, in MB.
    pub fn memory_mb(&self) -> u32 {
        self.memory_mb
    }

    /// The memory range, in MB, Fly accepts for these CPUs.
    pub fn memory_range_mb(&self) -> (u32, u32) {
        self.cpu_kind.memory_range_mb(self.cpus)
    }
}

impl From<GuestPreset> for Guest {
    /// The preset's size.
    fn from(preset: GuestPreset) -> Self {
        let row = preset.row();
        Guest {
            cpu_kind: row.cpu_kind,
            cpus: row.cpus,
            memory_mb: row.memory_mb,
        }
    }
}

impl From<Guest> for types::MachineGuest {
    fn from(guest: Guest) -> Self {
        types::MachineGuest {
            cpu_kind: Some(guest.cpu_kind.as_str().to_owned()),
            cpus: Some(i64::from(guest.cpus)),
            memory_mb: Some(i64::from(guest.memory_mb)),
            ..Default::default()
        }
    }
}

impl TryFrom<&types::MachineGuest> for Guest {
    type Error = GuestError;

    /// Checks a raw guest. Unset values take Fly's defaults: `shared`, 1 CPU, and the least memory
    /// allowed for the CPUs.
    fn try_from(raw: &types::MachineGuest) -> Result<Self, Self::Error> {
        let cpu_kind = match raw.cpu_kind.as_deref() {
            Some(kind) => CpuKind::parse(kind)?,
            None => CpuKind::Shared,
        };
        let cpus = rules::check_cpus(cpu_kind, raw.cpus.unwrap_or(1))?;
        let memory_mb = match raw.memory_mb {
            Some(memory) => rules::check_memory_mb(cpu_kind, cpus, memory)?,
            None => cpu_kind.memory_range_mb(cpus).0,
        };
        Ok(Guest {
            cpu_kind,
            cpus,
            memory_mb,
        })
    }
}

impl fmt::Display for Guest {
    /// `2 performance CPUs, 4096 MB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.cpus == 1 { "CPU" } else { "CPUs" };
        write!(
            f,
            "{} {} {word}, {} MB",
            self.cpus, self.cpu_kind, self.memory_mb
        )
    }
}

#[cfg(test)]
mod guest_tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_named() {
        assert_eq!(GuestPreset::ALL.len(), GUEST_PRESETS.len());
        for (preset, row) in GuestPreset::ALL.into_iter().zip(GUEST_PRESETS) {
            assert_eq!(preset, row.preset);
            let guest = Guest::preset(preset.name()).unwrap();
            assert_eq!(
                Guest::new(guest.cpu_kind(), guest.cpus(), guest.memory_mb()),
                Ok(guest)
            );
        }
        assert_eq!(
            Guest::preset("performance-2x").unwrap(),
            Guest::new(CpuKind::Performance, 2, 4096).unwrap()
        );
    }

    #[test]
    fn bounds() {
        assert!(Guest::new(CpuKind::Shared, 1, 2048).is_ok());
        assert!(Guest::new(CpuKind::Shared, 1, 2304).is_err());
        assert!(Guest::new(CpuKind::Performance, 16, 32768).is_ok());
        assert!(Guest::new(CpuKind::Shared, 16, 4096).is_err());
        assert!(Guest::new(CpuKind::Performance, 3, 6144).is_err());
        assert_eq!(Guest::performance(4).unwrap().memory_mb(), 8192);
        let err = Guest::shared(4).unwrap().with_memory_mb(1000).unwrap_err();
        assert_eq!(err.setting(), "memory_mb");
        assert_eq!(err.value(), "1000");
        assert_eq!(
            err.expected(),
            "a multiple of 256 from 1024 to 8192 for 4 shared CPUs"
        );
    }

    #[test]
    fn misspelled_names_get_hints() {
        let err = Guest::preset("performace-2x").unwrap_err();
        assert_eq!(err.setting(), "preset");
        assert_eq!(err.suggestion(), Some("performance-2x"));
        let err = check_guest("Shared", 1, 256).unwrap_err();
        assert_eq!(err.suggestion(), Some("shared"));
    }

    #[test]
    fn raw_guests() {
        let raw = types::MachineGuest {
            cpu_kind: Some("performance".into()),
            cpus: Some(2),
            ..Default::default()
        };
        let guest = Guest::try_from(&raw).unwrap();
        assert_eq!(guest.memory_mb(), 4096);
        assert_eq!(guest.to_string(), "2 performance CPUs, 4096 MB");
        let back: types::MachineGuest = guest.into();
        assert_eq!(back.cpu_kind.as_deref(), Some("performance"));
        let bad = types::MachineGuest {
            memory_mb: Some(100),
            ..Default::default()
        };
        assert!(Guest::try_from(&bad).is_err());
    }
}
