use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", file(guest_path = "/etc/a", contents = "x", mode = 0o17777))]
struct Worker;

fn main() {}
