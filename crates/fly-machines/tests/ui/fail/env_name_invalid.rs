use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", env(rust_log = "info"))]
struct Worker {
    #[machine(env = "db-url")]
    database_url: String,
}

fn main() {}
