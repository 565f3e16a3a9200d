use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, port(start_port = 9000, end_port = 8000)))]
struct Worker;

fn main() {}
