use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Worker {
    #[machine(evn)]
    queue: String,
}

fn main() {}
