use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", check(name = "alive", kind = "tcp", port = 8080, interval = "15 seconds"))]
struct Worker;

fn main() {}
