use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(auto_destroy)]
struct Worker;

fn main() {}
