use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "perfomance", cpus = 2, memory_mb = 4096))]
struct Worker;

fn main() {}
