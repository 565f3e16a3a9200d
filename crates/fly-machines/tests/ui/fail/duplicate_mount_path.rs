use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", mount(volume = "vol_1", path = "/data"))]
struct Worker {
    #[machine(mount = "/data")]
    volume: String,
}

fn main() {}
