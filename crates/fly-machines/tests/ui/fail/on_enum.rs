use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
enum Worker {
    Small,
    Large,
}

fn main() {}
