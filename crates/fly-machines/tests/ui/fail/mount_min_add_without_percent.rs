use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(
    image = "db",
    mount(volume = "vol_1", path = "/data", extend_threshold_percent = 80,
          add_size_gb = 5, min_add_size_gb = 2)
)]
struct Db;

fn main() {}
