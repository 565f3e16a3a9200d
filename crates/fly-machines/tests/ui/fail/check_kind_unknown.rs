use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", check(name = "alive", kind = "https", port = 8080))]
struct Worker;

fn main() {}
