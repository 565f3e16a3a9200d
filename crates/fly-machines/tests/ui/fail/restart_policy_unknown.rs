use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", restart(policy = "on_failure"))]
struct Worker;

fn main() {}
