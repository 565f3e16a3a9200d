use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "shared", cpus = 1, memory_mb = 1000))]
struct Worker;

fn main() {}
