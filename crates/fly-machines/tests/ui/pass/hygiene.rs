// The generated code names everything by its full path, so local items that shadow the prelude
// or look like its own names do not break it.
#![allow(dead_code, non_camel_case_types)]

use fly_machines::MachineConfig;

struct Option;
struct Some;
struct String;
struct Vec;
struct Default;
struct BTreeMap;
mod core {}
mod std {}
trait ToString {}
trait Display {}

#[derive(MachineConfig)]
#[machine(image = "app", env(A = "1"), service(internal_port = 1))]
#[machine(metadata(m = "n"))]
struct Shadowed {
    #[machine(env)]
    config: &'static str,
    #[machine(cmd)]
    __machine_value: [&'static str; 1],
    #[machine(env = "OPT")]
    opt: ::std::option::Option<u8>,
}

fn main() {
    let cfg = Shadowed { config: "c", __machine_value: ["v"], opt: ::std::option::Option::None }
        .machine_config();
    assert_eq!(cfg.env.unwrap()["CONFIG"], "c");
}
