// Every struct-level attribute and every key inside each section.
use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(
    image = "registry.fly.io/app:1",
    guest(preset = "shared-cpu-2x", cpu_kind = "shared", cpus = 2, memory_mb = 1024,
          gpu_kind = "a100-pcie-40gb", gpus = 1, kernel_args = ["quiet"]),
    auto_destroy = true,
    restart(policy = "spot-price", gpu_bid_price = 0.25),
    service(protocol = "udp", internal_port = 53, autostop = "off", autostart = false,
            min_machines_running = 1,
            port(start_port = 5000, end_port = 5010, handlers = ["proxy_proto"]),
            concurrency(kind = "requests", soft_limit = 1, hard_limit = 2),
            check(kind = "http", port = 53, path = "/", method = "GET", protocol = "http",
                  interval = "1s", timeout = "500ms", grace_period = "1m30s",
                  tls_server_name = "x", tls_skip_verify = false)),
    check(name = "c", kind = "tcp", role = "readiness", port = 1, interval = "1h"),
    mount(volume = "vol_1", path = "/v", name = "v", size_gb = 1, encrypted = true,
          extend_threshold_percent = 90, add_size_gb = 1, size_gb_limit = 10),
    stop(signal = "SIGUSR2", timeout = "0"),
    init(cmd = ["a"], entrypoint = ["b"], exec = ["c"], kernel_args = ["d"], tty = false,
         swap_size_mb = 256),
    metadata(a = "b", n = 1),
    env(A = "b", N = 1, F = 1.5, T = true, C = 'c'),
    schedule = "monthly",
    dns(hostname = "h", hostname_fqdn = "h.example", nameservers = ["9.9.9.9"],
        searches = ["example"], skip_registration = false),
    file(guest_path = "/f", contents = "x", mode = 0o755),
    file(guest_path = "/g", secret_name = "G"),
    process(cmd = ["p"], entrypoint = ["e"], exec = ["x"], user = "u", env(P = "1"), env(Q = "2"),
            ignore_app_secrets = true),
    metrics(port = 9091, path = "/metrics", https = false),
)]
struct Everything;

fn main() {
    let cfg = Everything.machine_config();
    assert_eq!(cfg.env.unwrap()["C"], "c");
    assert_eq!(cfg.processes.unwrap()[0].env.as_ref().unwrap().len(), 2);
}
