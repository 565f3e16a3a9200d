use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", file(guest_path = "/etc/a", contents = "x"))]
struct Worker {
    #[machine(file = "/etc/a")]
    a: String,
}

fn main() {}
