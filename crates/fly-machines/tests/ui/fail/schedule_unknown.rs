use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", schedule = "dayly")]
struct Worker;

fn main() {}
