use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", file(guest_path = "/etc/a", contents = "x", secret_name = "A"))]
struct Worker;

fn main() {}
