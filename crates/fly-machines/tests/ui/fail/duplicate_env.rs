use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", env(QUEUE_NAME = "default"))]
struct Worker {
    #[machine(env)]
    queue_name: String,
    #[machine(env = "REGION")]
    region: String,
    #[machine(env = "REGION")]
    fallback_region: String,
}

fn main() {}
