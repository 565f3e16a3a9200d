// Type, lifetime and const parameters, bounds inline and in where clauses, and parameters the
// derive has to bound itself (no `Display` written on `T`).
use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Generic<'a, T, U: Clone, const N: usize>
where
    U: std::fmt::Debug,
{
    #[machine(env)]
    value: T,
    #[machine(metadata)]
    borrowed: &'a str,
    #[machine(cmd)]
    args: [U; N],
    #[machine(file = "/data")]
    data: &'a [u8],
}

fn needs_config<C: MachineConfig>(c: &C) -> fly_machines::types::MachineConfig {
    c.machine_config()
}

fn main() {
    let g = Generic {
        value: 3.5,
        borrowed: "b",
        args: ["x", "y"],
        data: b"d",
    };
    let cfg = needs_config(&g);
    assert_eq!(cfg.env.unwrap()["VALUE"], "3.5");
    assert_eq!(cfg.init.unwrap().cmd.unwrap(), ["x", "y"]);
    let _ = Generic::<'static, u8, &str, 1>::static_config();
}
