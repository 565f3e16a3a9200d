//! `#[derive(MachineConfig)]` at run time: the config a derived type produces serializes to exactly
//! the JSON Fly expects, written out by hand here.

use std::collections::HashMap;

use fly_machines::MachineConfig;
use fly_machines::guest::{Guest, GuestPreset};
use serde_json::json;

fn to_json(config: &fly_machines::types::MachineConfig) -> serde_json::Value {
    serde_json::to_value(config).expect("a MachineConfig always serializes")
}

/// The example of the issue, attribute for attribute.
#[derive(MachineConfig)]
#[machine(
    image = "registry.fly.io/worker:v3",
    guest(cpu_kind = "performance", cpus = 2, memory_mb = 4096),
    auto_destroy,
    restart(policy = "on-failure", max_retries = 3),
    service(protocol = "tcp", internal_port = 8080, autostop = "suspend", autostart,
            min_machines_running = 0,
            port(port = 443, handlers = ["tls", "http"]),
            port(port = 80, handlers = ["http"], force_https)),
    check(name = "alive", kind = "http", port = 8080, path = "/health",
          interval = "15s", timeout = "2s"),
    mount(volume = "data", path = "/data"),
    stop(signal = "SIGTERM", timeout = "30s"),
    metadata(role = "worker"),
    env(RUST_LOG = "info"),
)]
struct Worker {
    #[machine(env)]
    queue_name: String,
    #[machine(env = "DB_URL")]
    database_url: String,
    #[machine(metadata)]
    tenant: String,
    #[machine(cmd)]
    args: Vec<String>,
    #[machine(skip)]
    #[allow(dead_code)]
    cache: HashMap<String, u32>,
}

fn worker() -> Worker {
    Worker {
        queue_name: "emails".into(),
        database_url: "postgres://db.internal/app".into(),
        tenant: "acme".into(),
        args: vec!["work".into(), "--queue".into(), "emails".into()],
        cache: HashMap::new(),
    }
}

#[test]
fn issue_example_serializes_to_the_expected_json() {
    let expected = json!({
        "image": "registry.fly.io/worker:v3",
        "guest": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096},
        "auto_destroy": true,
        "restart": {"policy": "on-failure", "max_retries": 3},
        "services": [{
            "protocol": "tcp",
            "internal_port": 8080,
            "autostop": "suspend",
            "autostart": true,
            "min_machines_running": 0,
            "ports": [
                {"port": 443, "handlers": ["tls", "http"]},
                {"port": 80, "handlers": ["http"], "force_https": true}
            ]
        }],
        "checks": {
            "alive": {
                "type": "http",
                "port": 8080,
                "path": "/health",
                "interval": "15s",
                "timeout": "2s"
            }
        },
        "mounts": [{"volume": "data", "path": "/data"}],
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
        "metadata": {"role": "worker", "tenant": "acme"},
        "env": {
            "RUST_LOG": "info",
            "QUEUE_NAME": "emails",
            "DB_URL": "postgres://db.internal/app"
        },
        "init": {"cmd": ["work", "--queue", "emails"]}
    });
    assert_eq!(to_json(&worker().machine_config()), expected);
}

#[test]
fn static_config_is_the_struct_attribute_alone() {
    let config = Worker::static_config();
    let json = to_json(&config);
    assert_eq!(json["env"], json!({"RUST_LOG": "info"}));
    assert_eq!(json["metadata"], json!({"role": "worker"}));
    assert!(json.get("init").is_none());
    // Everything static is in the full config unchanged.
    let full = to_json(&worker().machine_config());
    for key in [
        "image",
        "guest",
        "services",
        "checks",
        "mounts",
        "stop_config",
        "restart",
    ] {
        assert_eq!(json[key], full[key], "{key}");
    }
}

#[test]
fn derived_config_round_trips_through_the_api_type() {
    let config = worker().machine_config();
    let text = serde_json::to_string(&config).unwrap();
    let back: fly_machines::types::MachineConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
}

/// A minimal type: only the image, and nothing else is sent.
#[derive(MachineConfig)]
#[machine(image = "nginx:latest")]
struct Minimal;

#[test]
fn minimal_config_sends_only_the_image() {
    assert_eq!(
        to_json(&Minimal.machine_config()),
        json!({"image": "nginx:latest"})
    );
}

/// Every remaining struct attribute.
#[derive(MachineConfig)]
#[machine(
    image = "registry.fly.io/app:1",
    guest(preset = "shared-cpu-2x", gpu_kind = "l40s", gpus = 1, kernel_args = ["quiet"]),
    auto_destroy = false,
    restart(policy = "spot-price", gpu_bid_price = 0.5),
    service(protocol = "udp", internal_port = 5353, autostop = false,
            port(start_port = 5000, end_port = 5010),
            concurrency(kind = "connections", soft_limit = 10, hard_limit = 20),
            check(kind = "tcp", port = 5353, grace_period = "1s")),
    service(internal_port = 8080,
            port(port = 8080, handlers = ["proxy_proto", "pg_tls", "edge_http"]),
            check(kind = "http", port = 8080, path = "/", method = "GET", protocol = "https",
                  tls_server_name = "app.internal", tls_skip_verify)),
    check(name = "tcp", kind = "tcp", port = 22, role = "informational"),
    mount(volume = "vol_1", path = "/data", name = "data", size_gb = 10, encrypted,
          extend_threshold_percent = 80, add_size_gb = 5, size_gb_limit = 100),
    stop(signal = "SIGKILL"),
    init(exec = ["/bin/app", "serve"], entrypoint = ["/entry"], kernel_args = ["nosmt"], tty,
         swap_size_mb = 512),
    schedule = "hourly",
    dns(hostname = "app", hostname_fqdn = "app.example.com", nameservers = ["1.1.1.1"],
        searches = ["example.com"], skip_registration),
    file(guest_path = "/etc/app.toml", contents = "a = 1\n", mode = 0o600),
    file(guest_path = "/etc/secret", secret_name = "APP_SECRET"),
    process(cmd = ["web"], entrypoint = ["/bin/sh"], exec = ["/bin/web"], user = "nobody",
            env(PORT = 8080, DEBUG = true), ignore_app_secrets),
    metrics(port = 9091, path = "/metrics", https),
    env(A = "1"),
    env(B = 2.5),
    metadata(x = "y"),
)]
struct Everything;

#[test]
fn every_struct_attribute_serializes_as_fly_expects() {
    let expected = json!({
        "image": "registry.fly.io/app:1",
        "guest": {
            "cpu_kind": "shared",
            "cpus": 2,
            "memory_mb": 512,
            "gpu_kind": "l40s",
            "gpus": 1,
            "kernel_args": ["quiet"]
        },
        "auto_destroy": false,
        "restart": {"policy": "spot-price", "gpu_bid_price": 0.5},
        "services": [
            {
                "protocol": "udp",
                "internal_port": 5353,
                "autostop": false,
                "ports": [{"start_port": 5000, "end_port": 5010}],
                "concurrency": {"type": "connections", "soft_limit": 10, "hard_limit": 20},
                "checks": [{"type": "tcp", "port": 5353, "grace_period": "1s"}]
            },
            {
                "protocol": "tcp",
                "internal_port": 8080,
                "ports": [{"port": 8080, "handlers": ["proxy_proto", "pg_tls", "edge_http"]}],
                "checks": [{
                    "type": "http",
                    "port": 8080,
                    "path": "/",
                    "method": "GET",
                    "protocol": "https",
                    "tls_server_name": "app.internal",
                    "tls_skip_verify": true
                }]
            }
        ],
        "checks": {"tcp": {"type": "tcp", "port": 22, "kind": "informational"}},
        "mounts": [{
            "volume": "vol_1",
            "path": "/data",
            "name": "data",
            "size_gb": 10,
            "encrypted": true,
            "extend_threshold_percent": 80,
            "add_size_gb": 5,
            "size_gb_limit": 100
        }],
        "stop_config": {"signal": "SIGKILL"},
        "init": {
            "exec": ["/bin/app", "serve"],
            "entrypoint": ["/entry"],
            "kernel_args": ["nosmt"],
            "tty": true,
            "swap_size_mb": 512
        },
        "schedule": "hourly",
        "dns": {
            "hostname": "app",
            "hostname_fqdn": "app.example.com",
            "nameservers": ["1.1.1.1"],
            "searches": ["example.com"],
            "skip_registration": true
        },
        "files": [
            {"guest_path": "/etc/app.toml", "raw_value": "YSA9IDEK", "mode": 384},
            {"guest_path": "/etc/secret", "secret_name": "APP_SECRET"}
        ],
        "processes": [{
            "cmd": ["web"],
            "entrypoint": ["/bin/sh"],
            "exec": ["/bin/web"],
            "user": "nobody",
            "env": {"PORT": "8080", "DEBUG": "true"},
            "ignore_app_secrets": true
        }],
        "metrics": {"port": 9091, "path": "/metrics", "https": true},
        "env": {"A": "1", "B": "2.5"},
        "metadata": {"x": "y"}
    });
    assert_eq!(to_json(&Everything.machine_config()), expected);
}

/// Field attributes on a generic struct, with `Option` fields present and absent.
#[derive(MachineConfig)]
#[machine(image = "registry.fly.io/job:1")]
struct Job<Q: std::fmt::Display, const N: usize> {
    #[machine(env)]
    queue: Q,
    #[machine(env = "SHARD", metadata = "shard")]
    shard: Option<u16>,
    #[machine(metadata = "owner.team")]
    team: &'static str,
    #[machine(entrypoint)]
    entry: [&'static str; N],
    #[machine(cmd)]
    args: Option<Vec<String>>,
    #[machine(file = "/etc/job.json")]
    spec: String,
    #[machine(file = "/etc/extra.bin")]
    extra: Option<Vec<u8>>,
    #[allow(dead_code)]
    not_in_config: u64,
}

#[test]
fn option_fields_are_left_out_when_none() {
    let job = Job {
        queue: 'q',
        shard: None,
        team: "infra",
        entry: ["/job"],
        args: None,
        spec: "{}".into(),
        extra: None,
        not_in_config: 1,
    };
    let expected = json!({
        "image": "registry.fly.io/job:1",
        "env": {"QUEUE": "q"},
        "metadata": {"owner.team": "infra"},
        "init": {"entrypoint": ["/job"]},
        "files": [{"guest_path": "/etc/job.json", "raw_value": "e30="}]
    });
    assert_eq!(to_json(&job.machine_config()), expected);
}

#[test]
fn option_fields_are_sent_when_some() {
    let job = Job {
        queue: 42u8,
        shard: Some(3),
        team: "infra",
        entry: ["/bin/sh", "-c"],
        args: Some(vec!["run".into()]),
        spec: "{}".into(),
        extra: Some(vec![0xff, 0x00]),
        not_in_config: 1,
    };
    let expected = json!({
        "image": "registry.fly.io/job:1",
        "env": {"QUEUE": "42", "SHARD": "3"},
        "metadata": {"owner.team": "infra", "shard": "3"},
        "init": {"entrypoint": ["/bin/sh", "-c"], "cmd": ["run"]},
        "files": [
            {"guest_path": "/etc/job.json", "raw_value": "e30="},
            {"guest_path": "/etc/extra.bin", "raw_value": "/wA="}
        ]
    });
    assert_eq!(to_json(&job.machine_config()), expected);
}

/// Field values join struct-level ones in the same maps and lists.
#[derive(MachineConfig)]
#[machine(
    image = "app",
    env(STATIC = "1"),
    init(tty),
    file(guest_path = "/a", contents = "a")
)]
struct Merged {
    #[machine(env)]
    dynamic: bool,
    #[machine(cmd)]
    args: Vec<&'static str>,
    #[machine(file = "/b")]
    b: &'static str,
}

#[test]
fn field_values_merge_with_static_ones() {
    let merged = Merged {
        dynamic: true,
        args: vec!["x"],
        b: "b",
    };
    let expected = json!({
        "image": "app",
        "env": {"STATIC": "1", "DYNAMIC": "true"},
        "init": {"tty": true, "cmd": ["x"]},
        "files": [
            {"guest_path": "/a", "raw_value": "YQ=="},
            {"guest_path": "/b", "raw_value": "Yg=="}
        ]
    });
    assert_eq!(to_json(&merged.machine_config()), expected);
}

/// `Display` decides how a value is written.
struct Tenant {
    org: &'static str,
    id: u32,
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.org, self.id)
    }
}

#[derive(MachineConfig)]
#[machine(image = "app")]
struct PerTenant {
    #[machine(env, metadata)]
    tenant: Tenant,
}

#[test]
fn values_use_display() {
    let config = PerTenant {
        tenant: Tenant { org: "acme", id: 7 },
    }
    .machine_config();
    assert_eq!(
        to_json(&config),
        json!({"image": "app", "env": {"TENANT": "acme-7"}, "metadata": {"tenant": "acme-7"}})
    );
}

/// The macro and the runtime guest checks read the same table: a preset the macro expands agrees
/// with the one the runtime builds.
#[derive(MachineConfig)]
#[machine(image = "app", guest(preset = "performance-4x"))]
struct Preset;

#[test]
fn macro_and_runtime_presets_agree() {
    let from_macro = Preset.machine_config().guest.unwrap();
    let from_runtime: fly_machines::types::MachineGuest =
        Guest::from(GuestPreset::Performance4x).into();
    assert_eq!(from_macro, from_runtime);
    assert!(Guest::try_from(&from_macro).is_ok());
}

/// A hand-written impl needs only `machine_config`; `static_config` defaults to empty.
struct Manual;

impl MachineConfig for Manual {
    fn machine_config(&self) -> fly_machines::types::MachineConfig {
        fly_machines::types::MachineConfig {
            image: Some("manual".into()),
            ..Default::default()
        }
    }
}

#[test]
fn hand_written_impls_work_too() {
    assert_eq!(to_json(&Manual::static_config()), json!({}));
    let as_object: &dyn MachineConfig = &Manual;
    assert_eq!(
        to_json(&as_object.machine_config()),
        json!({"image": "manual"})
    );
}

/// A volume known only at run time, mounted from a field.
#[derive(MachineConfig)]
#[machine(image = "registry.fly.io/db:1", guest(preset = "shared-cpu-1x"))]
struct Database {
    #[machine(mount = "/data")]
    volume_id: String,
    #[machine(mount = "/backup")]
    backup_volume_id: Option<String>,
}

#[test]
fn field_mounts_use_the_value_as_volume_id() {
    let db = Database {
        volume_id: "vol_abc".into(),
        backup_volume_id: None,
    };
    assert_eq!(
        to_json(&db.machine_config()),
        json!({
            "image": "registry.fly.io/db:1",
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
            "mounts": [{"volume": "vol_abc", "path": "/data"}]
        })
    );
}

/// A deploy's values from fields, spot pricing, and a volume that grows by percentage.
#[derive(MachineConfig)]
#[machine(
    image = "registry.fly.io/batch:stable",
    spot(max_price_fraction = 0.5),
    mount(
        volume = "vol_placeholder",
        path = "/scratch",
        size_gb = 1,
        extend_threshold_percent = 80,
        add_size_percent = 20,
        min_add_size_gb = 2,
        size_gb_limit = 20
    )
)]
struct Batch {
    #[machine(image)]
    image: Option<String>,
    #[machine(guest)]
    size: Option<Guest>,
}

/// An image that always comes from the value: no struct-level image needed.
#[derive(MachineConfig)]
struct Deploy {
    #[machine(image)]
    image: String,
    #[machine(env)]
    release: u32,
}

#[test]
fn spot_and_mount_growth_serialize_as_fly_expects() {
    let config = to_json(&Batch::static_config());
    assert_eq!(config["spot"], json!({"max_price_fraction": 0.5}));
    assert_eq!(
        config["mounts"],
        json!([{
            "volume": "vol_placeholder",
            "path": "/scratch",
            "size_gb": 1,
            "extend_threshold_percent": 80,
            "add_size_percent": 20,
            "min_add_size_gb": 2,
            "size_gb_limit": 20
        }])
    );
}

#[test]
fn deploy_values_come_from_fields() {
    let v42 = Batch {
        image: Some("registry.fly.io/batch:v42".into()),
        size: Some(GuestPreset::Performance2x.into()),
    };
    let config = to_json(&v42.machine_config());
    assert_eq!(config["image"], "registry.fly.io/batch:v42");
    assert_eq!(
        config["guest"],
        json!({"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096})
    );
    // `None` keeps the struct's image and leaves the guest out.
    let default = Batch {
        image: None,
        size: None,
    };
    let config = to_json(&default.machine_config());
    assert_eq!(config["image"], "registry.fly.io/batch:stable");
    assert!(config.get("guest").is_none(), "{config}");

    let deploy = Deploy {
        image: "registry.fly.io/web:deployment-01J".into(),
        release: 7,
    };
    assert_eq!(
        to_json(&deploy.checked_machine_config().expect("a good image")),
        json!({"image": "registry.fly.io/web:deployment-01J", "env": {"RELEASE": "7"}})
    );
    // The static part has no image at all: it comes with each value.
    assert!(Deploy::static_config().image.is_none());
}

#[test]
fn checked_configs_refuse_run_time_values_fly_would_refuse() {
    let blank = Deploy {
        image: "registry.fly.io/web: v2".into(),
        release: 1,
    };
    let err = blank.checked_machine_config().unwrap_err();
    let rule = err.rule().expect("a rule error").rule();
    assert_eq!(rule, fly_machines::guest::rules::Rule::Image, "{err}");
    assert!(
        err.to_string().contains("`registry.fly.io/web: v2`"),
        "{err}"
    );
    // Unchecked, the same value is handed over as is.
    assert_eq!(
        blank.machine_config().image.as_deref(),
        Some("registry.fly.io/web: v2")
    );
}

/// The emulator, which follows Fly's rules for creates, accepts the derived configs and keeps
/// what was sent.
#[tokio::test]
async fn the_emulator_accepts_derived_configs() {
    let sim = fly_machines_sim::Sim::builder()
        .manual_clock()
        .no_rate_limits()
        .start()
        .await
        .expect("the emulator starts");
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", sim.base_url()))
            .bearer_auth(sim.token())
            .json(&body)
            .send()
    };
    let app = post("/apps", json!({"name": "derive", "org_slug": "personal"}))
        .await
        .expect("create app");
    assert!(app.status().is_success(), "{}", app.status());
    let volume: serde_json::Value = post(
        "/apps/derive/volumes",
        json!({"name": "data", "size_gb": 1}),
    )
    .await
    .expect("create volume")
    .json()
    .await
    .expect("a volume");
    let volume_id = volume["id"]
        .as_str()
        .expect("the volume has an id")
        .to_owned();

    // Static mounts name volume ids, which a real app creates at run time; the ids in the types
    // above do not exist in the emulator, so those mounts are left out here.
    let mut worker = worker().machine_config();
    worker.mounts = None;
    let mut everything = Everything.machine_config();
    everything.mounts = None;
    let job = Job {
        queue: "q",
        shard: Some(1),
        team: "infra",
        entry: ["/job"],
        args: Some(vec!["run".into()]),
        spec: "{}".into(),
        extra: None,
        not_in_config: 0,
    };
    // The growing mount is pointed at a volume of its own; its growth settings stay.
    let scratch: serde_json::Value = post(
        "/apps/derive/volumes",
        json!({"name": "scratch", "size_gb": 1}),
    )
    .await
    .expect("create volume")
    .json()
    .await
    .expect("a volume");
    let scratch_id = scratch["id"].as_str().expect("the volume has an id");
    let mut batch = Batch {
        image: Some("registry.fly.io/batch:v42".into()),
        size: Some(GuestPreset::SharedCpu2x.into()),
    }
    .machine_config();
    if let Some(mount) = batch.mounts.as_mut().and_then(|m| m.first_mut()) {
        mount.volume = Some(scratch_id.to_owned());
    }
    let database = Database {
        volume_id,
        backup_volume_id: None,
    };
    let configs = [
        worker,
        everything,
        Minimal.machine_config(),
        job.machine_config(),
        database.machine_config(),
        batch,
    ];
    for config in configs {
        let response = post("/apps/derive/machines", json!({"config": config}))
            .await
            .expect("create machine");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(status.is_success(), "{status}: {body}");
        let sent = as_sent(to_json(&config));
        // The emulator writes as Fly does: absent fields as `null`, autostop off/stop as
        // booleans; read back in the client's terms, it is what was sent.
        let kept = as_sent(body["config"].clone());
        for (key, value) in sent.as_object().expect("an object") {
            assert_eq!(&kept[key], value, "config.{key} as the emulator keeps it");
        }
    }
    sim.shutdown().await;
}

/// An answer's config in the terms it was sent in: `null` fields and `init.tty: false` (Go's
/// zero values, which Fly writes out) dropped, and autostop `off` and `stop` as the booleans
/// Fly answers them with (applied to what was sent too, which may use either).
fn as_sent(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, v)| {
                    let zero_tty = k == "tty" && *v == Value::Bool(false);
                    !v.is_null() && !zero_tty
                })
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("autostop", Value::String(s)) if s == "off" => Value::Bool(false),
                        ("autostop", Value::String(s)) if s == "stop" => Value::Bool(true),
                        (_, v) => as_sent(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(as_sent).collect()),
        other => other,
    }
}
