use fly_machines::MachineConfig;

#[derive(MachineConfig)]
struct Web {
    #[machine(image)]
    image: String,
    #[machine(image)]
    fallback_image: String,
}

fn main() {}
