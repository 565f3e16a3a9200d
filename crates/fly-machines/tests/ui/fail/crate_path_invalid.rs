use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", crate = "not a path")]
struct Worker;

fn main() {}
