//! Which rule a value broke, and the error that says so.

use std::fmt;

/// Which rule a value broke. Each `check_*` function of this crate reports exactly one of these,
/// so callers can match on the rule instead of parsing a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `cpu_kind` must be `shared` or `performance`.
    CpuKind,
    /// The CPU count must be one its kind offers.
    Cpus,
    /// Memory must be a multiple of [`MEMORY_STEP_MB`](crate::MEMORY_STEP_MB) inside the range the CPUs allow.
    MemoryMb,
    /// A guest preset name must be one of [`GUEST_PRESETS`](crate::GUEST_PRESETS).
    Preset,
    /// A port handler must be one of [`HANDLERS`](crate::HANDLERS).
    Handler,
    /// A service protocol must be one of [`PROTOCOLS`](crate::PROTOCOLS).
    Protocol,
    /// A restart policy must be one of [`RESTART_POLICIES`](crate::RESTART_POLICIES).
    RestartPolicy,
    /// `max_retries` is a count, and only goes with the `on-failure` policy.
    MaxRetries,
    /// An autostop value must be one of [`AUTOSTOP_VALUES`](crate::AUTOSTOP_VALUES).
    Autostop,
    /// A stop signal must be one of [`STOP_SIGNALS`](crate::STOP_SIGNALS).
    StopSignal,
    /// A schedule must be one of [`SCHEDULES`](crate::SCHEDULES).
    Schedule,
    /// A health check type must be one of [`CHECK_TYPES`](crate::CHECK_TYPES).
    CheckType,
    /// A health check role must be one of [`CHECK_ROLES`](crate::CHECK_ROLES).
    CheckRole,
    /// An HTTP health check scheme must be one of [`CHECK_SCHEMES`](crate::CHECK_SCHEMES).
    CheckScheme,
    /// What concurrency limits count must be one of [`CONCURRENCY_TYPES`](crate::CONCURRENCY_TYPES).
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
    /// A metadata key: letters, digits, `-`, `_` and `.`, not empty, no `..`, at most 255
    /// characters (it is also a path segment of `metadata/{key}`).
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
    /// An app name must be Fly's: see [`is_app_name`](crate::is_app_name).
    AppName,
    /// A signal sent to a machine must be one of [`SIGNALS`](crate::SIGNALS).
    Signal,
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
            Rule::Signal => "signal",
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
