// The example from the issue, as written there.
use fly_machines::MachineConfig;

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
    #[machine(env)] // QUEUE_NAME=<value>
    queue_name: String,
    #[machine(env = "DB_URL")]
    database_url: String,
    #[machine(metadata)] // metadata "tenant"
    tenant: String,
    #[machine(cmd)] // init.cmd
    args: Vec<String>,
    #[machine(skip)]
    #[allow(dead_code)]
    cache: std::collections::HashMap<String, u32>,
}

fn main() {
    let worker = Worker {
        queue_name: "q".into(),
        database_url: "postgres://".into(),
        tenant: "t".into(),
        args: vec!["run".into()],
        cache: Default::default(),
    };
    let cfg: fly_machines::types::MachineConfig = worker.machine_config();
    assert_eq!(cfg.env.unwrap()["QUEUE_NAME"], "q");
}
