use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Worker {
    #[machine(file = "etc/app.toml")]
    config: String,
}

fn main() {}
