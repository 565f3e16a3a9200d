use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", restart(policy = "always", max_retries = 3))]
struct Worker;

fn main() {}
