//! Guest sizes: CPU kinds, CPU counts, memory steps and the named presets.

use crate::wording::list_numbers;
use crate::words::one_of_error;
use crate::{Rule, RuleError};
use std::fmt;
use std::str::FromStr;

/// Memory is sized in steps of this many megabytes.
pub const MEMORY_STEP_MB: u32 = 256;

/// The class of CPU a machine runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuKind {
    /// Burstable vCPUs on shared cores (`"shared"`).
    Shared,
    /// Dedicated cores (`"performance"`).
    Performance,
}

/// What one CPU kind allows: its CPU counts and the memory range per CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRule {
    /// The CPU kind this rule is for.
    pub cpu_kind: CpuKind,
    /// The CPU counts Fly accepts for this kind.
    pub cpus: &'static [u32],
    /// Least memory per CPU, in MB.
    pub min_memory_per_cpu_mb: u32,
    /// Most memory per CPU, in MB.
    pub max_memory_per_cpu_mb: u32,
}

/// The guest size table: one rule per CPU kind, in the order of [`CpuKind`]'s variants.
pub const GUEST_RULES: [GuestRule; 2] = [
    GuestRule {
        cpu_kind: CpuKind::Shared,
        cpus: &[1, 2, 4, 8],
        min_memory_per_cpu_mb: 256,
        max_memory_per_cpu_mb: 2048,
    },
    GuestRule {
        cpu_kind: CpuKind::Performance,
        cpus: &[1, 2, 4, 8, 16],
        min_memory_per_cpu_mb: 2048,
        max_memory_per_cpu_mb: 8192,
    },
];

impl CpuKind {
    /// Every CPU kind.
    pub const ALL: [CpuKind; 2] = [CpuKind::Shared, CpuKind::Performance];

    /// The name Fly uses on the wire: `"shared"` or `"performance"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CpuKind::Shared => "shared",
            CpuKind::Performance => "performance",
        }
    }

    /// The size rule for this kind.
    pub const fn rule(self) -> &'static GuestRule {
        match self {
            CpuKind::Shared => &GUEST_RULES[0],
            CpuKind::Performance => &GUEST_RULES[1],
        }
    }

    /// Parses a wire name, with a "did you mean" hint on a near miss.
    pub fn parse(value: &str) -> Result<CpuKind, RuleError> {
        CpuKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&'static str> = CpuKind::ALL.iter().map(|k| k.as_str()).collect();
                one_of_error(Rule::CpuKind, value, &names)
            })
    }

    /// The memory range, in MB, Fly accepts for `cpus` CPUs of this kind.
    pub fn memory_range_mb(self, cpus: u32) -> (u32, u32) {
        let rule = self.rule();
        (
            rule.min_memory_per_cpu_mb.saturating_mul(cpus),
            rule.max_memory_per_cpu_mb.saturating_mul(cpus),
        )
    }
}

impl fmt::Display for CpuKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CpuKind {
    type Err = RuleError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        CpuKind::parse(value)
    }
}

/// Checks a CPU count for a CPU kind.
pub fn check_cpus(cpu_kind: CpuKind, cpus: i64) -> Result<u32, RuleError> {
    let allowed = cpu_kind.rule().cpus;
    match u32::try_from(cpus) {
        Ok(n) if allowed.contains(&n) => Ok(n),
        _ => Err(RuleError::new(
            Rule::Cpus,
            cpus,
            format!("{} for cpu_kind `{cpu_kind}`", list_numbers(allowed)),
        )),
    }
}

/// Checks that a memory size is a positive multiple of [`MEMORY_STEP_MB`], whatever the CPUs.
pub fn check_memory_step(memory_mb: i64) -> Result<u32, RuleError> {
    match u32::try_from(memory_mb) {
        Ok(n) if n > 0 && n.is_multiple_of(MEMORY_STEP_MB) => Ok(n),
        _ => Err(RuleError::new(
            Rule::MemoryMb,
            memory_mb,
            format!("a positive multiple of {MEMORY_STEP_MB}"),
        )),
    }
}

/// Checks a memory size for `cpus` CPUs of a kind: a multiple of [`MEMORY_STEP_MB`] inside the
/// kind's per-CPU range.
pub fn check_memory_mb(cpu_kind: CpuKind, cpus: u32, memory_mb: i64) -> Result<u32, RuleError> {
    let (min, max) = cpu_kind.memory_range_mb(cpus);
    let cpu_word = if cpus == 1 { "CPU" } else { "CPUs" };
    let expected = format!(
        "a multiple of {MEMORY_STEP_MB} from {min} to {max} for {cpus} {cpu_kind} {cpu_word}"
    );
    match u32::try_from(memory_mb) {
        Ok(n) if n.is_multiple_of(MEMORY_STEP_MB) && (min..=max).contains(&n) => Ok(n),
        _ => Err(RuleError::new(Rule::MemoryMb, memory_mb, expected)),
    }
}

/// Checks a whole guest size, in the order a reader would: the kind, then the CPU count, then the
/// memory. Returns the first problem found.
pub fn check_guest(cpu_kind: &str, cpus: i64, memory_mb: i64) -> Result<CpuKind, RuleError> {
    let kind = CpuKind::parse(cpu_kind)?;
    let cpus = check_cpus(kind, cpus)?;
    check_memory_mb(kind, cpus, memory_mb)?;
    Ok(kind)
}

/// A named guest size, as Fly's `size` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestPreset {
    /// `shared-cpu-1x`: 1 shared CPU, 256 MB.
    SharedCpu1x,
    /// `shared-cpu-2x`: 2 shared CPUs, 512 MB.
    SharedCpu2x,
    /// `shared-cpu-4x`: 4 shared CPUs, 1024 MB.
    SharedCpu4x,
    /// `shared-cpu-8x`: 8 shared CPUs, 2048 MB.
    SharedCpu8x,
    /// `performance-1x`: 1 performance CPU, 2048 MB.
    Performance1x,
    /// `performance-2x`: 2 performance CPUs, 4096 MB.
    Performance2x,
    /// `performance-4x`: 4 performance CPUs, 8192 MB.
    Performance4x,
    /// `performance-8x`: 8 performance CPUs, 16384 MB.
    Performance8x,
    /// `performance-16x`: 16 performance CPUs, 32768 MB.
    Performance16x,
}

/// One row of the preset table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresetRow {
    /// The preset.
    pub preset: GuestPreset,
    /// Its name, e.g. `"shared-cpu-1x"`.
    pub name: &'static str,
    /// Its CPU kind.
    pub cpu_kind: CpuKind,
    /// Its CPU count.
    pub cpus: u32,
    /// Its memory, in MB (the least its kind allows for that many CPUs).
    pub memory_mb: u32,
}

/// The preset table, in the order of [`GuestPreset`]'s variants.
pub const GUEST_PRESETS: [PresetRow; 9] = [
    preset_row(
        GuestPreset::SharedCpu1x,
        "shared-cpu-1x",
        CpuKind::Shared,
        1,
    ),
    preset_row(
        GuestPreset::SharedCpu2x,
        "shared-cpu-2x",
        CpuKind::Shared,
        2,
    ),
    preset_row(
        GuestPreset::SharedCpu4x,
        "shared-cpu-4x",
        CpuKind::Shared,
        4,
    ),
    preset_row(
        GuestPreset::SharedCpu8x,
        "shared-cpu-8x",
        CpuKind::Shared,
        8,
    ),
    preset_row(
        GuestPreset::Performance1x,
        "performance-1x",
        CpuKind::Performance,
        1,
    ),
    preset_row(
        GuestPreset::Performance2x,
        "performance-2x",
        CpuKind::Performance,
        2,
    ),
    preset_row(
        GuestPreset::Performance4x,
        "performance-4x",
        CpuKind::Performance,
        4,
    ),
    preset_row(
        GuestPreset::Performance8x,
        "performance-8x",
        CpuKind::Performance,
        8,
    ),
    preset_row(
        GuestPreset::Performance16x,
        "performance-16x",
        CpuKind::Performance,
        16,
    ),
];

const fn preset_row(
    preset: GuestPreset,
    name: &'static str,
    cpu_kind: CpuKind,
    cpus: u32,
) -> PresetRow {
    PresetRow {
        preset,
        name,
        cpu_kind,
        cpus,
        memory_mb: cpu_kind.rule().min_memory_per_cpu_mb * cpus,
    }
}

impl GuestPreset {
    /// Every preset, smallest shared first.
    pub const ALL: [GuestPreset; 9] = [
        GuestPreset::SharedCpu1x,
        GuestPreset::SharedCpu2x,
        GuestPreset::SharedCpu4x,
        GuestPreset::SharedCpu8x,
        GuestPreset::Performance1x,
        GuestPreset::Performance2x,
        GuestPreset::Performance4x,
        GuestPreset::Performance8x,
        GuestPreset::Performance16x,
    ];

    /// The preset's row in [`GUEST_PRESETS`].
    pub const fn row(self) -> &'static PresetRow {
        &GUEST_PRESETS[self as usize]
    }

    /// The preset's name, e.g. `"performance-2x"`.
    pub const fn name(self) -> &'static str {
        self.row().name
    }

    /// Parses a preset name, with a "did you mean" hint on a near miss.
    pub fn parse(value: &str) -> Result<GuestPreset, RuleError> {
        GUEST_PRESETS
            .iter()
            .find(|row| row.name == value)
            .map(|row| row.preset)
            .ok_or_else(|| {
                let names: Vec<&'static str> = GUEST_PRESETS.iter().map(|row| row.name).collect();
                one_of_error(Rule::Preset, value, &names)
            })
    }
}

impl fmt::Display for GuestPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GuestPreset {
    type Err = RuleError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        GuestPreset::parse(value)
    }
}
