use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", guest(cpu_kind = "shared", cpus = 16))]
struct Worker;

fn main() {}
