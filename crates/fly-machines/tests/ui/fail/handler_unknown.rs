use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", service(internal_port = 8080, port(port = 443, handlers = ["tls", "htpp"])))]
struct Worker;

fn main() {}
