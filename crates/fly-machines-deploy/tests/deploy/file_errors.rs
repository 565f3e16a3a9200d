//! A fleet file that cannot be used is refused whole, with the key and the line.

use fly_machines_deploy::{Amount, DesiredFleet, FleetFileError, Strategy};

fn refused(text: &str) -> FleetFileError {
    match DesiredFleet::from_toml(text) {
        Ok(fleet) => panic!("accepted: {fleet:?}"),
        Err(e) => e,
    }
}

const HEAD: &str = "app = \"shop\"\n\n[[group]]\nname = \"web\"\nimage = \"nginx:1.27\"\n";

#[test]
fn unknown_key_names_the_key_and_line() {
    let e = refused(&format!(
        "{HEAD}count = 1\nregions = [\"iad\"]\nimgae = \"x\"\n"
    ));
    assert_eq!(e.line(), 8, "{e}");
    assert_eq!(e.key(), "imgae", "{e}");
    assert!(e.message().contains("unknown field"), "{e}");
}

#[test]
fn negative_count_names_the_key_and_line() {
    let e = refused(&format!("{HEAD}count = -2\nregions = [\"iad\"]\n"));
    assert_eq!((e.line(), e.key()), (6, "group.web.count"), "{e}");
    assert!(e.message().contains("`-2`"), "{e}");
}

#[test]
fn negative_count_in_a_region_table() {
    let e = refused(&format!("{HEAD}regions = {{ iad = 1, ord = -1 }}\n"));
    assert_eq!((e.line(), e.key()), (6, "group.web.regions.ord"), "{e}");
}

#[test]
fn duplicate_group_points_at_the_second() {
    let e = refused(&format!(
        "{HEAD}count = 1\nregions = [\"iad\"]\n\n[[group]]\nname = \"web\"\nimage = \"nginx:1\"\ncount = 1\nregions = [\"ord\"]\n"
    ));
    assert_eq!((e.line(), e.key()), (10, "group.web.name"), "{e}");
    assert!(e.message().contains("unique"), "{e}");
}

#[test]
fn bad_values_go_through_the_rules() {
    let cases = [
        // (extra lines, line, key, a word of the message)
        (
            "env = { \"log-level\" = \"x\" }\n",
            8,
            "group.web.env.log-level",
            "[A-Z_]",
        ),
        (
            "guest = { cpu_kind = \"shared\", cpus = 16, memory_mb = 256 }\n",
            8,
            "group.web.guest.cpus",
            "1, 2, 4 or 8",
        ),
        (
            "guest = { cpu_kind = \"tiny\", cpus = 1, memory_mb = 256 }\n",
            8,
            "group.web.guest.cpu_kind",
            "shared",
        ),
        (
            "[group.checks.up]\ntype = \"http\"\nport = 8080\ninterval = \"ten seconds\"\n",
            11,
            "group.web.checks.up.interval",
            "ten seconds",
        ),
        (
            "[group.volume]\nsize_gb = 0\npath = \"/data\"\n",
            9,
            "group.web.volume.size_gb",
            "at least 1 GB",
        ),
        (
            "[group.volume]\nsize_gb = 1\npath = \"data\"\n",
            10,
            "group.web.volume.path",
            "absolute",
        ),
        (
            "[group.strategy]\nkind = \"rolling\"\nmax_unavailable = 0\n",
            10,
            "group.web.strategy.max_unavailable",
            "never let a machine change",
        ),
        (
            "[group.strategy]\nkind = \"yolo\"\n",
            9,
            "group.web.strategy.kind",
            "bluegreen",
        ),
        (
            "[[group.services]]\nprotocol = \"tcp\"\ninternal_port = 70000\n",
            10,
            "group.web.services[0].internal_port",
            "70000",
        ),
        (
            "[[group.services]]\nprotocol = \"sctp\"\ninternal_port = 8080\n",
            9,
            "group.web.services[0].protocol",
            "`sctp`: expected `tcp` or `udp`",
        ),
        (
            "[[group.services]]\nprotocol = \"tcp\"\ninternal_port = 8080\nautostop = \"pause\"\n",
            11,
            "group.web.services[0].autostop",
            "`pause`: expected `off`, `stop` or `suspend`",
        ),
        (
            "[[group.services]]\nprotocol = \"tcp\"\ninternal_port = 8080\n\
             [[group.services.ports]]\nport = 443\nhandlers = [\"http\", \"tsl\"]\n",
            12,
            "group.web.services[0].ports[0].handlers",
            "`tsl`: expected `tls`, `http`",
        ),
    ];
    for (extra, line, key, word) in cases {
        let e = refused(&format!("{HEAD}count = 1\nregions = [\"iad\"]\n{extra}"));
        assert_eq!((e.line(), e.key()), (line, key), "{extra}: {e}");
        assert!(e.message().contains(word), "{extra}: {e}");
    }
}

#[test]
fn bluegreen_with_volumes_is_refused() {
    let e = refused(&format!(
        "{HEAD}count = 1\nregions = [\"iad\"]\n[group.volume]\nsize_gb = 1\npath = \"/data\"\n[group.strategy]\nkind = \"bluegreen\"\n"
    ));
    assert_eq!(e.key(), "group.web.strategy", "{e}");
    assert!(e.message().contains("volume"), "{e}");
}

#[test]
fn a_list_of_regions_needs_a_count() {
    let e = refused(&format!("{HEAD}regions = [\"iad\"]\n"));
    assert_eq!(e.key(), "group.web.count", "{e}");
    let e = refused(&format!("{HEAD}count = 1\nregions = [\"Iad\"]\n"));
    assert_eq!(e.key(), "group.web.region", "{e}");
}

#[test]
fn syntax_errors_have_a_line() {
    let e = refused("app = \"shop\"\n[[group]\n");
    assert_eq!(e.line(), 2, "{e}");
}

#[test]
fn max_unavailable_zero_is_an_error_not_a_panic() {
    let e = Strategy::rolling()
        .max_unavailable(Amount::Count(0))
        .unwrap_err();
    assert_eq!(e.setting(), "max_unavailable");
    let e = Strategy::rolling()
        .max_unavailable(Amount::Fraction(f64::NAN))
        .unwrap_err();
    assert_eq!(e.setting(), "max_unavailable");
    assert_eq!(Amount::Fraction(0.25).of(10), 3);
    assert_eq!(Amount::Count(20).of(10), 10);
}

#[test]
fn max_surge_is_for_rolling_without_volumes() {
    let strategy = |kind: &str, surge: &str| {
        format!(
            "{HEAD}count = 2\nregions = [\"iad\"]\n[group.strategy]\nkind = \"{kind}\"\nmax_surge = {surge}\n"
        )
    };
    let rolling = DesiredFleet::from_toml(&strategy("rolling", "1")).expect("a rolling surge");
    assert_eq!(
        rolling.groups()[0].strategy().max_surge_amount(),
        Amount::Count(1)
    );
    for kind in ["canary", "bluegreen", "immediate"] {
        let e = refused(&strategy(kind, "0.5"));
        assert_eq!(e.key(), "group.web.strategy.max_surge", "{kind}: {e}");
        assert!(e.message().contains("only `rolling`"), "{kind}: {e}");
        // 0 is what they do anyway.
        DesiredFleet::from_toml(&strategy(kind, "0")).expect("no surge");
    }
    let e = refused(&format!(
        "{HEAD}count = 1\nregions = [\"iad\"]\n[group.volume]\nsize_gb = 1\npath = \"/data\"\n[group.strategy]\nkind = \"rolling\"\nmax_surge = 1\n"
    ));
    assert_eq!(e.key(), "group.web.strategy.max_surge", "{e}");
    assert!(e.message().contains("empty volume"), "{e}");
}
