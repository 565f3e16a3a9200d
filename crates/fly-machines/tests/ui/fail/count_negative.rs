use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, min_machines_running = -1))]
struct Worker;

fn main() {}
