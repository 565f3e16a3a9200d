use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "")]
struct Worker;

fn main() {}
