use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", file(guest_path = "/etc/a"))]
struct Worker;

fn main() {}
