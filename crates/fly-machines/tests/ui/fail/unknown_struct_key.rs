use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", auto_destory)]
struct Worker;

fn main() {}
