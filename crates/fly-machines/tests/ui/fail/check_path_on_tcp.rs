use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", check(name = "alive", kind = "tcp", port = 8080, path = "/health"))]
struct Worker;

fn main() {}
