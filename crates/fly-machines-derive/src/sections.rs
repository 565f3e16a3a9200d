//! The nested sections of `#[machine(...)]`: `guest(...)`, `service(...)`, `check(...)` and the
//! rest. Each is read by a derived darling `FromMeta` (unknown keys get "did you mean"), its values
//! are checked by their own types (see `values`), and problems spanning several values are checked
//! by [`Check`] with every error collected.

use darling::{Error, FromMeta};
use proc_macro2::Span;

use crate::rules::{self, CpuKind, GuestPreset};
use crate::values::{
    Autostop, Check, CheckRole, CheckScheme, CheckType, Checked, ConcurrencyType, Count, EnvKeys,
    FileMode, Float, GoDuration, GuestPath, Handlers, Int, Map, Port, Protocol, RestartPolicy,
    SpotFraction, StopSignal, Str, StrList, error_at, rule_error,
};

/// `guest(preset = "...", cpu_kind = "...", cpus = N, memory_mb = N, gpu_kind = "...", gpus = N,
/// kernel_args = [...])`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct GuestAttr {
    pub preset: Option<Str>,
    pub cpu_kind: Option<Str>,
    pub cpus: Option<Int>,
    pub memory_mb: Option<Int>,
    pub gpu_kind: Option<Str>,
    pub gpus: Option<Count>,
    pub kernel_args: Option<StrList>,
    /// What to send: the preset's values overridden by the ones given. Filled in by `check`.
    #[darling(skip)]
    pub resolved: ResolvedGuest,
}

/// The guest values to send, after the preset is applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResolvedGuest {
    pub cpu_kind: Option<&'static str>,
    pub cpus: Option<i64>,
    pub memory_mb: Option<i64>,
}

impl Check for GuestAttr {
    fn check(mut self, _whole: Span) -> darling::Result<Self> {
        let mut acc = Error::accumulator();
        let preset = self.preset.as_ref().and_then(|p| {
            acc.handle(GuestPreset::parse(&p.value).map_err(|err| rule_error(p.span, err)))
        });
        let preset_row = preset.map(GuestPreset::row);

        // The kind: given, else the preset's, else Fly's default. Unknown when misspelled, in
        // which case only the checks that do not depend on it are made.
        let kind = match &self.cpu_kind {
            Some(k) => acc.handle(CpuKind::parse(&k.value).map_err(|err| rule_error(k.span, err))),
            None => Some(preset_row.map_or(CpuKind::Shared, |row| row.cpu_kind)),
        };
        let cpus = match (&self.cpus, kind) {
            (Some(c), Some(kind)) => {
                acc.handle(rules::check_cpus(kind, c.value).map_err(|err| rule_error(c.span, err)))
            }
            (Some(_), None) => None,
            (None, _) => Some(preset_row.map_or(1, |row| row.cpus)),
        };
        if let Some(m) = &self.memory_mb {
            let checked = match (kind, cpus) {
                (Some(kind), Some(cpus)) => rules::check_memory_mb(kind, cpus, m.value),
                _ => rules::check_memory_step(m.value),
            };
            acc.handle(checked.map_err(|err| rule_error(m.span, err)));
        }

        self.resolved = ResolvedGuest {
            cpu_kind: match (&self.cpu_kind, preset_row) {
                (Some(_), _) => kind.map(CpuKind::as_str),
                (None, Some(row)) => Some(row.cpu_kind.as_str()),
                (None, None) => None,
            },
            cpus: self
                .cpus
                .map(|c| c.value)
                .or(preset_row.map(|row| i64::from(row.cpus))),
            memory_mb: self
                .memory_mb
                .map(|m| m.value)
                .or(preset_row.map(|row| i64::from(row.memory_mb))),
        };
        acc.finish_with(self)
    }
}

/// `restart(policy = "...", max_retries = N, gpu_bid_price = F)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct RestartAttr {
    pub policy: Option<RestartPolicy>,
    pub max_retries: Option<Int>,
    pub gpu_bid_price: Option<Float>,
}

impl Check for RestartAttr {
    fn check(self, _whole: Span) -> darling::Result<Self> {
        if let Some(retries) = &self.max_retries {
            rules::check_max_retries(self.policy.as_ref().map(|p| p.value), retries.value)
                .map_err(|err| rule_error(retries.span, err))?;
        }
        Ok(self)
    }
}

/// `service(protocol = "tcp", internal_port = N, autostop = "...", autostart,
/// min_machines_running = N, port(...)..., concurrency(...), check(...)...)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct ServiceAttr {
    pub protocol: Option<Protocol>,
    pub internal_port: Port,
    pub autostop: Option<Autostop>,
    pub autostart: Option<bool>,
    pub min_machines_running: Option<Count>,
    #[darling(multiple, rename = "port")]
    pub ports: Vec<Checked<PortAttr>>,
    pub concurrency: Option<ConcurrencyAttr>,
    #[darling(multiple, rename = "check")]
    pub checks: Vec<Checked<ServiceCheckAttr>>,
}

/// `port(port = N | start_port = N, end_port = N, handlers = [...], force_https)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct PortAttr {
    pub port: Option<Port>,
    pub start_port: Option<Port>,
    pub end_port: Option<Port>,
    pub handlers: Option<Handlers>,
    pub force_https: Option<bool>,
}

impl Check for PortAttr {
    fn check(self, whole: Span) -> darling::Result<Self> {
        match (&self.port, &self.start_port, &self.end_port) {
            (Some(_), None, None) => Ok(self),
            (None, Some(start), Some(end)) => {
                if start.0.value > end.0.value {
                    Err(rule_error(
                        end.0.span,
                        rules::RuleError::new(
                            rules::Rule::PortRange,
                            end.0.value,
                            format!("a port no lower than start_port {}", start.0.value),
                        )
                        .for_setting("end_port"),
                    ))
                } else {
                    Ok(self)
                }
            }
            (Some(_), _, _) => Err(error_at(
                whole,
                "give either `port` or `start_port` and `end_port`, not both",
            )),
            _ => Err(error_at(
                whole,
                "a port needs `port = N`, or `start_port = N, end_port = M` for a range",
            )),
        }
    }
}

/// `concurrency(kind = "connections" | "requests", soft_limit = N, hard_limit = N)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct ConcurrencyAttr {
    pub kind: Option<ConcurrencyType>,
    pub soft_limit: Option<Count>,
    pub hard_limit: Option<Count>,
}

/// The settings a top-level check and a service check share.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct CheckCommon {
    pub kind: CheckType,
    pub port: Option<Port>,
    pub path: Option<Str>,
    pub method: Option<Str>,
    pub protocol: Option<CheckScheme>,
    pub interval: Option<GoDuration>,
    pub timeout: Option<GoDuration>,
    pub grace_period: Option<GoDuration>,
    pub tls_server_name: Option<Str>,
    pub tls_skip_verify: Option<bool>,
}

/// `check(name = "...", kind = "tcp" | "http", role = "...", port = N, path = "...", ...)` at the
/// top level: a named machine check.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct CheckAttr {
    pub name: Str,
    pub role: Option<CheckRole>,
    #[darling(flatten)]
    pub common: CheckCommon,
}

impl Check for CheckAttr {
    fn check(self, _whole: Span) -> darling::Result<Self> {
        if self.name.value.is_empty() {
            return Err(rule_error(
                self.name.span,
                rules::RuleError::new(rules::Rule::NotEmpty, "", "a name that is not empty")
                    .for_setting("check name"),
            ));
        }
        check_http_only(&self.common)?;
        Ok(self)
    }
}

/// `check(kind = ..., port = N, ...)` inside a service.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct ServiceCheckAttr {
    #[darling(flatten)]
    pub common: CheckCommon,
}

impl Check for ServiceCheckAttr {
    fn check(self, _whole: Span) -> darling::Result<Self> {
        check_http_only(&self.common)?;
        Ok(self)
    }
}

/// `path`, `method` and `protocol` mean something only to HTTP checks.
fn check_http_only(common: &CheckCommon) -> darling::Result<()> {
    if common.kind.value == "http" {
        return Ok(());
    }
    let mut acc = Error::accumulator();
    let spans = [
        ("path", common.path.as_ref().map(|s| s.span)),
        ("method", common.method.as_ref().map(|s| s.span)),
    ];
    for (key, span) in spans {
        if let Some(span) = span {
            acc.push(error_at(
                span,
                format!("`{key}` only applies to checks of kind `http`"),
            ));
        }
    }
    acc.finish()
}

/// `mount(volume = "...", path = "/...", name = "...", size_gb = N, encrypted,
/// extend_threshold_percent = N, add_size_gb = N | add_size_percent = N, min_add_size_gb = N,
/// size_gb_limit = N)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct MountAttr {
    pub volume: Str,
    pub path: GuestPath,
    pub name: Option<Str>,
    pub encrypted: Option<bool>,
    // Sizes and growth are checked together by the rule table (see `Check`), which names the
    // setting at fault; the error is then put on that setting's value.
    pub size_gb: Option<Int>,
    pub extend_threshold_percent: Option<Int>,
    pub add_size_gb: Option<Int>,
    pub add_size_percent: Option<Int>,
    pub min_add_size_gb: Option<Int>,
    pub size_gb_limit: Option<Int>,
}

impl Check for MountAttr {
    fn check(self, whole: Span) -> darling::Result<Self> {
        let value = |v: Option<Int>| v.map(|v| v.value);
        let growth = rules::MountGrowth {
            size_gb: value(self.size_gb),
            extend_threshold_percent: value(self.extend_threshold_percent),
            add_size_gb: value(self.add_size_gb),
            add_size_percent: value(self.add_size_percent),
            min_add_size_gb: value(self.min_add_size_gb),
            size_gb_limit: value(self.size_gb_limit),
        };
        let span_of = |setting: &str| {
            match setting {
                "size_gb" => self.size_gb,
                "extend_threshold_percent" => self.extend_threshold_percent,
                "add_size_gb" => self.add_size_gb,
                "add_size_percent" => self.add_size_percent,
                "min_add_size_gb" => self.min_add_size_gb,
                "size_gb_limit" => self.size_gb_limit,
                _ => None,
            }
            .map_or(whole, |v| v.span)
        };
        let mut acc = Error::accumulator();
        for err in rules::check_mount_growth(&growth) {
            acc.push(rule_error(span_of(err.setting()), err));
        }
        acc.finish_with(self)
    }
}

/// `spot(max_price_fraction = 0.5)`: run on spot capacity, paying at most this share of the
/// full price.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct SpotAttr {
    pub max_price_fraction: SpotFraction,
}

/// `stop(signal = "SIGTERM", timeout = "30s")`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct StopAttr {
    pub signal: Option<StopSignal>,
    pub timeout: Option<GoDuration>,
}

/// `init(cmd = [...], entrypoint = [...], exec = [...], kernel_args = [...], tty,
/// swap_size_mb = N)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct InitAttr {
    pub cmd: Option<StrList>,
    pub entrypoint: Option<StrList>,
    pub exec: Option<StrList>,
    pub kernel_args: Option<StrList>,
    pub tty: Option<bool>,
    pub swap_size_mb: Option<Count>,
}

/// `dns(hostname = "...", hostname_fqdn = "...", nameservers = [...], searches = [...],
/// skip_registration)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct DnsAttr {
    pub hostname: Option<Str>,
    pub hostname_fqdn: Option<Str>,
    pub nameservers: Option<StrList>,
    pub searches: Option<StrList>,
    pub skip_registration: Option<bool>,
}

/// `file(guest_path = "/...", contents = "..." | secret_name = "...", mode = 0o644)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct FileAttr {
    pub guest_path: GuestPath,
    pub contents: Option<Str>,
    pub secret_name: Option<Str>,
    pub mode: Option<FileMode>,
}

impl Check for FileAttr {
    fn check(self, whole: Span) -> darling::Result<Self> {
        match (&self.contents, &self.secret_name) {
            (Some(_), None) | (None, Some(_)) => Ok(self),
            (Some(_), Some(secret)) => Err(error_at(
                secret.span,
                "a file takes its contents from `contents` or from `secret_name`, not both",
            )),
            (None, None) => Err(error_at(
                whole,
                "a file needs `contents = \"...\"` or `secret_name = \"...\"`",
            )),
        }
    }
}

/// `process(cmd = [...], entrypoint = [...], exec = [...], user = "...", env(...),
/// ignore_app_secrets)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct ProcessAttr {
    pub cmd: Option<StrList>,
    pub entrypoint: Option<StrList>,
    pub exec: Option<StrList>,
    pub user: Option<Str>,
    #[darling(multiple)]
    pub env: Vec<Map<EnvKeys>>,
    pub ignore_app_secrets: Option<bool>,
}

/// `metrics(port = N, path = "/metrics", https)`.
#[derive(Clone, Debug, FromMeta)]
pub(crate) struct MetricsAttr {
    pub port: Port,
    pub path: Str,
    pub https: Option<bool>,
}
