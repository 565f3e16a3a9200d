// `crate = "..."` for code that reaches fly_machines through a re-export.
mod sdk {
    pub mod fly {
        pub use fly_machines::*;
    }
}

use sdk::fly::MachineConfig as _;

#[derive(sdk::fly::MachineConfig)]
#[machine(image = "app", crate = "crate::sdk::fly")]
struct Reexported {
    #[machine(file = "/x")]
    x: String,
}

fn main() {
    let cfg = Reexported { x: "x".into() }.machine_config();
    assert_eq!(cfg.files.unwrap()[0].raw_value.as_deref(), Some("eA=="));
}
