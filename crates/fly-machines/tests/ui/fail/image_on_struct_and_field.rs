use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "registry.fly.io/web:v1")]
struct Web {
    #[machine(image)]
    image: String,
}

fn main() {}
