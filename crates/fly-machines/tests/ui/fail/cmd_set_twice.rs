use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", init(cmd = ["serve"]))]
struct Worker {
    #[machine(cmd)]
    args: Vec<String>,
}

fn main() {}
