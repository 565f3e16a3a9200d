use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Worker(String);

fn main() {}
