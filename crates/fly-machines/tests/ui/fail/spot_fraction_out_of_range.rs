use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app", spot(max_price_fraction = 1.5))]
struct Batch;

fn main() {}
