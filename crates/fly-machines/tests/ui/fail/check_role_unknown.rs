use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", check(name = "alive", kind = "tcp", port = 8080, role = "ready"))]
struct Worker;

fn main() {}
