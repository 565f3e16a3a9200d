//! The trait behind `#[derive(MachineConfig)]`.

use crate::types;

/// A type that describes a kind of machine: each value yields a complete [`types::MachineConfig`].
///
/// Usually derived with `#[derive(MachineConfig)]`; implement it by hand when a config needs
/// logic the attributes cannot express.
///
/// # Deriving
///
/// The struct-level `#[machine(...)]` attribute describes what every machine of the type has in
/// common; attributes on fields put each value's data into its config. Values Fly would refuse are
/// compile errors, reported all at once, each at the offending value, with a "did you mean" where
/// one fits. The bounds come from [`guest::rules`](crate::guest::rules), the same table the
/// client's builders check at run time.
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "registry.fly.io/worker:v3",
///     guest(cpu_kind = "performance", cpus = 2, memory_mb = 4096),
///     auto_destroy,
///     restart(policy = "on-failure", max_retries = 3),
///     service(protocol = "tcp", internal_port = 8080, autostop = "suspend", autostart,
///             min_machines_running = 0,
///             port(port = 443, handlers = ["tls", "http"]),
///             port(port = 80, handlers = ["http"], force_https)),
///     check(name = "alive", kind = "http", port = 8080, path = "/health",
///           interval = "15s", timeout = "2s"),
///     mount(volume = "data", path = "/data"),
///     stop(signal = "SIGTERM", timeout = "30s"),
///     metadata(role = "worker"),
///     env(RUST_LOG = "info"),
/// )]
/// struct Worker {
///     #[machine(env)] // QUEUE_NAME=<value>
///     queue_name: String,
///     #[machine(env = "DB_URL")]
///     database_url: String,
///     #[machine(metadata)] // metadata key "tenant"
///     tenant: String,
///     #[machine(cmd)] // init.cmd
///     args: Vec<String>,
///     #[machine(skip)]
///     cache: std::collections::HashMap<String, u32>,
/// }
///
/// let worker = Worker {
///     queue_name: "emails".into(),
///     database_url: "postgres://db/app".into(),
///     tenant: "acme".into(),
///     args: vec!["work".into(), "--fast".into()],
///     cache: Default::default(),
/// };
/// let cfg: fly_machines::types::MachineConfig = worker.machine_config();
/// assert_eq!(cfg.image.as_deref(), Some("registry.fly.io/worker:v3"));
/// assert_eq!(cfg.env.as_ref().unwrap()["QUEUE_NAME"], "emails");
/// assert_eq!(cfg.env.as_ref().unwrap()["RUST_LOG"], "info");
/// assert_eq!(cfg.init.unwrap().cmd.unwrap(), ["work", "--fast"]);
///
/// // The part that does not depend on a value is there without one.
/// assert_eq!(Worker::static_config().guest.unwrap().memory_mb, Some(4096));
/// ```
///
/// ## Struct attributes
///
/// Every key may appear in one `#[machine(...)]` or be spread over several. Strings that name a
/// closed set of values are checked against it; numbers are checked against Fly's bounds; durations
/// must be Go duration strings (`"15s"`, `"1m30s"`, `"500ms"`).
///
/// | attribute | sets | checked |
/// |---|---|---|
/// | `image = "..."` (required) | `image` | not empty, no spaces |
/// | `crate = "path"` | where generated code finds `fly_machines` | a Rust path |
/// | `guest(preset, cpu_kind, cpus, memory_mb, gpu_kind, gpus, kernel_args)` | `guest` | see [`guest`](crate::guest) |
/// | `auto_destroy` or `auto_destroy = bool` | `auto_destroy` | |
/// | `restart(policy, max_retries, gpu_bid_price)` | `restart` | `no`, `always`, `on-failure`, `spot-price`; `max_retries` only with `on-failure` |
/// | `service(protocol, internal_port, autostop, autostart, min_machines_running, port(...), concurrency(...), check(...))`, repeatable | `services[]` | `tcp`/`udp` (default `tcp`); ports 1..=65535; autostop `off`/`stop`/`suspend` or a bool |
/// | `port(port \| start_port + end_port, handlers, force_https)` inside `service` | `services[].ports[]` | handlers `tls`, `http`, `proxy_proto`, `pg_tls`, `edge_http` |
/// | `concurrency(kind, soft_limit, hard_limit)` inside `service` | `services[].concurrency` | kind `connections`/`requests` |
/// | `check(name, kind, role, port, path, method, protocol, interval, timeout, grace_period, tls_server_name, tls_skip_verify)`, repeatable | `checks{name}` (inside `service`: `services[].checks[]`, without `name`/`role`) | kind `tcp`/`http` (sent as `type`); role `informational`/`readiness` (sent as `kind`); `path`/`method` only for `http`; durations |
/// | `mount(volume, path, name, size_gb, encrypted, extend_threshold_percent, add_size_gb \| add_size_percent, min_add_size_gb, size_gb_limit)`, repeatable | `mounts[]` (`volume` is a volume id; for ids known only at run time, use the field attribute) | `path` absolute, not mounted twice; percentages 1..=100; one way to grow; `min_add_size_gb` only with `add_size_percent`; growth only with `extend_threshold_percent`; `size_gb_limit` not below `size_gb` |
/// | `spot(max_price_fraction)` | `spot` | above 0, at most 1 |
/// | `stop(signal, timeout)` | `stop_config` | `SIGHUP`, `SIGINT`, `SIGQUIT`, `SIGKILL`, `SIGUSR1`, `SIGUSR2`, `SIGTERM`; duration |
/// | `init(cmd, entrypoint, exec, kernel_args, tty, swap_size_mb)` | `init` | lists of strings |
/// | `metadata(key = "value", ...)` | `metadata` | keys not repeated |
/// | `env(NAME = "value", ...)` | `env` | names `[A-Z_][A-Z0-9_]*`, not repeated |
/// | `schedule = "..."` | `schedule` | `hourly`, `daily`, `weekly`, `monthly` |
/// | `dns(hostname, hostname_fqdn, nameservers, searches, skip_registration)` | `dns` | |
/// | `file(guest_path, contents \| secret_name, mode)`, repeatable | `files[]` | path absolute; `contents` is sent base64-encoded |
/// | `process(cmd, entrypoint, exec, user, env(...), ignore_app_secrets)`, repeatable | `processes[]` | env names |
/// | `metrics(port, path, https)` | `metrics` | port |
///
/// ## Field attributes
///
/// Fields without `#[machine(...)]` are not part of the config. A field of type `Option<T>` is
/// left out when it is `None`. Values are written with `Display` (`to_string()`).
///
/// | attribute | puts the field into | field type |
/// |---|---|---|
/// | `image` | `image` (a deploy's new image); the struct's `image` is then optional, and is the default of an `Option` field | `T: Display` |
/// | `guest` | `guest`; the struct's `guest(...)` likewise becomes the default of an `Option` field | `T: Clone`, `MachineGuest: From<T>` (a [`Guest`](crate::guest::Guest), a preset, a raw guest) |
/// | `env` | `env`, named after the field in upper case (`queue_name` → `QUEUE_NAME`) | `T: Display` |
/// | `env = "NAME"` | `env["NAME"]` | `T: Display` |
/// | `metadata` / `metadata = "key"` | `metadata`, under the field name or `key` | `T: Display` |
/// | `cmd` | `init.cmd` | `&T: IntoIterator`, items `Display` |
/// | `entrypoint` | `init.entrypoint` | `&T: IntoIterator`, items `Display` |
/// | `file = "/guest/path"` | `files[]`, contents base64-encoded | `T: AsRef<[u8]>` |
/// | `mount = "/guest/path"` | `mounts[]`: the volume whose id is the value, mounted there | `T: Display` |
/// | `skip` | nothing; cannot be combined with other keys | any |
///
/// ## Examples, one per attribute
///
/// `image`, and `crate` for code that reaches `fly_machines` through another path:
///
/// ```
/// mod sdk {
///     pub mod fly {
///         pub use fly_machines::*;
///     }
/// }
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "nginx:1.27", crate = "sdk::fly")]
/// struct Web;
///
/// assert_eq!(Web.machine_config().image.as_deref(), Some("nginx:1.27"));
/// ```
///
/// `guest`, by preset (overridable) or by parts:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "app", guest(preset = "performance-2x", memory_mb = 8192))]
/// struct Big;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "app", guest(cpu_kind = "shared", cpus = 2, memory_mb = 1024,
///                                kernel_args = ["quiet"]))]
/// struct Small;
///
/// let guest = Big.machine_config().guest.unwrap();
/// assert_eq!((guest.cpu_kind.as_deref(), guest.cpus, guest.memory_mb),
///            (Some("performance"), Some(2), Some(8192)));
/// assert_eq!(Small.machine_config().guest.unwrap().memory_mb, Some(1024));
/// ```
///
/// `auto_destroy`, `restart`, `schedule` and `stop`:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "job", auto_destroy, schedule = "daily",
///           restart(policy = "on-failure", max_retries = 5),
///           stop(signal = "SIGINT", timeout = "1m30s"))]
/// struct Nightly;
///
/// let cfg = Nightly.machine_config();
/// assert_eq!(cfg.auto_destroy, Some(true));
/// assert_eq!(cfg.schedule.as_deref(), Some("daily"));
/// assert_eq!(cfg.restart.unwrap().max_retries, Some(5));
/// assert_eq!(cfg.stop_config.unwrap().timeout.as_deref(), Some("1m30s"));
/// ```
///
/// `service` with `port`, `concurrency` and a service `check`:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "api",
///     service(internal_port = 8080, autostop = "stop", autostart,
///             port(port = 443, handlers = ["tls", "http"]),
///             port(start_port = 10000, end_port = 10010),
///             concurrency(kind = "requests", soft_limit = 20, hard_limit = 25),
///             check(kind = "tcp", port = 8080, interval = "10s")),
/// )]
/// struct Api;
///
/// let service = &Api.machine_config().services.unwrap()[0];
/// assert_eq!(service.protocol.as_deref(), Some("tcp"));
/// assert_eq!(service.ports.as_ref().unwrap().len(), 2);
/// ```
///
/// `check` at the top level (keyed by name), and `metrics`:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "api",
///     check(name = "ready", kind = "http", role = "readiness", port = 8080, path = "/ready",
///           protocol = "http", grace_period = "5s"),
///     metrics(port = 9091, path = "/metrics"),
/// )]
/// struct Api;
///
/// let cfg = Api.machine_config();
/// let check = &cfg.checks.unwrap()["ready"];
/// assert_eq!((check.type_.as_deref(), check.kind.as_deref()), (Some("http"), Some("readiness")));
/// assert_eq!(cfg.metrics.unwrap().port, Some(9091));
/// ```
///
/// `mount`, `file` and `dns`:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "db",
///     mount(volume = "vol_123", path = "/data", encrypted),
///     file(guest_path = "/etc/motd", contents = "hi", mode = 0o644),
///     file(guest_path = "/etc/key", secret_name = "KEY"),
///     dns(hostname = "db", searches = ["internal"]),
/// )]
/// struct Db;
///
/// let cfg = Db.machine_config();
/// assert_eq!(cfg.mounts.unwrap()[0].path.as_deref(), Some("/data"));
/// assert_eq!(cfg.files.as_ref().unwrap()[0].raw_value.as_deref(), Some("aGk="));
/// assert_eq!(cfg.files.as_ref().unwrap()[0].mode, Some(420));
/// assert_eq!(cfg.dns.unwrap().hostname.as_deref(), Some("db"));
/// ```
///
/// `init`, `env`, `metadata` and `process`:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "app",
///     init(entrypoint = ["/bin/sh", "-c"], tty),
///     env(RUST_LOG = "info", WORKERS = 4),
///     metadata(team = "core"),
///     process(cmd = ["serve"], user = "app", env(MODE = "web")),
/// )]
/// struct App;
///
/// let cfg = App.machine_config();
/// assert_eq!(cfg.env.as_ref().unwrap()["WORKERS"], "4");
/// assert_eq!(cfg.metadata.unwrap()["team"], "core");
/// assert_eq!(cfg.processes.unwrap()[0].cmd.as_ref().unwrap(), &["serve"]);
/// ```
///
/// Field attributes, with generics and `Option` fields:
///
/// ```
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "worker")]
/// struct Job<T> {
///     #[machine(env)]
///     queue: T,
///     #[machine(env = "REGION_HINT", metadata = "region")]
///     region: Option<String>,
///     #[machine(entrypoint)]
///     entry: Vec<&'static str>,
///     #[machine(cmd)]
///     args: Option<Vec<String>>,
///     #[machine(file = "/etc/job.json")]
///     spec: Vec<u8>,
///     #[machine(mount = "/data")]
///     volume_id: String,
///     #[machine(skip)]
///     retries: u32,
/// }
///
/// let job = Job {
///     queue: 7,
///     region: None,
///     entry: vec!["/job"],
///     args: None,
///     spec: b"{}".to_vec(),
///     volume_id: "vol_123".into(),
///     retries: 0,
/// };
/// let cfg = job.machine_config();
/// assert_eq!(cfg.env.as_ref().unwrap()["QUEUE"], "7");
/// assert!(!cfg.env.as_ref().unwrap().contains_key("REGION_HINT"));
/// assert!(cfg.metadata.is_none());
/// assert_eq!(cfg.init.as_ref().unwrap().entrypoint.as_ref().unwrap(), &["/job"]);
/// assert!(cfg.init.as_ref().unwrap().cmd.is_none());
/// assert_eq!(cfg.files.unwrap()[0].raw_value.as_deref(), Some("e30="));
/// assert_eq!(cfg.mounts.unwrap()[0].volume.as_deref(), Some("vol_123"));
/// ```
///
/// Values a deploy changes, from fields: the image (and the guest) come with each value, and
/// [`checked_machine_config`](MachineConfig::checked_machine_config) checks them at run time.
/// Spot pricing and volume growth are struct attributes:
///
/// ```
/// use fly_machines::MachineConfig;
/// use fly_machines::guest::{Guest, GuestPreset};
///
/// #[derive(MachineConfig)]
/// #[machine(
///     image = "registry.fly.io/batch:stable", // used when `image` is None
///     spot(max_price_fraction = 0.5),
///     mount(volume = "vol_123", path = "/scratch", extend_threshold_percent = 80,
///           add_size_percent = 20, min_add_size_gb = 2, size_gb_limit = 200),
/// )]
/// struct Batch {
///     #[machine(image)]
///     image: Option<String>,
///     #[machine(guest)]
///     size: Guest,
/// }
///
/// let batch = Batch {
///     image: Some("registry.fly.io/batch:v42".into()),
///     size: GuestPreset::Performance2x.into(),
/// };
/// let cfg = batch.checked_machine_config()?;
/// assert_eq!(cfg.image.as_deref(), Some("registry.fly.io/batch:v42"));
/// assert_eq!(cfg.guest.unwrap().cpus, Some(2));
/// assert_eq!(cfg.spot.unwrap().max_price_fraction, Some(0.5));
/// assert_eq!(cfg.mounts.unwrap()[0].add_size_percent, Some(20));
///
/// let empty = Batch { image: Some(String::new()), size: GuestPreset::SharedCpu1x.into() };
/// assert!(empty.checked_machine_config().is_err()); // an empty image is refused
/// # Ok::<(), fly_machines::Error>(())
/// ```
///
/// A config Fly would refuse does not compile:
///
/// ```compile_fail
/// use fly_machines::MachineConfig;
///
/// #[derive(MachineConfig)]
/// #[machine(image = "app", guest(cpu_kind = "shared", cpus = 16))] // shared tops out at 8
/// struct TooBig;
/// ```
pub trait MachineConfig {
    /// The machine config for this value.
    fn machine_config(&self) -> types::MachineConfig;

    /// The part of the config that is the same for every value of the type: everything the
    /// struct-level `#[machine(...)]` attribute says. [`machine_config`](Self::machine_config)
    /// starts from it and adds the fields.
    ///
    /// The default, for hand-written impls, is an empty config.
    fn static_config() -> types::MachineConfig
    where
        Self: Sized,
    {
        types::MachineConfig::default()
    }

    /// [`machine_config`](Self::machine_config), with the values that only exist at run time
    /// (an image or guest taken from a field) checked by the same rules as the builders: see
    /// [`builders::check_config`](crate::builders::check_config).
    fn checked_machine_config(&self) -> crate::Result<types::MachineConfig> {
        let config = self.machine_config();
        crate::builders::check_config(&config)?;
        Ok(config)
    }
}
