use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpus = 1, memroy_mb = 512))]
struct Worker;

fn main() {}
