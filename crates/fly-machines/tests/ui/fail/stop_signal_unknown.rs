use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", stop(signal = "TERM"))]
struct Worker;

fn main() {}
