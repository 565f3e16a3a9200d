use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "shared", cpus = 1, memory_mb = 4096))]
struct Worker;

fn main() {}
