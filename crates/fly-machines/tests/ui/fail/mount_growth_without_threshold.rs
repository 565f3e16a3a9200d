use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "db", mount(volume = "vol_1", path = "/data", add_size_percent = 20))]
struct Db;

fn main() {}
