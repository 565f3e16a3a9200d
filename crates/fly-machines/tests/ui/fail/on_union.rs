use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
union Worker {
    a: u32,
    b: f32,
}

fn main() {}
