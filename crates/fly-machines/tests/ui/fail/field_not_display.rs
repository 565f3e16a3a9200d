use fly_machines::MachineConfig;

struct Opaque;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Worker {
    #[machine(env)]
    opaque: Opaque,
}

fn main() {}
