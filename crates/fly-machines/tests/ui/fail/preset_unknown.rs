use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(preset = "shared-cpu-3x"))]
struct Worker;

fn main() {}
