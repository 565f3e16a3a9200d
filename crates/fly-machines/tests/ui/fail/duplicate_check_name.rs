use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(
    image = "app",
    check(name = "alive", kind = "tcp", port = 8080),
    check(name = "alive", kind = "http", port = 8080, path = "/"),
)]
struct Worker;

fn main() {}
