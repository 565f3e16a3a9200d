use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, autostop = "suspended"))]
struct Worker;

fn main() {}
