use fly_machines::MachineConfig;

#[derive(MachineConfig)]
struct Web {
    #[machine(image = "nginx")]
    image: String,
}

fn main() {}
