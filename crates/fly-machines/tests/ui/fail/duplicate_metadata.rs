use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", metadata(tenant = "shared"))]
struct Worker {
    #[machine(metadata)]
    tenant: String,
}

fn main() {}
