use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(
    image = "db",
    mount(volume = "vol_1", path = "/data", size_gb = 20, extend_threshold_percent = 80,
          add_size_gb = 5, size_gb_limit = 10)
)]
struct Db;

fn main() {}
