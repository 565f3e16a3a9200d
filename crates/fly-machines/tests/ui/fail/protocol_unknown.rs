use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(protocol = "tpc", internal_port = 8080))]
struct Worker;

fn main() {}
