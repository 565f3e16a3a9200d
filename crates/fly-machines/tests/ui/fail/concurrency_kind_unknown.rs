use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, concurrency(kind = "request")))]
struct Worker;

fn main() {}
