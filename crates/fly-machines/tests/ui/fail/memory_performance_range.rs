use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "performance", cpus = 2, memory_mb = 2048))]
struct Worker;

fn main() {}
