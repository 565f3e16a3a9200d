// `Option` fields in every spelling the derive recognises are left out when `None`.
use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Optional {
    #[machine(env)]
    a: Option<u8>,
    #[machine(metadata)]
    b: std::option::Option<String>,
    #[machine(cmd)]
    c: ::core::option::Option<Vec<String>>,
    #[machine(entrypoint)]
    d: Option<Vec<&'static str>>,
    #[machine(file = "/e")]
    e: Option<String>,
}

fn main() {
    let none = Optional { a: None, b: None, c: None, d: None, e: None }.machine_config();
    assert!(none.env.is_none() && none.metadata.is_none());
    assert!(none.init.is_none() && none.files.is_none());
    let some = Optional {
        a: Some(1),
        b: Some("b".into()),
        c: Some(vec![]),
        d: Some(vec!["d"]),
        e: Some("e".into()),
    }
    .machine_config();
    assert_eq!(some.env.unwrap()["A"], "1");
    assert_eq!(some.init.unwrap().cmd.unwrap().len(), 0);
}
