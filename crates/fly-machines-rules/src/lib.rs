//! The rules a Fly machine config must follow, written once.
//!
//! A plain library with no dependencies beyond `std`, read by three users: the
//! `fly-machines-derive` proc-macro crate, where `#[derive(MachineConfig)]` uses it to reject bad
//! attribute values at compile time; the `fly-machines` crate (re-exported as
//! `fly_machines::guest::rules`), whose builders reject the same values at run time; and the
//! emulator's validation. Because all of them read the same tables and call the same functions,
//! they cannot disagree about what Fly accepts, and they word their errors the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which rule a value broke. Each `check_*` function of this crate reports exactly one of these,
/// so callers can match on the rule instead of parsing a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `cpu_kind` must be `shared` or `performance`.
    CpuKind,
    /// The CPU count must be one its kind offers.
    Cpus,
    /// Memory must be a multiple of [`MEMORY_STEP_MB`] inside the range the CPUs allow.
    MemoryMb,
    /// A guest preset name must be one of [`GUEST_PRESETS`].
    Preset,
    /// A port handler must be one of [`HANDLERS`].
    Handler,
    /// A service protocol must be one of [`PROTOCOLS`].
    Protocol,
    /// A restart policy must be one of [`RESTART_POLICIES`].
    RestartPolicy,
    /// `max_retries` is a count, and only goes with the `on-failure` policy.
    MaxRetries,
    /// An autostop value must be one of [`AUTOSTOP_VALUES`].
    Autostop,
    /// A stop signal must be one of [`STOP_SIGNALS`].
    StopSignal,
    /// A schedule must be one of [`SCHEDULES`].
    Schedule,
    /// A health check type must be one of [`CHECK_TYPES`].
    CheckType,
    /// A health check role must be one of [`CHECK_ROLES`].
    CheckRole,
    /// An HTTP health check scheme must be one of [`CHECK_SCHEMES`].
    CheckScheme,
    /// What concurrency limits count must be one of [`CONCURRENCY_TYPES`].
    ConcurrencyType,
    /// A port number must be from 1 to 65535.
    Port,
    /// A port range must not end below its start.
    PortRange,
    /// A count must be 0 or more and fit in 32 bits.
    Count,
    /// A file mode must be from 0 to 0o7777.
    FileMode,
    /// An image reference must be non-empty and without whitespace.
    Image,
    /// A path inside the machine must be absolute.
    GuestPath,
    /// A metadata key must not be empty.
    MetadataKey,
    /// An environment variable name must match `[A-Z_][A-Z0-9_]*`.
    EnvName,
    /// A duration must be a non-negative Go duration such as `15s`.
    GoDuration,
    /// A name that is required must not be empty.
    NotEmpty,
    /// A percentage must be from 1 to 100.
    Percent,
    /// A spot price cap must be a fraction of the full price above 0 and at most 1.
    SpotPrice,
    /// A volume's growth settings must fit together (one way to grow, a threshold to grow at, a
    /// limit not below the size).
    MountGrowth,
    /// An app name must be Fly's: see [`is_app_name`].
    AppName,
}

impl Rule {
    /// A short name for the rule, e.g. `protocol` or `env name`.
    pub const fn name(self) -> &'static str {
        match self {
            Rule::CpuKind => "cpu_kind",
            Rule::Cpus => "cpus",
            Rule::MemoryMb => "memory_mb",
            Rule::Preset => "preset",
            Rule::Handler => "handler",
            Rule::Protocol => "protocol",
            Rule::RestartPolicy => "restart policy",
            Rule::MaxRetries => "max_retries",
            Rule::Autostop => "autostop",
            Rule::StopSignal => "stop signal",
            Rule::Schedule => "schedule",
            Rule::CheckType => "check kind",
            Rule::CheckRole => "check role",
            Rule::CheckScheme => "check protocol",
            Rule::ConcurrencyType => "concurrency kind",
            Rule::Port => "port",
            Rule::PortRange => "port range",
            Rule::Count => "count",
            Rule::FileMode => "file mode",
            Rule::Image => "image",
            Rule::GuestPath => "path",
            Rule::MetadataKey => "metadata key",
            Rule::EnvName => "env name",
            Rule::GoDuration => "duration",
            Rule::NotEmpty => "name",
            Rule::Percent => "percent",
            Rule::SpotPrice => "spot price",
            Rule::MountGrowth => "mount growth",
            Rule::AppName => "app name",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value Fly would refuse: the rule it broke, the setting it was given for, the value itself,
/// and what was expected.
///
/// The `Display` form reads like ``invalid cpus `16`: expected 1, 2, 4 or 8 for cpu_kind `shared` ``
/// (setting, value, what was expected), followed by a "did you mean" hint when an accepted value is
/// close to the one given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    rule: Rule,
    setting: String,
    value: String,
    expected: String,
    suggestion: Option<String>,
}

impl RuleError {
    /// A new error: `value` broke `rule`, where `expected` says what is accepted. The setting is
    /// the rule's own name until [`RuleError::for_setting`] names a more precise one.
    pub fn new(rule: Rule, value: impl fmt::Display, expected: impl Into<String>) -> Self {
        RuleError {
            rule,
            setting: rule.name().to_owned(),
            value: value.to_string(),
            expected: expected.into(),
            suggestion: None,
        }
    }

    /// Names the setting the value was given for, e.g. `internal_port` for a [`Rule::Port`].
    pub fn for_setting(mut self, setting: impl Into<String>) -> Self {
        self.setting = setting.into();
        self
    }

    /// Adds a "did you mean" hint.
    pub fn with_suggestion(mut self, suggestion: Option<impl Into<String>>) -> Self {
        self.suggestion = suggestion.map(Into::into);
        self
    }

    /// The rule the value broke.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The setting the value was given for, e.g. `cpus` or `internal_port`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// The rejected value, as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What would have been accepted.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// An accepted value close to the rejected one, if there is one.
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} `{}`: expected {}",
            self.setting, self.value, self.expected
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleError {}

// ---------------------------------------------------------------------------------------------
// Guest sizes
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Closed sets of words
// ---------------------------------------------------------------------------------------------

/// Handlers the Fly proxy can apply to a public port.
pub const HANDLERS: &[&str] = &["tls", "http", "proxy_proto", "pg_tls", "edge_http"];
/// Transport protocols of a service.
pub const PROTOCOLS: &[&str] = &["tcp", "udp"];
/// Restart policies.
pub const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "spot-price"];
/// The restart policy that `max_retries` belongs to (also Fly's default).
pub const ON_FAILURE: &str = "on-failure";
/// What the proxy may do with an idle machine.
pub const AUTOSTOP_VALUES: &[&str] = &["off", "stop", "suspend"];
/// Signals a machine may be stopped with.
pub const STOP_SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM",
];
/// Schedules a machine may run on.
pub const SCHEDULES: &[&str] = &["hourly", "daily", "weekly", "monthly"];
/// Types of health check (`type` on the wire).
pub const CHECK_TYPES: &[&str] = &["tcp", "http"];
/// Roles of a top-level health check (`kind` on the wire).
pub const CHECK_ROLES: &[&str] = &["informational", "readiness"];
/// Schemes of an HTTP health check (`protocol` on the wire).
pub const CHECK_SCHEMES: &[&str] = &["http", "https"];
/// What a service's concurrency limits count.
pub const CONCURRENCY_TYPES: &[&str] = &["connections", "requests"];

/// Checks that `value` is one of `allowed`, returning the matching table entry.
pub fn check_one_of(
    rule: Rule,
    value: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str, RuleError> {
    allowed
        .iter()
        .copied()
        .find(|word| *word == value)
        .ok_or_else(|| one_of_error(rule, value, allowed))
}

fn one_of_error(rule: Rule, value: &str, allowed: &[&'static str]) -> RuleError {
    RuleError::new(rule, value, list_words(allowed)).with_suggestion(closest(value, allowed))
}

/// Checks a port handler (`tls`, `http`, `proxy_proto`, `pg_tls` or `edge_http`).
pub fn check_handler(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Handler, value, HANDLERS)
}

/// Checks a service protocol (`tcp` or `udp`).
pub fn check_protocol(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Protocol, value, PROTOCOLS)
}

/// Checks a restart policy (`no`, `always`, `on-failure` or `spot-price`).
pub fn check_restart_policy(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::RestartPolicy, value, RESTART_POLICIES)
}

/// Checks that `max_retries` goes with the restart policy it belongs to. With no policy set Fly
/// restarts on failure, so `max_retries` alone is fine.
pub fn check_max_retries(policy: Option<&str>, max_retries: i64) -> Result<u32, RuleError> {
    if let Some(policy) = policy.filter(|p| *p != ON_FAILURE) {
        return Err(RuleError::new(
            Rule::MaxRetries,
            max_retries,
            format!(
                "no max_retries with restart policy `{policy}` (it applies only to `{ON_FAILURE}`)"
            ),
        ));
    }
    u32::try_from(max_retries)
        .map_err(|_| RuleError::new(Rule::MaxRetries, max_retries, "a count of 0 or more"))
}

/// Checks an autostop value (`off`, `stop` or `suspend`).
pub fn check_autostop(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Autostop, value, AUTOSTOP_VALUES)
}

/// Checks a stop signal (`SIGTERM` and friends). `TERM` gets the hint `SIGTERM`.
pub fn check_stop_signal(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::StopSignal, value, STOP_SIGNALS).map_err(|err| {
        let upper = value.to_ascii_uppercase();
        let prefixed = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        match STOP_SIGNALS.iter().find(|s| **s == prefixed) {
            Some(exact) => err.with_suggestion(Some(*exact)),
            None => err,
        }
    })
}

/// Checks a schedule (`hourly`, `daily`, `weekly` or `monthly`).
pub fn check_schedule(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Schedule, value, SCHEDULES)
}

/// Checks a health check type (`tcp` or `http`).
pub fn check_check_type(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckType, value, CHECK_TYPES)
}

/// Checks a top-level health check role (`informational` or `readiness`).
pub fn check_check_role(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckRole, value, CHECK_ROLES)
}

/// Checks an HTTP health check scheme (`http` or `https`).
pub fn check_check_scheme(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckScheme, value, CHECK_SCHEMES)
}

/// Checks what concurrency limits count (`connections` or `requests`).
pub fn check_concurrency_type(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::ConcurrencyType, value, CONCURRENCY_TYPES)
}

// ---------------------------------------------------------------------------------------------
// Numbers, names and paths
// ---------------------------------------------------------------------------------------------

/// Checks a TCP/UDP port number: 1 to 65535.
pub fn check_port(setting: &str, port: i64) -> Result<u16, RuleError> {
    match u16::try_from(port) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(RuleError::new(Rule::Port, port, "a port from 1 to 65535").for_setting(setting)),
    }
}

/// Checks a non-negative count, such as `min_machines_running` or a concurrency limit.
pub fn check_count(setting: &str, value: i64) -> Result<u32, RuleError> {
    u32::try_from(value).map_err(|_| {
        RuleError::new(Rule::Count, value, "a count of 0 or more").for_setting(setting)
    })
}

/// Checks a file permission mode, as `chmod` takes it: 0 to 0o7777.
pub fn check_file_mode(mode: i64) -> Result<u32, RuleError> {
    match u32::try_from(mode) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(RuleError::new(
            Rule::FileMode,
            mode,
            "a permission mode from 0 to 0o7777",
        )),
    }
}

/// Checks an image reference: not empty and without whitespace.
pub fn check_image(value: &str) -> Result<(), RuleError> {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        Err(RuleError::new(
            Rule::Image,
            value,
            "an image reference such as `registry.fly.io/app:tag`, not empty and without spaces",
        ))
    } else {
        Ok(())
    }
}

/// Checks a path inside the machine: it must be absolute.
pub fn check_guest_path(setting: &str, path: &str) -> Result<(), RuleError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        let hint = if path.is_empty() {
            None
        } else {
            Some(format!("/{path}"))
        };
        Err(
            RuleError::new(Rule::GuestPath, path, "an absolute path starting with `/`")
                .for_setting(setting)
                .with_suggestion(hint),
        )
    }
}

/// Checks a metadata key: not empty.
pub fn check_metadata_key(key: &str) -> Result<(), RuleError> {
    if key.is_empty() {
        Err(RuleError::new(
            Rule::MetadataKey,
            key,
            "a key that is not empty",
        ))
    } else {
        Ok(())
    }
}

/// Longest app name Fly takes: the name is a DNS label (`<name>.fly.dev`).
pub const APP_NAME_MAX_LEN: usize = 63;

/// Whether `name` is an app name Fly takes: 1 to [`APP_NAME_MAX_LEN`] lowercase ASCII
/// letters, digits and dashes, neither starting nor ending with a dash (a DNS label, as the app
/// is reached at `<name>.fly.dev`). The client checks names with it before sending and the
/// emulator refuses creates with it, so both hold the same rule.
pub fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= APP_NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks an app name against [`is_app_name`], suggesting the lowercase spelling where that
/// would do (`My-App` -> `my-app`).
pub fn check_app_name(name: &str) -> Result<(), RuleError> {
    if is_app_name(name) {
        return Ok(());
    }
    let fixed: String = name
        .chars()
        .map(|c| match c {
            '_' | ' ' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let fixed = fixed.trim_matches('-').to_string();
    let hint = Some(fixed).filter(|f| is_app_name(f) && f != name);
    Err(RuleError::new(
        Rule::AppName,
        name,
        "1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash",
    )
    .with_suggestion(hint))
}

/// Whether `name` is a valid environment variable name: `[A-Z_][A-Z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_uppercase() || first == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Checks an environment variable name against `[A-Z_][A-Z0-9_]*`, suggesting a fixed spelling.
pub fn check_env_name(name: &str) -> Result<(), RuleError> {
    if is_env_name(name) {
        return Ok(());
    }
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if fixed.starts_with(|c: char| c.is_ascii_digit()) {
        fixed.insert(0, '_');
    }
    let hint = Some(fixed).filter(|f| is_env_name(f) && f != name);
    Err(
        RuleError::new(Rule::EnvName, name, "a name matching `[A-Z_][A-Z0-9_]*`")
            .with_suggestion(hint),
    )
}

/// The environment variable name a field gets from `#[machine(env)]`: its name in upper case
/// (`queue_name` gives `QUEUE_NAME`). A raw identifier loses its `r#`.
pub fn env_name_for_field(field: &str) -> String {
    field
        .strip_prefix("r#")
        .unwrap_or(field)
        .to_ascii_uppercase()
}

// ---------------------------------------------------------------------------------------------
// Spot pricing and volume growth
// ---------------------------------------------------------------------------------------------

/// Checks a percentage such as `extend_threshold_percent` or `add_size_percent`: 1 to 100.
///
/// A threshold of 0 would grow a volume at every check and one above 100 never; growing by more
/// than the current size in one step is refused too, so a typo cannot run away with the disk.
pub fn check_percent(setting: &str, value: i64) -> Result<u8, RuleError> {
    match u8::try_from(value) {
        Ok(p) if (1..=100).contains(&p) => Ok(p),
        _ => Err(
            RuleError::new(Rule::Percent, value, "a percentage from 1 to 100").for_setting(setting),
        ),
    }
}

/// Checks `spot.max_price_fraction`, the share of the full machine price a spot machine may cost:
/// above 0 and at most 1.
pub fn check_spot_price_fraction(value: f64) -> Result<f64, RuleError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(RuleError::new(
            Rule::SpotPrice,
            value,
            "a fraction of the full price above 0 and at most 1, such as 0.5",
        )
        .for_setting("max_price_fraction"))
    }
}

/// A mount's size and automatic growth settings, as given (`None` when not set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountGrowth {
    /// `size_gb`: the volume's size when created.
    pub size_gb: Option<i64>,
    /// `extend_threshold_percent`: grow when this share of the volume is used.
    pub extend_threshold_percent: Option<i64>,
    /// `add_size_gb`: grow by this many GB.
    pub add_size_gb: Option<i64>,
    /// `add_size_percent`: grow by this share of the current size.
    pub add_size_percent: Option<i64>,
    /// `min_add_size_gb`: the least a percentage growth adds.
    pub min_add_size_gb: Option<i64>,
    /// `size_gb_limit`: never grow past this size.
    pub size_gb_limit: Option<i64>,
}

/// Checks a mount's growth settings, each value and how they fit together. Every problem is
/// returned (empty when all is well); each error's [`RuleError::setting`] names the setting to
/// fix, so a caller can point at it.
///
/// * sizes are counts; percentages are from 1 to 100 ([`check_percent`]);
/// * `add_size_gb` and `add_size_percent` are two ways to grow: give one;
/// * `min_add_size_gb` only bounds a growth by percentage;
/// * growth settings do nothing without `extend_threshold_percent`, the usage that triggers it;
/// * `size_gb_limit` is not below `size_gb`.
pub fn check_mount_growth(growth: &MountGrowth) -> Vec<RuleError> {
    let mut errors = Vec::new();
    let counts = [
        ("size_gb", growth.size_gb),
        ("add_size_gb", growth.add_size_gb),
        ("min_add_size_gb", growth.min_add_size_gb),
        ("size_gb_limit", growth.size_gb_limit),
    ];
    for (setting, value) in counts {
        if let Some(Err(err)) = value.map(|v| check_count(setting, v)) {
            errors.push(err);
        }
    }
    let percents = [
        ("extend_threshold_percent", growth.extend_threshold_percent),
        ("add_size_percent", growth.add_size_percent),
    ];
    for (setting, value) in percents {
        if let Some(Err(err)) = value.map(|v| check_percent(setting, v)) {
            errors.push(err);
        }
    }
    let growth_error = |setting: &str, value: i64, expected: &str| {
        RuleError::new(Rule::MountGrowth, value, expected).for_setting(setting)
    };
    if let (Some(_), Some(percent)) = (growth.add_size_gb, growth.add_size_percent) {
        errors.push(growth_error(
            "add_size_percent",
            percent,
            "either `add_size_gb` or `add_size_percent`, not both",
        ));
    }
    if let (Some(min), None) = (growth.min_add_size_gb, growth.add_size_percent) {
        errors.push(growth_error(
            "min_add_size_gb",
            min,
            "`add_size_percent` beside it: the minimum bounds a growth by percentage",
        ));
    }
    let first_growth_setting = [
        ("add_size_gb", growth.add_size_gb),
        ("add_size_percent", growth.add_size_percent),
        ("min_add_size_gb", growth.min_add_size_gb),
        ("size_gb_limit", growth.size_gb_limit),
    ]
    .into_iter()
    .find_map(|(setting, value)| value.map(|v| (setting, v)));
    if let (None, Some((setting, value))) = (growth.extend_threshold_percent, first_growth_setting)
    {
        errors.push(growth_error(
            setting,
            value,
            "`extend_threshold_percent` too: without it the volume never grows",
        ));
    }
    if let (Some(size), Some(limit)) = (growth.size_gb, growth.size_gb_limit)
        && limit < size
    {
        errors.push(growth_error(
            "size_gb_limit",
            limit,
            &format!("a limit no lower than size_gb {size}"),
        ));
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Go durations
// ---------------------------------------------------------------------------------------------

/// Parses a Go duration string as Fly's API takes it, such as `"15s"`, `"1m30s"`, `"500ms"` or
/// `"1.5h"`: one or more numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a
/// bare `"0"`. Negative durations are refused; they make no sense in a machine config.
pub fn parse_go_duration(value: &str) -> Result<Duration, RuleError> {
    let error = || {
        RuleError::new(
            Rule::GoDuration,
            value,
            "a Go duration such as `15s`, `1m30s` or `500ms`",
        )
    };
    let rest = value.strip_prefix('+').unwrap_or(value);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(error());
    }
    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after_dot.len());
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(error());
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(error()),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| error())?
        };
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(error)?;
        // The fraction: as many digits as are meaningful at nanosecond precision.
        let mut scale = unit_nanos;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos = nanos.saturating_add(u128::from(digit - b'0') * scale);
        }
        total = total.checked_add(nanos).ok_or_else(error)?;
        rest = after_unit;
    }
    // Go keeps durations in an i64 of nanoseconds.
    if total > i64::MAX as u128 {
        return Err(error());
    }
    let secs = (total / 1_000_000_000) as u64;
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Writes a duration as a Go duration string that [`parse_go_duration`] reads back exactly, using
/// the largest unit that divides it (`90s` stays `90s`, 2 minutes becomes `2m`).
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (size, unit) in UNITS {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

// ---------------------------------------------------------------------------------------------
// Wire encodings
// ---------------------------------------------------------------------------------------------

/// Encodes file contents the way Fly's `files[].raw_value` carries them: standard base64 with
/// padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        out.push(char::from(ALPHABET[(n >> 18) as usize & 63]));
        out.push(char::from(ALPHABET[(n >> 12) as usize & 63]));
        if chunk.len() > 1 {
            out.push(char::from(ALPHABET[(n >> 6) as usize & 63]));
        } else {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(char::from(ALPHABET[n as usize & 63]));
        } else {
            out.push('=');
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wording helpers
// ---------------------------------------------------------------------------------------------

/// The accepted word closest to `value`, if one is close enough to be a likely typo: the same
/// word in another case, or one at most a third of its length in edits away.
pub fn closest(value: &str, candidates: &[&'static str]) -> Option<&'static str> {
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(value)) {
        return Some(same);
    }
    let lowered = value.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lowered, &c.to_lowercase()), *c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Edits (insertions, deletions, substitutions and swaps of neighbours) between `a` and `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: edits between the first i chars of `a` and the first j of `b`.
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

fn list_words(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    join_or(&quoted)
}

fn list_numbers(numbers: &[u32]) -> String {
    let written: Vec<String> = numbers.iter().map(u32::to_string).collect();
    join_or(&written)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_table_matches_fly_bounds() {
        assert_eq!(CpuKind::Shared.rule().cpus, &[1, 2, 4, 8]);
        assert_eq!(CpuKind::Performance.rule().cpus, &[1, 2, 4, 8, 16]);
        assert_eq!(CpuKind::Shared.memory_range_mb(2), (512, 4096));
        assert_eq!(CpuKind::Performance.memory_range_mb(2), (4096, 16384));
        for kind in CpuKind::ALL {
            assert_eq!(kind.rule().cpu_kind, kind);
        }
    }

    #[test]
    fn guest_checks() {
        assert_eq!(
            check_guest("performance", 2, 4096),
            Ok(CpuKind::Performance)
        );
        assert_eq!(check_guest("shared", 1, 256), Ok(CpuKind::Shared));
        let err = check_guest("perfomance", 2, 4096).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid cpu_kind `perfomance`: expected `shared` or `performance`; did you mean `performance`?"
        );
        let err = check_guest("shared", 16, 4096).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid cpus `16`: expected 1, 2, 4 or 8 for cpu_kind `shared`"
        );
        let err = check_guest("shared", 1, 300).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid memory_mb `300`: expected a multiple of 256 from 256 to 2048 for 1 shared CPU"
        );
        assert!(check_guest("performance", 1, 1024).is_err());
        assert!(check_guest("performance", 1, 8448).is_err());
        assert!(check_guest("performance", 16, 131072).is_ok());
        assert!(check_memory_step(0).is_err());
        assert!(check_memory_step(-256).is_err());
    }

    #[test]
    fn each_check_names_the_rule_it_enforces() {
        let rule_of = |result: Result<(), RuleError>| result.unwrap_err().rule();
        let cases = [
            (
                rule_of(check_guest("tiny", 1, 256).map(drop)),
                Rule::CpuKind,
            ),
            (rule_of(check_guest("shared", 3, 768).map(drop)), Rule::Cpus),
            (
                rule_of(check_guest("shared", 1, 300).map(drop)),
                Rule::MemoryMb,
            ),
            (rule_of(check_memory_step(100).map(drop)), Rule::MemoryMb),
            (rule_of(GuestPreset::parse("huge").map(drop)), Rule::Preset),
            (rule_of(check_handler("h3").map(drop)), Rule::Handler),
            (rule_of(check_protocol("sctp").map(drop)), Rule::Protocol),
            (
                rule_of(check_restart_policy("sometimes").map(drop)),
                Rule::RestartPolicy,
            ),
            (
                rule_of(check_max_retries(Some("no"), 1).map(drop)),
                Rule::MaxRetries,
            ),
            (rule_of(check_autostop("pause").map(drop)), Rule::Autostop),
            (
                rule_of(check_stop_signal("SIGSTOP").map(drop)),
                Rule::StopSignal,
            ),
            (rule_of(check_schedule("yearly").map(drop)), Rule::Schedule),
            (rule_of(check_check_type("grpc").map(drop)), Rule::CheckType),
            (
                rule_of(check_check_role("liveness").map(drop)),
                Rule::CheckRole,
            ),
            (
                rule_of(check_check_scheme("ftp").map(drop)),
                Rule::CheckScheme,
            ),
            (
                rule_of(check_concurrency_type("bytes").map(drop)),
                Rule::ConcurrencyType,
            ),
            (
                rule_of(check_port("internal_port", 0).map(drop)),
                Rule::Port,
            ),
            (
                rule_of(check_count("soft_limit", -1).map(drop)),
                Rule::Count,
            ),
            (rule_of(check_file_mode(-1).map(drop)), Rule::FileMode),
            (rule_of(check_image("a b")), Rule::Image),
            (
                rule_of(check_guest_path("mount path", "data")),
                Rule::GuestPath,
            ),
            (rule_of(check_metadata_key("")), Rule::MetadataKey),
            (rule_of(check_env_name("a-b")), Rule::EnvName),
            (rule_of(check_app_name("My_App")), Rule::AppName),
            (
                rule_of(parse_go_duration("soon").map(drop)),
                Rule::GoDuration,
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn errors_keep_rule_setting_value_and_expectation_apart() {
        let err = check_port("internal_port", 70000).unwrap_err();
        assert_eq!(err.rule(), Rule::Port);
        assert_eq!(err.rule().name(), "port");
        assert_eq!(err.setting(), "internal_port");
        assert_eq!(err.value(), "70000");
        assert_eq!(err.expected(), "a port from 1 to 65535");
        assert_eq!(
            err.to_string(),
            "invalid internal_port `70000`: expected a port from 1 to 65535"
        );
        let err = check_protocol("UDP").unwrap_err();
        assert_eq!(err.setting(), "protocol");
        assert_eq!(err.suggestion(), Some("udp"));
        assert_eq!(
            err.to_string(),
            "invalid protocol `UDP`: expected `tcp` or `udp`; did you mean `udp`?"
        );
    }

    #[test]
    fn presets_follow_the_table() {
        for row in GUEST_PRESETS {
            assert_eq!(row.preset.row(), &row);
            assert_eq!(GuestPreset::parse(row.name), Ok(row.preset));
            assert!(
                check_guest(
                    row.cpu_kind.as_str(),
                    i64::from(row.cpus),
                    i64::from(row.memory_mb)
                )
                .is_ok()
            );
        }
        assert_eq!(GuestPreset::Performance2x.row().memory_mb, 4096);
        let err = GuestPreset::parse("shared-cpu-1").unwrap_err();
        assert_eq!(err.suggestion(), Some("shared-cpu-1x"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            check_handler("htpp").unwrap_err().suggestion(),
            Some("http")
        );
        assert_eq!(check_protocol("TCP").unwrap_err().suggestion(), Some("tcp"));
        assert_eq!(
            check_restart_policy("on_failure").unwrap_err().suggestion(),
            Some("on-failure")
        );
        assert_eq!(
            check_autostop("suspnd").unwrap_err().suggestion(),
            Some("suspend")
        );
        assert_eq!(
            check_stop_signal("TERM").unwrap_err().suggestion(),
            Some("SIGTERM")
        );
        assert_eq!(
            check_stop_signal("sigint").unwrap_err().suggestion(),
            Some("SIGINT")
        );
        assert_eq!(check_handler("websocket").unwrap_err().suggestion(), None);
        assert_eq!(closest("imgae", &["image"]), Some("image"));
        assert_eq!(
            closest("shraed", &["shared", "performance"]),
            Some("shared")
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            check_handler("websocket").unwrap_err().to_string(),
            "invalid handler `websocket`: expected `tls`, `http`, `proxy_proto`, `pg_tls` or `edge_http`"
        );
    }

    #[test]
    fn restart_rules() {
        assert_eq!(check_max_retries(Some("on-failure"), 3), Ok(3));
        assert_eq!(check_max_retries(None, 3), Ok(3));
        assert!(check_max_retries(Some("always"), 3).is_err());
        assert!(check_max_retries(None, -1).is_err());
    }

    #[test]
    fn ports_and_paths() {
        assert_eq!(check_port("port", 443), Ok(443));
        assert!(check_port("port", 0).is_err());
        assert!(check_port("port", 65536).is_err());
        assert!(check_guest_path("mount path", "/data").is_ok());
        assert_eq!(
            check_guest_path("mount path", "data")
                .unwrap_err()
                .suggestion(),
            Some("/data")
        );
        assert!(check_file_mode(0o644).is_ok());
        assert!(check_file_mode(0o10000).is_err());
        assert!(check_image("nginx:latest").is_ok());
        assert!(check_image("").is_err());
        assert!(check_image("nginx latest").is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("QUEUE_NAME"));
        assert!(is_env_name("_X1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("queue_name"));
        assert!(!is_env_name(""));
        assert_eq!(env_name_for_field("queue_name"), "QUEUE_NAME");
        assert_eq!(env_name_for_field("r#type"), "TYPE");
        assert_eq!(
            check_env_name("db-url").unwrap_err().suggestion(),
            Some("DB_URL")
        );
        assert_eq!(check_env_name("1x").unwrap_err().suggestion(), Some("_1X"));
    }

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("15s"), Duration::from_secs(15));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("2us"), Duration::from_micros(2));
        assert_eq!(ok("2µs"), Duration::from_micros(2));
        assert_eq!(ok("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
        assert_eq!(ok("+3s"), Duration::from_secs(3));
        for bad in [
            "",
            "15",
            "15 s",
            "s",
            "-5s",
            "1.s.",
            "5d",
            "1e3s",
            ".s",
            "99999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            parse_go_duration("15 seconds").unwrap_err().to_string(),
            "invalid duration `15 seconds`: expected a Go duration such as `15s`, `1m30s` or `500ms`"
        );
        for d in [
            Duration::ZERO,
            Duration::from_secs(90),
            Duration::from_secs(7200),
            Duration::from_millis(1500),
            Duration::new(1, 1),
        ] {
            assert_eq!(ok(&format_go_duration(d)), d);
        }
        assert_eq!(format_go_duration(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn base64() {
        assert_eq!(encode_base64(b""), "");
        assert_eq!(encode_base64(b"f"), "Zg==");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        assert_eq!(encode_base64(b"foo"), "Zm9v");
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
    #[test]
    fn spot_price_fractions() {
        assert_eq!(check_spot_price_fraction(0.5), Ok(0.5));
        assert_eq!(check_spot_price_fraction(1.0), Ok(1.0));
        for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
            let err = check_spot_price_fraction(bad).unwrap_err();
            assert_eq!(err.rule(), Rule::SpotPrice, "{bad}");
            assert_eq!(err.setting(), "max_price_fraction");
        }
        assert_eq!(
            check_spot_price_fraction(1.5).unwrap_err().to_string(),
            "invalid max_price_fraction `1.5`: expected a fraction of the full price above 0 \
             and at most 1, such as 0.5"
        );
    }

    #[test]
    fn percentages() {
        assert_eq!(check_percent("add_size_percent", 1), Ok(1));
        assert_eq!(check_percent("add_size_percent", 100), Ok(100));
        for bad in [0, 101, -5, i64::MAX] {
            let err = check_percent("extend_threshold_percent", bad).unwrap_err();
            assert_eq!(
                (err.rule(), err.setting()),
                (Rule::Percent, "extend_threshold_percent")
            );
        }
    }

    #[test]
    fn mount_growth_rules_name_the_setting_to_fix() {
        let settings = |growth: MountGrowth| -> Vec<(Rule, String)> {
            check_mount_growth(&growth)
                .into_iter()
                .map(|e| (e.rule(), e.setting().to_owned()))
                .collect()
        };
        let fine = MountGrowth {
            size_gb: Some(10),
            extend_threshold_percent: Some(80),
            add_size_percent: Some(20),
            min_add_size_gb: Some(2),
            size_gb_limit: Some(100),
            ..Default::default()
        };
        assert!(check_mount_growth(&fine).is_empty());
        assert!(check_mount_growth(&MountGrowth::default()).is_empty());
        // A threshold alone is accepted: the step is then left to Fly.
        assert!(
            check_mount_growth(&MountGrowth {
                extend_threshold_percent: Some(90),
                ..Default::default()
            })
            .is_empty()
        );
        assert_eq!(
            settings(MountGrowth {
                add_size_gb: Some(5),
                ..fine
            }),
            [(Rule::MountGrowth, "add_size_percent".into())]
        );
        assert_eq!(
            settings(MountGrowth {
                add_size_percent: None,
                add_size_gb: Some(5),
                ..fine
            }),
            [(Rule::MountGrowth, "min_add_size_gb".into())]
        );
        assert_eq!(
            settings(MountGrowth {
                extend_threshold_percent: None,
                ..fine
            }),
            [(Rule::MountGrowth, "add_size_percent".into())]
        );
        assert_eq!(
            settings(MountGrowth {
                size_gb_limit: Some(5),
                ..fine
            }),
            [(Rule::MountGrowth, "size_gb_limit".into())]
        );
        assert_eq!(
            settings(MountGrowth {
                add_size_percent: Some(150),
                extend_threshold_percent: Some(0),
                min_add_size_gb: Some(-1),
                ..fine
            }),
            [
                (Rule::Count, "min_add_size_gb".into()),
                (Rule::Percent, "extend_threshold_percent".into()),
                (Rule::Percent, "add_size_percent".into()),
            ]
        );
    }
}
