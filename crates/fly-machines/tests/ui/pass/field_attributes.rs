// Every field attribute, on every kind of field type they accept.
use fly_machines::MachineConfig;

#[derive(MachineConfig)]
#[machine(image = "app")]
struct Fields {
    #[machine(env)]
    plain_env: u32,
    #[machine(env = "NAMED")]
    named_env: &'static str,
    #[machine(metadata)]
    plain_metadata: char,
    #[machine(metadata = "named.key")]
    named_metadata: std::net::Ipv4Addr,
    #[machine(cmd)]
    cmd: Vec<String>,
    #[machine(entrypoint)]
    entrypoint: [&'static str; 2],
    #[machine(file = "/etc/text")]
    text: String,
    #[machine(file = "/etc/bytes")]
    bytes: Vec<u8>,
    #[machine(mount = "/data")]
    volume: &'static str,
    #[machine(mount = "/cache")]
    cache_volume: Option<String>,
    #[machine(skip)]
    #[allow(dead_code)]
    skipped: std::cell::Cell<u8>,
    #[allow(dead_code)]
    unmarked: (),
    #[machine(env, metadata)]
    r#type: String,
}

fn main() {
    let cfg = Fields {
        plain_env: 1,
        named_env: "n",
        plain_metadata: 'm',
        named_metadata: std::net::Ipv4Addr::LOCALHOST,
        cmd: vec!["c".into()],
        entrypoint: ["/bin/sh", "-c"],
        text: "t".into(),
        bytes: vec![1, 2, 3],
        volume: "vol_1",
        cache_volume: None,
        skipped: Default::default(),
        unmarked: (),
        r#type: "worker".into(),
    }
    .machine_config();
    let env = cfg.env.unwrap();
    assert_eq!(env["PLAIN_ENV"], "1");
    assert_eq!(env["TYPE"], "worker");
    let metadata = cfg.metadata.unwrap();
    assert_eq!(metadata["named.key"], "127.0.0.1");
    assert_eq!(metadata["type"], "worker");
    assert_eq!(cfg.files.unwrap().len(), 2);
    assert_eq!(cfg.mounts.unwrap().len(), 1);
}
