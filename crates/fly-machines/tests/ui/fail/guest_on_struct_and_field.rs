use fly_machines::MachineConfig;
use fly_machines::guest::Guest;

#[derive(MachineConfig)]
#[machine(image = "app", guest(preset = "shared-cpu-1x"))]
struct Web {
    #[machine(guest)]
    size: Guest,
}

fn main() {}
