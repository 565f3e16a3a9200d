//! Builders for machine configs and their parts, checked against the same rules as
//! `#[derive(MachineConfig)]`.
//!
//! The image is required by [`machine_config`] itself, so a config without one does not
//! compile; everything else is optional and never sent as `null`. Closed sets of words
//! (protocols, handlers, autostop modes, concurrency kinds, signals, restart policies) are typed
//! values; text becomes one through `FromStr`, which names a wrong word and the words expected.
//! Other values Fly would refuse (guest sizes, ports, durations, env names, paths...) are
//! reported by `build()` with the value and what was expected.
//!
//! ```
//! use std::time::Duration;
//! use fly_machines::Signal;
//! use fly_machines::builders::{self, Autostop, Handler, Protocol, Restart};
//! use fly_machines::guest::GuestPreset;
//!
//! let config = builders::machine_config("registry.fly.io/worker:v3")
//!     .guest(GuestPreset::Performance2x)
//!     .env("RUST_LOG", "info")
//!     .metadata("role", "worker")
//!     .service(
//!         builders::service(Protocol::Tcp, 8080)
//!             .port(443, &[Handler::Tls, Handler::Http])
//!             .port(80, &[Handler::Http])
//!             .autostop(Autostop::Suspend)
//!             .autostart(true)
//!             .build()?,
//!     )
//!     .check(
//!         "alive",
//!         builders::http_check(8080, "/health")
//!             .interval(Duration::from_secs(15))
//!             .timeout(Duration::from_secs(2))
//!             .build()?,
//!     )
//!     .restart(Restart::OnFailure { max_retries: 3 })
//!     .stop(Signal::Term, Duration::from_secs(30))
//!     .build()?;
//! assert_eq!(config.image.as_deref(), Some("registry.fly.io/worker:v3"));
//! # Ok::<(), fly_machines::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::guest::{Guest, rules};
use crate::{Error, Result, types};

/// The words of a service, typed: one list each, in the rules crate, read by the builders, the
/// derive and the emulator alike. Each also reads from text (`"tcp".parse::<Protocol>()?`),
/// refusing any other word with the error the derive and the emulator give.
pub use rules::{Autostop, ConcurrencyKind, Handler, Protocol};

/// A rule check's result as this crate's error, keeping which rule failed.
fn rule<T>(result: std::result::Result<T, rules::RuleError>) -> Result<T> {
    result.map_err(Error::from)
}

/// Starts a machine config; the image is required.
pub fn machine_config(image: impl Into<String>) -> MachineConfigBuilder {
    MachineConfigBuilder {
        config: types::MachineConfig {
            image: Some(image.into()),
            ..Default::default()
        },
        pending: Vec::new(),
    }
}

/// How a machine restarts after its main process exits.
#[derive(Debug, Clone, PartialEq)]
pub enum Restart {
    /// Never restart.
    Never,
    /// Always restart, even after a clean exit.
    Always,
    /// Restart after a non-zero exit, at most `max_retries` times.
    OnFailure {
        /// How many restarts to try.
        max_retries: u32,
    },
    /// Run only while spot capacity is available at the bid price (GPU machines).
    SpotPrice {
        /// Highest price to bid.
        bid: f64,
    },
}

impl From<Restart> for types::MachineRestart {
    fn from(r: Restart) -> Self {
        let (policy, max_retries, gpu_bid_price) = match r {
            Restart::Never => ("no", None, None),
            Restart::Always => ("always", None, None),
            Restart::OnFailure { max_retries } => {
                ("on-failure", Some(i64::from(max_retries)), None)
            }
            Restart::SpotPrice { bid } => ("spot-price", None, Some(bid)),
        };
        types::MachineRestart {
            policy: Some(policy.into()),
            max_retries,
            gpu_bid_price,
        }
    }
}

/// Builds a [`types::MachineConfig`]. Made by [`machine_config`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MachineConfigBuilder {
    config: types::MachineConfig,
    /// Values checked at `build()`, so the chain stays infallible.
    pending: Vec<Check>,
}

#[derive(Debug, Clone)]
enum Check {
    Env(String),
    Metadata(String),
    /// A `Duration` longer than a Go duration can hold, reported at `build()`.
    TooLong(&'static str, std::time::Duration),
    StopSignal(String),
    Schedule(String),
}

impl MachineConfigBuilder {
    /// CPU kind, CPUs and memory: a [`Guest`], a [`GuestPreset`](crate::guest::GuestPreset), or
    /// a raw [`types::MachineGuest`] (checked at `build()`).
    pub fn guest(mut self, guest: impl Into<Guest>) -> Self {
        self.config.guest = Some(guest.into().into());
        self
    }

    /// A raw guest, checked at `build()` (for fields the [`Guest`] type does not cover).
    pub fn raw_guest(mut self, guest: types::MachineGuest) -> Self {
        self.config.guest = Some(guest);
        self
    }

    /// Sets an environment variable (`[A-Z_][A-Z0-9_]*`).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.pending.push(Check::Env(name.clone()));
        self.config
            .env
            .get_or_insert_with(BTreeMap::new)
            .insert(name, value.into());
        self
    }

    /// Sets a metadata key.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.pending.push(Check::Metadata(key.clone()));
        self.config
            .metadata
            .get_or_insert_with(BTreeMap::new)
            .insert(key, value.into());
        self
    }

    /// Adds a service (see [`service`]).
    pub fn service(mut self, service: types::MachineService) -> Self {
        self.config
            .services
            .get_or_insert_with(Vec::new)
            .push(service);
        self
    }

    /// Adds a named health check (see [`http_check`], [`tcp_check`]).
    pub fn check(mut self, name: impl Into<String>, check: types::MachineCheck) -> Self {
        self.config
            .checks
            .get_or_insert_with(BTreeMap::new)
            .insert(name.into(), check);
        self
    }

    /// Mounts a volume (by id, `vol_...`) at an absolute path.
    pub fn mount(mut self, volume_id: impl Into<String>, path: impl Into<String>) -> Self {
        self.config
            .mounts
            .get_or_insert_with(Vec::new)
            .push(types::MachineMount {
                volume: Some(volume_id.into()),
                path: Some(path.into()),
                ..Default::default()
            });
        self
    }

    /// Mounts a volume with the settings [`mount`] builds (size, encryption, growth).
    pub fn add_mount(mut self, mount: types::MachineMount) -> Self {
        self.config.mounts.get_or_insert_with(Vec::new).push(mount);
        self
    }

    /// Runs on spot capacity, paying at most `max_price_fraction` of the full price (above 0,
    /// at most 1; checked at `build()`).
    pub fn spot(mut self, max_price_fraction: f64) -> Self {
        self.config.spot = Some(types::MachineSpot {
            max_price_fraction: Some(max_price_fraction),
        });
        self
    }

    /// The restart policy.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.config.restart = Some(restart.into());
        self
    }

    /// How the machine is stopped: the signal for its main process, and how long after it the
    /// machine is killed.
    pub fn stop(mut self, signal: crate::Signal, timeout: std::time::Duration) -> Self {
        let timeout = match crate::units::go_duration("stop timeout", timeout) {
            Ok(text) => Some(text),
            Err(_) => {
                self.pending.push(Check::TooLong("stop timeout", timeout));
                None
            }
        };
        self.pending
            .push(Check::StopSignal(signal.as_str().to_string()));
        self.config.stop_config = Some(types::StopConfig {
            signal: Some(signal.as_str().to_string()),
            timeout,
        });
        self
    }

    /// Overrides the image's command.
    pub fn cmd<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.config.init.get_or_insert_with(Default::default).cmd =
            Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Overrides the image's entrypoint.
    pub fn entrypoint<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.config
            .init
            .get_or_insert_with(Default::default)
            .entrypoint = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Destroy the machine when its main process exits.
    pub fn auto_destroy(mut self, on: bool) -> Self {
        self.config.auto_destroy = Some(on);
        self
    }

    /// Run on a schedule: `hourly`, `daily`, `weekly` or `monthly`.
    pub fn schedule(mut self, schedule: impl Into<String>) -> Self {
        let schedule = schedule.into();
        self.pending.push(Check::Schedule(schedule.clone()));
        self.config.schedule = Some(schedule);
        self
    }

    /// Edits the config directly, for parts without a builder method.
    pub fn with(mut self, edit: impl FnOnce(&mut types::MachineConfig)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Checks every value and returns the config.
    pub fn build(self) -> Result<types::MachineConfig> {
        for check in &self.pending {
            match check {
                Check::Env(name) => rule(rules::check_env_name(name))?,
                Check::Metadata(key) => rule(rules::check_metadata_key(key))?,
                Check::TooLong(what, d) => {
                    crate::units::go_duration(what, *d)?;
                }
                Check::StopSignal(signal) => rule(rules::check_stop_signal(signal).map(drop))?,
                Check::Schedule(value) => rule(rules::check_schedule(value).map(drop))?,
            }
        }
        check_config(&self.config)?;
        Ok(self.config)
    }
}

/// Checks the parts of a finished config that can be checked without knowing how it was made:
/// the image, the guest, the restart policy, spot pricing and each mount's path and growth.
///
/// [`MachineConfigBuilder::build`] runs it, and so does
/// [`MachineConfig::checked_machine_config`](crate::MachineConfig::checked_machine_config) for
/// derived configs whose image or guest comes from a field.
pub fn check_config(config: &types::MachineConfig) -> Result<()> {
    rule(rules::check_image(config.image.as_deref().unwrap_or("")))?;
    check_names(config)?;
    if let Some(guest) = &config.guest {
        Guest::try_from(guest)?;
    }
    if let Some(restart) = &config.restart
        && let Some(max) = restart.max_retries
    {
        rule(rules::check_max_retries(restart.policy.as_deref(), max))?;
    }
    if let Some(fraction) = config.spot.as_ref().and_then(|s| s.max_price_fraction) {
        rule(rules::check_spot_price_fraction(fraction))?;
    }
    for mount in config.mounts.iter().flatten() {
        if let Some(path) = &mount.path {
            rule(rules::check_guest_path("mount path", path))?;
        }
        if let Some(err) = rules::check_mount_growth(&growth_of(mount))
            .into_iter()
            .next()
        {
            return Err(Error::from(err));
        }
    }
    Ok(())
}

/// Checks the env names (of the config and of each process) and metadata keys of a config,
/// by the rules the builders, the derive and the emulator share. A plain
/// `machines().create(config)` runs it too.
pub(crate) fn check_names(config: &types::MachineConfig) -> Result<()> {
    let process_envs = config
        .processes
        .iter()
        .flatten()
        .flat_map(|p| p.env.iter().flatten());
    for (name, _) in config.env.iter().flatten().chain(process_envs) {
        rule(rules::check_env_name(name))?;
    }
    for key in config.metadata.iter().flat_map(|m| m.keys()) {
        rule(rules::check_metadata_key(key))?;
    }
    Ok(())
}

/// A mount's size and growth settings, as the rule table reads them.
fn growth_of(mount: &types::MachineMount) -> rules::MountGrowth {
    rules::MountGrowth {
        size_gb: mount.size_gb,
        extend_threshold_percent: mount.extend_threshold_percent,
        add_size_gb: mount.add_size_gb,
        add_size_percent: mount.add_size_percent,
        min_add_size_gb: mount.min_add_size_gb,
        size_gb_limit: mount.size_gb_limit,
    }
}

/// Starts a volume mount: the volume id (`vol_...`) and an absolute path inside the machine.
///
/// ```
/// use fly_machines::builders;
///
/// // Grow by a fifth (at least 2 GB) whenever 80% is used, up to 100 GB.
/// let data = builders::mount("vol_123", "/data")
///     .extend_threshold_percent(80)
///     .add_size_percent(20)
///     .min_add_size_gb(2)
///     .size_gb_limit(100)
///     .build()?;
/// let config = builders::machine_config("postgres:17").add_mount(data).build()?;
/// assert_eq!(config.mounts.unwrap()[0].add_size_percent, Some(20));
/// # Ok::<(), fly_machines::Error>(())
/// ```
pub fn mount(volume_id: impl Into<String>, path: impl Into<String>) -> MountBuilder {
    MountBuilder {
        mount: types::MachineMount {
            volume: Some(volume_id.into()),
            path: Some(path.into()),
            ..Default::default()
        },
    }
}

/// Builds a [`types::MachineMount`]. Made by [`mount`]; `build()` checks the path and that the
/// growth settings fit together (one way to grow, a threshold to grow at, a limit not below the
/// size).
#[derive(Debug, Clone)]
#[must_use]
pub struct MountBuilder {
    mount: types::MachineMount,
}

impl MountBuilder {
    /// The size in GB of a volume created for this mount.
    pub fn size_gb(mut self, size_gb: u32) -> Self {
        self.mount.size_gb = Some(i64::from(size_gb));
        self
    }

    /// The volume's name, for a volume created for this mount.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.mount.name = Some(name.into());
        self
    }

    /// Whether a volume created for this mount is encrypted.
    pub fn encrypted(mut self, on: bool) -> Self {
        self.mount.encrypted = Some(on);
        self
    }

    /// Grow the volume once this share of it is used (1 to 100).
    pub fn extend_threshold_percent(mut self, percent: u8) -> Self {
        self.mount.extend_threshold_percent = Some(i64::from(percent));
        self
    }

    /// Grow by this many GB each time (instead of [`add_size_percent`](Self::add_size_percent)).
    pub fn add_size_gb(mut self, gb: u32) -> Self {
        self.mount.add_size_gb = Some(i64::from(gb));
        self
    }

    /// Grow by this share of the current size each time, rounded up to whole GB (1 to 100;
    /// instead of [`add_size_gb`](Self::add_size_gb)).
    pub fn add_size_percent(mut self, percent: u8) -> Self {
        self.mount.add_size_percent = Some(i64::from(percent));
        self
    }

    /// The least a growth by percentage adds, in GB (Fly's default is 1).
    pub fn min_add_size_gb(mut self, gb: u32) -> Self {
        self.mount.min_add_size_gb = Some(i64::from(gb));
        self
    }

    /// Never grow past this size in GB.
    pub fn size_gb_limit(mut self, gb: u32) -> Self {
        self.mount.size_gb_limit = Some(i64::from(gb));
        self
    }

    /// Checks the path and the growth settings and returns the mount.
    pub fn build(self) -> Result<types::MachineMount> {
        if let Some(path) = &self.mount.path {
            rule(rules::check_guest_path("mount path", path))?;
        }
        if let Some(err) = rules::check_mount_growth(&growth_of(&self.mount))
            .into_iter()
            .next()
        {
            return Err(Error::from(err));
        }
        Ok(self.mount)
    }
}

/// Starts a service: its protocol and the port the app listens on inside.
pub fn service(protocol: Protocol, internal_port: u16) -> ServiceBuilder {
    ServiceBuilder {
        service: types::MachineService {
            protocol: Some(protocol.as_str().to_string()),
            internal_port: Some(i64::from(internal_port)),
            ..Default::default()
        },
    }
}

/// Builds a [`types::MachineService`]. Made by [`service`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ServiceBuilder {
    service: types::MachineService,
}

impl ServiceBuilder {
    /// A public port and the handlers the proxy applies to its traffic.
    pub fn port(mut self, port: u16, handlers: &[Handler]) -> Self {
        self.service
            .ports
            .get_or_insert_with(Vec::new)
            .push(types::MachinePort {
                port: Some(i64::from(port)),
                handlers: (!handlers.is_empty())
                    .then(|| handlers.iter().map(|h| h.as_str().to_string()).collect()),
                ..Default::default()
            });
        self
    }

    /// Like [`port`](Self::port), redirecting plain HTTP to HTTPS.
    pub fn port_force_https(mut self, port: u16, handlers: &[Handler]) -> Self {
        self = self.port(port, handlers);
        if let Some(last) = self.service.ports.as_mut().and_then(|p| p.last_mut()) {
            last.force_https = Some(true);
        }
        self
    }

    /// What the proxy does with an idle machine.
    pub fn autostop(mut self, mode: Autostop) -> Self {
        self.service.autostop = Some(types::MachineServiceAutostop::String(
            mode.as_str().to_string(),
        ));
        self
    }

    /// Whether the proxy starts a stopped machine on a request.
    pub fn autostart(mut self, on: bool) -> Self {
        self.service.autostart = Some(on);
        self
    }

    /// Machines the proxy keeps running in the primary region.
    pub fn min_machines_running(mut self, n: u32) -> Self {
        self.service.min_machines_running = Some(i64::from(n));
        self
    }

    /// Load limits, counted in `kind`.
    pub fn concurrency(mut self, kind: ConcurrencyKind, soft_limit: u32, hard_limit: u32) -> Self {
        self.service.concurrency = Some(types::MachineServiceConcurrency {
            type_: Some(kind.as_str().to_string()),
            soft_limit: Some(i64::from(soft_limit)),
            hard_limit: Some(i64::from(hard_limit)),
        });
        self
    }

    /// Checks the ports and returns the service. (Its words are typed, so only a port of 0
    /// can be wrong.)
    pub fn build(self) -> Result<types::MachineService> {
        rule(rules::check_port(
            "internal_port",
            self.service.internal_port.unwrap_or(0),
        ))?;
        for port in self.service.ports.iter().flatten() {
            rule(rules::check_port("port", port.port.unwrap_or(0)))?;
        }
        Ok(self.service)
    }
}

/// Starts an HTTP health check against `port` and `path`.
pub fn http_check(port: u16, path: impl Into<String>) -> CheckBuilder {
    CheckBuilder {
        check: types::MachineCheck {
            type_: Some("http".into()),
            port: Some(i64::from(port)),
            path: Some(path.into()),
            method: Some("GET".into()),
            ..Default::default()
        },
        too_long: None,
    }
}

/// Starts a TCP health check against `port`.
pub fn tcp_check(port: u16) -> CheckBuilder {
    CheckBuilder {
        check: types::MachineCheck {
            type_: Some("tcp".into()),
            port: Some(i64::from(port)),
            ..Default::default()
        },
        too_long: None,
    }
}

/// Builds a [`types::MachineCheck`]. Made by [`http_check`] or [`tcp_check`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CheckBuilder {
    check: types::MachineCheck,
    /// A `Duration` longer than a Go duration can hold, reported at `build()`.
    too_long: Option<(&'static str, std::time::Duration)>,
}

impl CheckBuilder {
    /// Time between checks.
    pub fn interval(mut self, d: std::time::Duration) -> Self {
        self.check.interval = self.go("check interval", d);
        self
    }

    /// How long one check may take.
    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.check.timeout = self.go("check timeout", d);
        self
    }

    /// How long after start failures are ignored.
    pub fn grace_period(mut self, d: std::time::Duration) -> Self {
        self.check.grace_period = self.go("check grace period", d);
        self
    }

    /// `d` as a Go duration, or `None` and an error kept for `build()`.
    fn go(&mut self, what: &'static str, d: std::time::Duration) -> Option<String> {
        match crate::units::go_duration(what, d) {
            Ok(text) => Some(text),
            Err(_) => {
                self.too_long.get_or_insert((what, d));
                None
            }
        }
    }

    /// HTTP method (HTTP checks).
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.check.method = Some(method.into());
        self
    }

    /// Checks every value and returns the check.
    pub fn build(self) -> Result<types::MachineCheck> {
        if let Some((what, d)) = self.too_long {
            crate::units::go_duration(what, d)?;
        }
        rule(rules::check_port("port", self.check.port.unwrap_or(0)))?;
        for d in [
            &self.check.interval,
            &self.check.timeout,
            &self.check.grace_period,
        ]
        .into_iter()
        .flatten()
        {
            rule(rules::parse_go_duration(d).map(drop))?;
        }
        if let Some(path) = &self.check.path {
            rule(rules::check_guest_path("check path", path))?;
        }
        Ok(self.check)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_plain_config_is_held_to_the_same_name_rules_as_the_builder() {
        let config = |env: &str, key: &str| types::MachineConfig {
            image: Some("nginx".into()),
            env: Some([(env.to_string(), "v".to_string())].into()),
            metadata: Some([(key.to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let plain = crate::resources::machines::validate_config;
        for (env, key) in [
            ("lower", "ok"),
            ("A-B", "ok"),
            ("OK", "a/b"),
            ("OK", ""),
            ("OK", "a..b"),
        ] {
            let c = config(env, key);
            assert!(plain(&c).is_err(), "plain create: {env} {key}");
            assert!(check_config(&c).is_err(), "builder: {env} {key}");
            assert!(
                crate::validate::metadata_key(key).is_err() || rules::check_env_name(env).is_err()
            );
        }
        let good = config("QUEUE_NAME", "fly_platform_version");
        plain(&good).unwrap();
        check_config(&good).unwrap();
        crate::validate::metadata_key("fly.process-group_1").unwrap();
    }

    use super::*;
    use crate::guest::GuestPreset;

    #[test]
    fn a_full_config_serializes_without_nulls() {
        let config = machine_config("nginx:1.27")
            .guest(GuestPreset::SharedCpu1x)
            .env("A", "1")
            .service(
                service(Protocol::Tcp, 8080)
                    .port_force_https(80, &[Handler::Http])
                    .autostop(Autostop::Stop)
                    .build()
                    .unwrap(),
            )
            .check(
                "web",
                tcp_check(8080)
                    .interval(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap(),
            )
            .restart(Restart::OnFailure { max_retries: 2 })
            .cmd(["serve", "--port", "8080"])
            .build()
            .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("null"), "{json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["services"][0]["autostop"], "stop");
        assert_eq!(value["services"][0]["ports"][0]["force_https"], true);
        assert_eq!(value["restart"]["policy"], "on-failure");
        assert_eq!(value["init"]["cmd"][1], "--port");
    }

    #[test]
    fn stop_and_check_times_go_out_as_go_durations() {
        let config = machine_config("nginx")
            .stop(crate::Signal::Int, std::time::Duration::from_millis(1500))
            .check(
                "alive",
                http_check(8080, "/health")
                    .interval(std::time::Duration::from_secs(15))
                    .timeout(std::time::Duration::from_millis(250))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let stop = config.stop_config.unwrap();
        assert_eq!(stop.signal.as_deref(), Some("SIGINT"));
        assert_eq!(stop.timeout.as_deref(), Some("1500ms"));
        let check = &config.checks.unwrap()["alive"];
        assert_eq!(check.interval.as_deref(), Some("15s"));
        assert_eq!(check.timeout.as_deref(), Some("250ms"));
    }

    /// Which rule `err` reports as broken, and its message.
    fn broken(err: Error) -> (rules::Rule, String) {
        let message = err.to_string();
        match err {
            Error::Rule(rule) => (rule.rule(), message),
            other => panic!("expected a rule error, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_name_the_rule_they_break() {
        use rules::Rule;

        let err = machine_config("nginx").env("lower", "x").build();
        assert_eq!(
            broken(err.unwrap_err()),
            (
                Rule::EnvName,
                "invalid env name `lower`: expected a name matching `[A-Z_][A-Z0-9_]*`; \
                 did you mean `LOWER`?"
                    .into()
            )
        );
        // Typed signals and `Duration`s: only a duration past Go's limit can be wrong.
        let err = machine_config("nginx")
            .stop(crate::Signal::Term, std::time::Duration::MAX)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stop timeout") && err.contains("Go's limit"),
            "{err}"
        );
        let err = tcp_check(8080)
            .grace_period(std::time::Duration::MAX)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("check grace period"), "{err}");
        let err = service(Protocol::Tcp, 0).build();
        assert_eq!(
            broken(err.unwrap_err()),
            (
                Rule::Port,
                "invalid internal_port `0`: expected a port from 1 to 65535".into()
            )
        );
        let (rule, _) = broken(machine_config("").build().unwrap_err());
        assert_eq!(rule, Rule::Image);
        let err = machine_config("nginx")
            .raw_guest(types::MachineGuest {
                cpu_kind: Some("shared".into()),
                cpus: Some(3),
                ..Default::default()
            })
            .build();
        assert_eq!(
            broken(err.unwrap_err()),
            (
                Rule::Cpus,
                "invalid cpus `3`: expected 1, 2, 4 or 8 for cpu_kind `shared`".into()
            )
        );
        let err = machine_config("nginx")
            .restart(Restart::Always)
            .with(|c| c.restart.as_mut().unwrap().max_retries = Some(2))
            .build();
        let (rule, message) = broken(err.unwrap_err());
        assert_eq!(rule, Rule::MaxRetries);
        assert!(message.contains("`always`"), "{message}");
    }
    /// Text becomes a typed word through `FromStr`, refused with the error `build()` gave when
    /// the builder took strings: the rule, the value, the words expected, the closest word.
    #[test]
    fn service_words_read_from_text_with_the_rules_error() -> Result<()> {
        let svc = service("udp".parse()?, 5353)
            .port(53, &["proxy_proto".parse()?, "tls".parse()?])
            .autostop("suspend".parse()?)
            .concurrency("requests".parse()?, 20, 25)
            .build()?;
        assert_eq!(
            serde_json::to_value(&svc).unwrap(),
            serde_json::json!({
                "protocol": "udp", "internal_port": 5353, "autostop": "suspend",
                "ports": [{"port": 53, "handlers": ["proxy_proto", "tls"]}],
                "concurrency": {"type": "requests", "soft_limit": 20, "hard_limit": 25}
            })
        );

        use rules::Rule;
        let read = |text: &str| -> Result<Handler> { Ok(text.parse()?) };
        let (rule, message) = broken(read("tsl").unwrap_err());
        assert_eq!(rule, Rule::Handler);
        assert!(message.starts_with("invalid handler `tsl`"), "{message}");
        assert!(message.ends_with("did you mean `tls`?"), "{message}");
        let read = |text: &str| -> Result<Protocol> { Ok(text.parse()?) };
        assert_eq!(
            broken(read("sctp").unwrap_err()),
            (
                Rule::Protocol,
                "invalid protocol `sctp`: expected `tcp` or `udp`".into()
            )
        );
        let read = |text: &str| -> Result<Autostop> { Ok(text.parse()?) };
        assert_eq!(
            broken(read("pause").unwrap_err()),
            (
                Rule::Autostop,
                "invalid autostop `pause`: expected `off`, `stop` or `suspend`".into()
            )
        );
        let read = |text: &str| -> Result<ConcurrencyKind> { Ok(text.parse()?) };
        let (rule, message) = broken(read("request").unwrap_err());
        assert_eq!(rule, Rule::ConcurrencyType);
        assert!(message.ends_with("did you mean `requests`?"), "{message}");
        Ok(())
    }

    #[test]
    fn spot_and_mount_growth_are_checked_at_build() {
        use rules::Rule;

        let config = machine_config("postgres:17")
            .spot(0.4)
            .add_mount(
                mount("vol_1", "/data")
                    .size_gb(10)
                    .extend_threshold_percent(80)
                    .add_size_percent(25)
                    .min_add_size_gb(3)
                    .size_gb_limit(50)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let value = serde_json::to_value(&config).unwrap();
        assert_eq!(
            value["spot"],
            serde_json::json!({"max_price_fraction": 0.4})
        );
        assert_eq!(
            value["mounts"][0],
            serde_json::json!({
                "volume": "vol_1", "path": "/data", "size_gb": 10,
                "extend_threshold_percent": 80, "add_size_percent": 25,
                "min_add_size_gb": 3, "size_gb_limit": 50
            })
        );

        let (rule, message) = broken(machine_config("app").spot(1.2).build().unwrap_err());
        assert_eq!(rule, Rule::SpotPrice);
        assert!(message.contains("`1.2`"), "{message}");
        let err = mount("vol_1", "/data")
            .extend_threshold_percent(80)
            .add_size_gb(5)
            .add_size_percent(10)
            .build();
        let (rule, message) = broken(err.unwrap_err());
        assert_eq!(rule, Rule::MountGrowth);
        assert!(
            message.starts_with("invalid add_size_percent `10`"),
            "{message}"
        );
        let err = mount("vol_1", "/data").add_size_gb(5).build();
        assert_eq!(broken(err.unwrap_err()).0, Rule::MountGrowth);
        let err = mount("vol_1", "/data")
            .extend_threshold_percent(101)
            .build();
        assert_eq!(broken(err.unwrap_err()).0, Rule::Percent);
        let err = mount("vol_1", "data").build();
        assert_eq!(broken(err.unwrap_err()).0, Rule::GuestPath);
        // A mount set through `with` is checked by `build()` all the same.
        let err = machine_config("app")
            .with(|c| {
                c.mounts = Some(vec![types::MachineMount {
                    path: Some("/data".into()),
                    min_add_size_gb: Some(1),
                    ..Default::default()
                }])
            })
            .build();
        assert_eq!(broken(err.unwrap_err()).0, Rule::MountGrowth);
    }
}
