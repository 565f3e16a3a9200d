use fly_machines::MachineConfig;

// Every problem is reported in one build, each at its own value.
#[derive(MachineConfig)]
#[machine(
    imgae = "app",
    guest(cpu_kind = "perfomance", cpus = 3, memory_mb = 1000),
    service(protocol = "tcp", internal_port = 8080, autostop = "nope",
            port(port = 443, handlers = ["tls", "htp"])),
    restart(policy = "always", max_retries = 2),
    stop(signal = "SIGTERM", timeout = "30 s"),
    env(lower = "x"),
)]
struct Worker {
    #[machine(env = "lower")]
    a: String,
    #[machine(skip, cmd)]
    b: Vec<String>,
}

fn main() {}
