use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, port(handlers = ["http"])))]
struct Worker;

fn main() {}
