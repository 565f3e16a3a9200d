use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 0, port(port = 70000)))]
struct Worker;

fn main() {}
