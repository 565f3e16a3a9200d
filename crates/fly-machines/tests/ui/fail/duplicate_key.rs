use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app:1")]
#[machine(image = "app:2")]
struct Worker;

fn main() {}
