use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "performance", cpus = 3))]
struct Worker;

fn main() {}
