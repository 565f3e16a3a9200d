use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Worker {
    #[machine(skip, env)]
    cache: String,
}

fn main() {}
