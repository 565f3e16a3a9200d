use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", check(name = "alive", kind = "http", port = 8080, protocol = "tcp"))]
struct Worker;

fn main() {}
