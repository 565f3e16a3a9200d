//! The fleet file: a [`DesiredFleet`] in TOML.
//!
//! The file is read into plain serde types that keep each value's place in the text, then every
//! value goes through the same rules as the SDK's builders; whatever is refused, by the parser
//! or by a rule, comes back with the key and its line. Nothing is sent before the whole file is
//! accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use fly_machines::builders;
use fly_machines::guest::{CpuKind, Guest};
use serde::Deserialize;
use toml::Spanned;

use crate::desired::{DesiredFleet, FleetError, Group, VolumeSpec};
use crate::strategy::{Amount, Gates, Strategy, StrategyKind};

/// A fleet file that cannot be used: where (line and column, from 1), which key, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: `{key}`: {message}")]
pub struct FleetFileError {
    line: usize,
    column: usize,
    key: String,
    message: String,
}

impl FleetFileError {
    /// The line, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column, from 1.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The key, as a path such as `group.web.count` (or the text found, for a syntax error).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong and what was expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl DesiredFleet {
    /// Reads a fleet from the text of a fleet file (see the crate docs for its keys).
    pub fn from_toml(text: &str) -> Result<DesiredFleet, FleetFileError> {
        let file: FleetFile = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        Reader { text }.fleet(file)
    }

    /// Reads a fleet file from disk.
    pub fn from_toml_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<DesiredFleet, FleetFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FleetFileError {
            line: 0,
            column: 0,
            key: path.display().to_string(),
            message: format!("cannot read the file: {e}"),
        })?;
        DesiredFleet::from_toml(&text)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    app: Spanned<String>,
    org: Option<Spanned<String>>,
    fleet: Option<Spanned<String>>,
    #[serde(default, rename = "group")]
    groups: Vec<Spanned<GroupFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    name: Spanned<String>,
    image: Spanned<String>,
    count: Option<Spanned<i64>>,
    regions: Spanned<RegionsFile>,
    guest: Option<Spanned<GuestFile>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    metadata: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    services: Vec<Spanned<ServiceFile>>,
    #[serde(default)]
    checks: BTreeMap<Spanned<String>, Spanned<CheckFile>>,
    volume: Option<Spanned<VolumeFile>>,
    strategy: Option<Spanned<StrategyFile>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RegionsFile {
    List(Vec<String>),
    Counts(BTreeMap<String, i64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestFile {
    cpu_kind: Spanned<String>,
    cpus: Spanned<i64>,
    memory_mb: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    protocol: Spanned<String>,
    internal_port: Spanned<i64>,
    autostop: Option<Spanned<String>>,
    autostart: Option<bool>,
    min_machines_running: Option<Spanned<i64>>,
    #[serde(default)]
    ports: Vec<Spanned<PortFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortFile {
    port: Spanned<i64>,
    #[serde(default)]
    handlers: Vec<String>,
    #[serde(default)]
    force_https: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    port: Spanned<i64>,
    path: Option<String>,
    method: Option<String>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    grace_period: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeFile {
    size_gb: Spanned<i64>,
    path: Spanned<String>,
    name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyFile {
    kind: Spanned<String>,
    max_unavailable: Option<Spanned<AmountFile>>,
    max_surge: Option<Spanned<AmountFile>>,
    canary: Option<Spanned<AmountFile>>,
    max_concurrency: Option<Spanned<i64>>,
    min_healthy_time: Option<Spanned<String>>,
    healthy_deadline: Option<Spanned<String>>,
    progress_deadline: Option<Spanned<String>>,
    rollback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AmountFile {
    Count(i64),
    Fraction(f64),
}

/// Turns the parsed file into a fleet, naming the key and line of the first refused value.
struct Reader<'t> {
    text: &'t str,
}

impl Reader<'_> {
    fn error(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl fmt::Display,
    ) -> FleetFileError {
        let (line, column) = line_column(self.text, span.start);
        FleetFileError {
            line,
            column,
            key: key.into(),
            message: message.to_string(),
        }
    }

    /// A [`FleetError`] from a rule, placed at `span` and named `key`.
    fn rule(&self, span: Range<usize>, key: impl Into<String>, e: FleetError) -> FleetFileError {
        self.error(
            span,
            key,
            format_args!("`{}`: expected {}", e.value(), e.expected()),
        )
    }

    fn fleet(&self, file: FleetFile) -> Result<DesiredFleet, FleetFileError> {
        let app_span = file.app.span();
        let mut fleet =
            DesiredFleet::new(file.app.into_inner()).map_err(|e| self.rule(app_span, "app", e))?;
        if let Some(org) = file.org {
            let span = org.span();
            fleet = fleet
                .org(org.into_inner())
                .map_err(|e| self.rule(span, "org", e))?;
        }
        if let Some(name) = file.fleet {
            let span = name.span();
            fleet = fleet
                .named(name.into_inner())
                .map_err(|e| self.rule(span, "fleet", e))?;
        }
        for group in file.groups {
            let group = group.into_inner();
            let name_span = group.name.span();
            let name = group.name.get_ref().clone();
            let built = self.group(group)?;
            fleet = fleet.group(built).map_err(|_| {
                self.error(
                    name_span,
                    format!("group.{name}.name"),
                    format_args!("a second group named `{name}`: group names must be unique"),
                )
            })?;
        }
        Ok(fleet)
    }

    fn group(&self, g: GroupFile) -> Result<Group, FleetFileError> {
        let name = g.name.get_ref().clone();
        let key = |k: &str| format!("group.{name}.{k}");

        let image_span = g.image.span();
        fly_machines_rules::check_image(g.image.get_ref())
            .map_err(|e| self.rule(image_span.clone(), key("image"), e.into()))?;
        let mut config = builders::machine_config(g.image.into_inner());

        if let Some(guest) = g.guest {
            let span = guest.span();
            let guest = guest.into_inner();
            let kind = match guest.cpu_kind.get_ref().as_str() {
                "shared" => CpuKind::Shared,
                "performance" => CpuKind::Performance,
                other => {
                    return Err(self.error(
                        guest.cpu_kind.span(),
                        key("guest.cpu_kind"),
                        format_args!("`{other}`: expected `shared` or `performance`"),
                    ));
                }
            };
            let cpus = u32::try_from(*guest.cpus.get_ref()).map_err(|_| {
                self.error(
                    guest.cpus.span(),
                    key("guest.cpus"),
                    format_args!("`{}`: expected a CPU count", guest.cpus.get_ref()),
                )
            })?;
            let memory = u32::try_from(*guest.memory_mb.get_ref()).map_err(|_| {
                self.error(
                    guest.memory_mb.span(),
                    key("guest.memory_mb"),
                    format_args!("`{}`: expected a size in MB", guest.memory_mb.get_ref()),
                )
            })?;
            let guest = Guest::new(kind, cpus, memory).map_err(|e| {
                self.error(
                    span,
                    key(&format!("guest.{}", e.setting())),
                    format_args!("`{}`: expected {}", e.value(), e.expected()),
                )
            })?;
            config = config.guest(guest);
        }

        for (name, value) in g.env {
            fly_machines_rules::check_env_name(name.get_ref()).map_err(|e| {
                self.rule(
                    name.span(),
                    key(&format!("env.{}", name.get_ref())),
                    e.into(),
                )
            })?;
            config = config.env(name.into_inner(), value);
        }
        for (name, value) in g.metadata {
            let span = name.span();
            let k = key(&format!("metadata.{}", name.get_ref()));
            fly_machines_rules::check_metadata_key(name.get_ref())
                .map_err(|e| self.rule(span.clone(), k.clone(), e.into()))?;
            if crate::marks::is_mark(name.get_ref()) {
                return Err(self.error(
                    span,
                    k,
                    "the deployer's own marks (`fly_deploy_*`) are set by the deployer",
                ));
            }
            config = config.metadata(name.into_inner(), value);
        }
        for (i, service) in g.services.into_iter().enumerate() {
            let service = self.service(service.into_inner(), &key(&format!("services[{i}]")))?;
            config = config.service(service);
        }
        for (check_name, check) in g.checks {
            let k = key(&format!("checks.{}", check_name.get_ref()));
            let built = self.check(check.into_inner(), &k)?;
            config = config.check(check_name.into_inner(), built);
        }
        let config = config
            .build()
            .map_err(|e| self.error(image_span.clone(), key("config"), e))?;

        let mut builder = Group::builder(name.clone(), config);
        let regions_span = g.regions.span();
        match (g.regions.into_inner(), g.count) {
            (RegionsFile::List(regions), Some(count)) => {
                let n = self.count(&count, &key("count"))?;
                for region in regions {
                    builder = builder.region(region, n);
                }
            }
            (RegionsFile::List(_), None) => {
                return Err(self.error(
                    regions_span,
                    key("count"),
                    "missing: a list of regions needs `count` (machines in each), or give `regions = { iad = 2 }`",
                ));
            }
            (RegionsFile::Counts(_), Some(count)) => {
                return Err(self.error(
                    count.span(),
                    key("count"),
                    "not allowed with a table of regions, which gives the count of each",
                ));
            }
            (RegionsFile::Counts(counts), None) => {
                for (region, n) in counts {
                    let n = u32::try_from(n).map_err(|_| {
                        self.error(
                            regions_span.clone(),
                            key(&format!("regions.{region}")),
                            format_args!("`{n}`: expected a count of 0 or more"),
                        )
                    })?;
                    builder = builder.region(region, n);
                }
            }
        }
        if let Some(volume) = g.volume {
            let v = volume.into_inner();
            let size = u32::try_from(*v.size_gb.get_ref()).map_err(|_| {
                self.error(
                    v.size_gb.span(),
                    key("volume.size_gb"),
                    format_args!(
                        "`{}`: expected a size of at least 1 GB",
                        v.size_gb.get_ref()
                    ),
                )
            })?;
            let name_span = v.name.as_ref().map_or(v.path.span(), Spanned::span);
            let vol_name = v
                .name
                .map_or_else(|| name.replace('-', "_"), Spanned::into_inner);
            let path_span = v.path.span();
            let spec = VolumeSpec::new(vol_name, v.path.into_inner(), size).map_err(|e| {
                let span = if e.setting() == "volume.path" {
                    path_span
                } else if e.setting() == "volume.size_gb" {
                    v.size_gb.span()
                } else {
                    name_span
                };
                self.rule(span, key(e.setting()), e)
            })?;
            builder = builder.volume(spec);
        }
        let mut strategy_span = regions_span.clone();
        if let Some(strategy) = g.strategy {
            strategy_span = strategy.span();
            builder = builder.strategy(self.strategy(strategy.into_inner(), &key("strategy"))?);
        }
        builder.build().map_err(|e| {
            let span = match e.setting() {
                s if s.ends_with("strategy") => strategy_span,
                "region" => regions_span,
                _ => image_span,
            };
            self.rule(
                span,
                key(e.setting().rsplit(' ').next().unwrap_or_default()),
                e,
            )
        })
    }

    fn count(&self, count: &Spanned<i64>, key: &str) -> Result<u32, FleetFileError> {
        u32::try_from(*count.get_ref()).map_err(|_| {
            self.error(
                count.span(),
                key,
                format_args!("`{}`: expected a count of 0 or more", count.get_ref()),
            )
        })
    }

    fn port(&self, port: &Spanned<i64>, key: &str) -> Result<u16, FleetFileError> {
        fly_machines_rules::check_port(key, *port.get_ref())
            .map_err(|e| self.rule(port.span(), key, e.into()))
    }

    fn service(
        &self,
        s: ServiceFile,
        key: &str,
    ) -> Result<fly_machines::types::MachineService, FleetFileError> {
        let protocol_span = s.protocol.span();
        let protocol = s
            .protocol
            .get_ref()
            .parse::<builders::Protocol>()
            .map_err(|e| self.rule(protocol_span.clone(), format!("{key}.protocol"), e.into()))?;
        let internal = self.port(&s.internal_port, &format!("{key}.internal_port"))?;
        let mut b = builders::service(protocol, internal);
        for (i, p) in s.ports.into_iter().enumerate() {
            let p = p.into_inner();
            let k = format!("{key}.ports[{i}]");
            let port = self.port(&p.port, &format!("{k}.port"))?;
            let handlers = p
                .handlers
                .iter()
                .map(|h| h.parse::<builders::Handler>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.rule(p.port.span(), format!("{k}.handlers"), e.into()))?;
            b = if p.force_https {
                b.port_force_https(port, &handlers)
            } else {
                b.port(port, &handlers)
            };
        }
        if let Some(autostop) = s.autostop {
            let mode = autostop
                .get_ref()
                .parse::<builders::Autostop>()
                .map_err(|e| self.rule(autostop.span(), format!("{key}.autostop"), e.into()))?;
            b = b.autostop(mode);
        }
        if let Some(on) = s.autostart {
            b = b.autostart(on);
        }
        if let Some(n) = s.min_machines_running {
            b = b.min_machines_running(self.count(&n, &format!("{key}.min_machines_running"))?);
        }
        b.build().map_err(|e| self.error(protocol_span, key, e))
    }

    fn check(
        &self,
        c: CheckFile,
        key: &str,
    ) -> Result<fly_machines::types::MachineCheck, FleetFileError> {
        let port = self.port(&c.port, &format!("{key}.port"))?;
        let kind_span = c.kind.span();
        let mut b = match c.kind.get_ref().as_str() {
            "http" => builders::http_check(port, c.path.unwrap_or_else(|| "/".to_owned())),
            "tcp" => {
                if c.path.is_some() || c.method.is_some() {
                    return Err(self.error(
                        kind_span,
                        format!("{key}.path"),
                        "`path` and `method` are for `http` checks only",
                    ));
                }
                builders::tcp_check(port)
            }
            other => {
                return Err(self.error(
                    kind_span,
                    format!("{key}.type"),
                    format_args!("`{other}`: expected `http` or `tcp`"),
                ));
            }
        };
        if let Some(m) = c.method {
            b = b.method(m);
        }
        if let Some(d) = c.interval {
            b = b.interval(self.duration(&d, &format!("{key}.interval"))?);
        }
        if let Some(d) = c.timeout {
            b = b.timeout(self.duration(&d, &format!("{key}.timeout"))?);
        }
        if let Some(d) = c.grace_period {
            b = b.grace_period(self.duration(&d, &format!("{key}.grace_period"))?);
        }
        b.build().map_err(|e| self.error(kind_span, key, e))
    }

    fn duration(&self, d: &Spanned<String>, key: &str) -> Result<Duration, FleetFileError> {
        fly_machines_rules::parse_go_duration(d.get_ref())
            .map_err(|e| self.rule(d.span(), key, e.into()))
    }

    fn amount(&self, a: &Spanned<AmountFile>, key: &str) -> Result<Amount, FleetFileError> {
        match a.get_ref() {
            AmountFile::Count(n) => u32::try_from(*n).map(Amount::Count).map_err(|_| {
                self.error(
                    a.span(),
                    key,
                    format_args!("`{n}`: expected a count of 0 or more, or a fraction"),
                )
            }),
            AmountFile::Fraction(f) => Ok(Amount::Fraction(*f)),
        }
    }

    fn strategy(&self, s: StrategyFile, key: &str) -> Result<Strategy, FleetFileError> {
        let kind: StrategyKind = s
            .kind
            .get_ref()
            .parse()
            .map_err(|e| self.rule(s.kind.span(), format!("{key}.kind"), e))?;
        let mut strategy = Strategy::new(kind);
        if let Some(a) = &s.max_unavailable {
            let k = format!("{key}.max_unavailable");
            strategy = strategy
                .max_unavailable(self.amount(a, &k)?)
                .map_err(|e| self.rule(a.span(), k, e))?;
        }
        if let Some(a) = &s.max_surge {
            let k = format!("{key}.max_surge");
            strategy = strategy
                .max_surge(self.amount(a, &k)?)
                .map_err(|e| self.rule(a.span(), k, e))?;
        }
        if let Some(a) = &s.canary {
            let k = format!("{key}.canary");
            strategy = strategy
                .canaries(self.amount(a, &k)?)
                .map_err(|e| self.rule(a.span(), k, e))?;
        }
        if let Some(n) = &s.max_concurrency {
            let k = format!("{key}.max_concurrency");
            let count = self.count(n, &k)?;
            strategy = strategy
                .max_concurrency(count)
                .map_err(|e| self.rule(n.span(), k, e))?;
        }
        let mut gates = Gates::default();
        let mut gates_span = s.kind.span();
        if let Some(d) = &s.min_healthy_time {
            gates.min_healthy_time = self.duration(d, &format!("{key}.min_healthy_time"))?;
        }
        if let Some(d) = &s.healthy_deadline {
            gates.healthy_deadline = self.duration(d, &format!("{key}.healthy_deadline"))?;
            gates_span = d.span();
        }
        if let Some(d) = &s.progress_deadline {
            gates.progress_deadline = self.duration(d, &format!("{key}.progress_deadline"))?;
            gates_span = d.span();
        }
        strategy = strategy.gates(gates).map_err(|e| {
            let k = format!("{key}.{}", e.setting());
            self.rule(gates_span, k, e)
        })?;
        if let Some(on) = s.rollback {
            strategy = strategy.rollback(on);
        }
        Ok(strategy)
    }
}

/// Line and column (from 1) of a byte offset in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A parser error (syntax, an unknown key, a value of the wrong type) with its place and the
/// text found there.
fn parse_error(text: &str, e: &toml::de::Error) -> FleetFileError {
    let span = e.span().unwrap_or(0..0);
    let (line, column) = line_column(text, span.start);
    let found = text
        .get(span)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .trim();
    let found: String = found.chars().take(60).collect();
    FleetFileError {
        line,
        column,
        key: found,
        message: e.message().trim().to_owned(),
    }
}
