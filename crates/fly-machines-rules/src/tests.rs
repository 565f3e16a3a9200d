//! The rules, value by value.

use std::time::Duration;

use super::*;
use crate::wording::edit_distance;

#[test]
fn guest_table_matches_fly_bounds() {
    assert_eq!(CpuKind::Shared.rule().cpus, &[1, 2, 4, 8]);
    assert_eq!(CpuKind::Performance.rule().cpus, &[1, 2, 4, 8, 16]);
    assert_eq!(CpuKind::Shared.memory_range_mb(2), (512, 4096));
    assert_eq!(CpuKind::Performance.memory_range_mb(2), (4096, 16384));
    for kind in CpuKind::ALL {
        assert_eq!(kind.rule().cpu_kind, kind);
    }
}

#[test]
fn guest_checks() {
    assert_eq!(
        check_guest("performance", 2, 4096),
        Ok(CpuKind::Performance)
    );
    assert_eq!(check_guest("shared", 1, 256), Ok(CpuKind::Shared));
    let err = check_guest("perfomance", 2, 4096).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid cpu_kind `perfomance`: expected `shared` or `performance`; did you mean `performance`?"
    );
    let err = check_guest("shared", 16, 4096).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid cpus `16`: expected 1, 2, 4 or 8 for cpu_kind `shared`"
    );
    let err = check_guest("shared", 1, 300).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid memory_mb `300`: expected a multiple of 256 from 256 to 2048 for 1 shared CPU"
    );
    assert!(check_guest("performance", 1, 1024).is_err());
    assert!(check_guest("performance", 1, 8448).is_err());
    assert!(check_guest("performance", 16, 131072).is_ok());
    assert!(check_memory_step(0).is_err());
    assert!(check_memory_step(-256).is_err());
}

#[test]
fn each_check_names_the_rule_it_enforces() {
    let rule_of = |result: Result<(), RuleError>| result.unwrap_err().rule();
    let cases = [
        (
            rule_of(check_guest("tiny", 1, 256).map(drop)),
            Rule::CpuKind,
        ),
        (rule_of(check_guest("shared", 3, 768).map(drop)), Rule::Cpus),
        (
            rule_of(check_guest("shared", 1, 300).map(drop)),
            Rule::MemoryMb,
        ),
        (rule_of(check_memory_step(100).map(drop)), Rule::MemoryMb),
        (rule_of(GuestPreset::parse("huge").map(drop)), Rule::Preset),
        (rule_of(check_handler("h3").map(drop)), Rule::Handler),
        (rule_of(check_protocol("sctp").map(drop)), Rule::Protocol),
        (
            rule_of(check_restart_policy("sometimes").map(drop)),
            Rule::RestartPolicy,
        ),
        (
            rule_of(check_max_retries(Some("no"), 1).map(drop)),
            Rule::MaxRetries,
        ),
        (rule_of(check_autostop("pause").map(drop)), Rule::Autostop),
        (
            rule_of(check_stop_signal("SIGSTOP").map(drop)),
            Rule::StopSignal,
        ),
        (rule_of(check_schedule("yearly").map(drop)), Rule::Schedule),
        (rule_of(check_check_type("grpc").map(drop)), Rule::CheckType),
        (
            rule_of(check_check_role("liveness").map(drop)),
            Rule::CheckRole,
        ),
        (
            rule_of(check_check_scheme("ftp").map(drop)),
            Rule::CheckScheme,
        ),
        (
            rule_of(check_concurrency_type("bytes").map(drop)),
            Rule::ConcurrencyType,
        ),
        (
            rule_of(check_port("internal_port", 0).map(drop)),
            Rule::Port,
        ),
        (
            rule_of(check_count("soft_limit", -1).map(drop)),
            Rule::Count,
        ),
        (rule_of(check_file_mode(-1).map(drop)), Rule::FileMode),
        (rule_of(check_image("a b")), Rule::Image),
        (
            rule_of(check_guest_path("mount path", "data")),
            Rule::GuestPath,
        ),
        (rule_of(check_metadata_key("")), Rule::MetadataKey),
        (rule_of(check_env_name("a-b")), Rule::EnvName),
        (rule_of(check_app_name("My_App")), Rule::AppName),
        (
            rule_of(parse_go_duration("soon").map(drop)),
            Rule::GoDuration,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
}

#[test]
fn errors_keep_rule_setting_value_and_expectation_apart() {
    let err = check_port("internal_port", 70000).unwrap_err();
    assert_eq!(err.rule(), Rule::Port);
    assert_eq!(err.rule().name(), "port");
    assert_eq!(err.setting(), "internal_port");
    assert_eq!(err.value(), "70000");
    assert_eq!(err.expected(), "a port from 1 to 65535");
    assert_eq!(
        err.to_string(),
        "invalid internal_port `70000`: expected a port from 1 to 65535"
    );
    let err = check_protocol("UDP").unwrap_err();
    assert_eq!(err.setting(), "protocol");
    assert_eq!(err.suggestion(), Some("udp"));
    assert_eq!(
        err.to_string(),
        "invalid protocol `UDP`: expected `tcp` or `udp`; did you mean `udp`?"
    );
}

#[test]
fn presets_follow_the_table() {
    for row in GUEST_PRESETS {
        assert_eq!(row.preset.row(), &row);
        assert_eq!(GuestPreset::parse(row.name), Ok(row.preset));
        assert!(
            check_guest(
                row.cpu_kind.as_str(),
                i64::from(row.cpus),
                i64::from(row.memory_mb)
            )
            .is_ok()
        );
    }
    assert_eq!(GuestPreset::Performance2x.row().memory_mb, 4096);
    let err = GuestPreset::parse("shared-cpu-1").unwrap_err();
    assert_eq!(err.suggestion(), Some("shared-cpu-1x"));
}

#[test]
fn suggestions() {
    assert_eq!(
        check_handler("htpp").unwrap_err().suggestion(),
        Some("http")
    );
    assert_eq!(check_protocol("TCP").unwrap_err().suggestion(), Some("tcp"));
    assert_eq!(
        check_restart_policy("on_failure").unwrap_err().suggestion(),
        Some("on-failure")
    );
    assert_eq!(
        check_autostop("suspnd").unwrap_err().suggestion(),
        Some("suspend")
    );
    assert_eq!(
        check_stop_signal("TERM").unwrap_err().suggestion(),
        Some("SIGTERM")
    );
    assert_eq!(
        check_stop_signal("sigint").unwrap_err().suggestion(),
        Some("SIGINT")
    );
    assert_eq!(check_handler("websocket").unwrap_err().suggestion(), None);
    assert_eq!(closest("imgae", &["image"]), Some("image"));
    assert_eq!(
        closest("shraed", &["shared", "performance"]),
        Some("shared")
    );
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(
        check_handler("websocket").unwrap_err().to_string(),
        "invalid handler `websocket`: expected `tls`, `http`, `proxy_proto`, `pg_tls` or `edge_http`"
    );
}

#[test]
fn restart_rules() {
    assert_eq!(check_max_retries(Some("on-failure"), 3), Ok(3));
    assert_eq!(check_max_retries(None, 3), Ok(3));
    assert!(check_max_retries(Some("always"), 3).is_err());
    assert!(check_max_retries(None, -1).is_err());
}

#[test]
fn ports_and_paths() {
    assert_eq!(check_port("port", 443), Ok(443));
    assert!(check_port("port", 0).is_err());
    assert!(check_port("port", 65536).is_err());
    assert!(check_guest_path("mount path", "/data").is_ok());
    assert_eq!(
        check_guest_path("mount path", "data")
            .unwrap_err()
            .suggestion(),
        Some("/data")
    );
    assert!(check_file_mode(0o644).is_ok());
    assert!(check_file_mode(0o10000).is_err());
    assert!(check_image("nginx:latest").is_ok());
    assert!(check_image("").is_err());
    assert!(check_image("nginx latest").is_err());
}

#[test]
fn metadata_keys() {
    for good in ["fly_platform_version", "role", "a.b-c_1", &"k".repeat(255)] {
        check_metadata_key(good).unwrap();
    }
    for bad in ["", "a/b", "a b", "..", "a..b", "ü", "a?b", &"k".repeat(256)] {
        let err = check_metadata_key(bad).unwrap_err();
        assert_eq!(err.rule(), Rule::MetadataKey, "{bad}");
    }
    assert_eq!(
        check_metadata_key("tier/web").unwrap_err().suggestion(),
        Some("tier_web")
    );
}

#[test]
fn env_names() {
    assert!(is_env_name("QUEUE_NAME"));
    assert!(is_env_name("_X1"));
    assert!(!is_env_name("1X"));
    assert!(!is_env_name("queue_name"));
    assert!(!is_env_name(""));
    assert_eq!(env_name_for_field("queue_name"), "QUEUE_NAME");
    assert_eq!(env_name_for_field("r#type"), "TYPE");
    assert_eq!(
        check_env_name("db-url").unwrap_err().suggestion(),
        Some("DB_URL")
    );
    assert_eq!(check_env_name("1x").unwrap_err().suggestion(), Some("_1X"));
}

#[test]
fn go_durations() {
    let ok = |s: &str| parse_go_duration(s).unwrap();
    assert_eq!(ok("0"), Duration::ZERO);
    assert_eq!(ok("15s"), Duration::from_secs(15));
    assert_eq!(ok("1m30s"), Duration::from_secs(90));
    assert_eq!(ok("500ms"), Duration::from_millis(500));
    assert_eq!(ok("1.5h"), Duration::from_secs(5400));
    assert_eq!(ok(".5s"), Duration::from_millis(500));
    assert_eq!(ok("2us"), Duration::from_micros(2));
    assert_eq!(ok("2µs"), Duration::from_micros(2));
    assert_eq!(ok("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
    assert_eq!(ok("+3s"), Duration::from_secs(3));
    for bad in [
        "",
        "15",
        "15 s",
        "s",
        "-5s",
        "1.s.",
        "5d",
        "1e3s",
        ".s",
        "99999999999999999999h",
    ] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
    }
    assert_eq!(
        parse_go_duration("15 seconds").unwrap_err().to_string(),
        "invalid duration `15 seconds`: expected a Go duration such as `15s`, `1m30s` or `500ms`"
    );
    for d in [
        Duration::ZERO,
        Duration::from_secs(90),
        Duration::from_secs(7200),
        Duration::from_millis(1500),
        Duration::new(1, 1),
    ] {
        assert_eq!(ok(&format_go_duration(d)), d);
    }
    assert_eq!(format_go_duration(Duration::from_secs(120)), "2m");
}

#[test]
fn base64() {
    assert_eq!(encode_base64(b""), "");
    assert_eq!(encode_base64(b"f"), "Zg==");
    assert_eq!(encode_base64(b"fo"), "Zm8=");
    assert_eq!(encode_base64(b"foo"), "Zm9v");
    assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(encode_base64(&[0xff, 0xfe, 0xfd]), "//79");
}
#[test]
fn spot_price_fractions() {
    assert_eq!(check_spot_price_fraction(0.5), Ok(0.5));
    assert_eq!(check_spot_price_fraction(1.0), Ok(1.0));
    for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
        let err = check_spot_price_fraction(bad).unwrap_err();
        assert_eq!(err.rule(), Rule::SpotPrice, "{bad}");
        assert_eq!(err.setting(), "max_price_fraction");
    }
    assert_eq!(
        check_spot_price_fraction(1.5).unwrap_err().to_string(),
        "invalid max_price_fraction `1.5`: expected a fraction of the full price above 0 \
         and at most 1, such as 0.5"
    );
}

#[test]
fn percentages() {
    assert_eq!(check_percent("add_size_percent", 1), Ok(1));
    assert_eq!(check_percent("add_size_percent", 100), Ok(100));
    for bad in [0, 101, -5, i64::MAX] {
        let err = check_percent("extend_threshold_percent", bad).unwrap_err();
        assert_eq!(
            (err.rule(), err.setting()),
            (Rule::Percent, "extend_threshold_percent")
        );
    }
}

#[test]
fn mount_growth_rules_name_the_setting_to_fix() {
    let settings = |growth: MountGrowth| -> Vec<(Rule, String)> {
        check_mount_growth(&growth)
            .into_iter()
            .map(|e| (e.rule(), e.setting().to_owned()))
            .collect()
    };
    let fine = MountGrowth {
        size_gb: Some(10),
        extend_threshold_percent: Some(80),
        add_size_percent: Some(20),
        min_add_size_gb: Some(2),
        size_gb_limit: Some(100),
        ..Default::default()
    };
    assert!(check_mount_growth(&fine).is_empty());
    assert!(check_mount_growth(&MountGrowth::default()).is_empty());
    // A threshold alone is accepted: the step is then left to Fly.
    assert!(
        check_mount_growth(&MountGrowth {
            extend_threshold_percent: Some(90),
            ..Default::default()
        })
        .is_empty()
    );
    assert_eq!(
        settings(MountGrowth {
            add_size_gb: Some(5),
            ..fine
        }),
        [(Rule::MountGrowth, "add_size_percent".into())]
    );
    assert_eq!(
        settings(MountGrowth {
            add_size_percent: None,
            add_size_gb: Some(5),
            ..fine
        }),
        [(Rule::MountGrowth, "min_add_size_gb".into())]
    );
    assert_eq!(
        settings(MountGrowth {
            extend_threshold_percent: None,
            ..fine
        }),
        [(Rule::MountGrowth, "add_size_percent".into())]
    );
    assert_eq!(
        settings(MountGrowth {
            size_gb_limit: Some(5),
            ..fine
        }),
        [(Rule::MountGrowth, "size_gb_limit".into())]
    );
    assert_eq!(
        settings(MountGrowth {
            add_size_percent: Some(150),
            extend_threshold_percent: Some(0),
            min_add_size_gb: Some(-1),
            ..fine
        }),
        [
            (Rule::Count, "min_add_size_gb".into()),
            (Rule::Percent, "extend_threshold_percent".into()),
            (Rule::Percent, "add_size_percent".into()),
        ]
    );
}

/// The typed service words are the lists the checks read: each value reads back from its word,
/// and a word outside the list is refused with the very error its check gives.
#[test]
fn typed_service_words_are_the_checked_lists() {
    fn agree<T>(all: &[T], list: &[&str], check: fn(&str) -> Result<&'static str, RuleError>)
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + std::fmt::Display
            + std::str::FromStr<Err = RuleError>,
    {
        let words: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        assert_eq!(words, list);
        for value in all {
            let word = value.to_string();
            assert_eq!(word.parse::<T>(), Ok(*value));
            assert_eq!(check(&word).map(str::to_string), Ok(word));
        }
        for wrong in ["", "TCP", "tsl", "suspnd", "request", "sctp"] {
            if list.contains(&wrong) {
                continue;
            }
            assert_eq!(wrong.parse::<T>().unwrap_err(), check(wrong).unwrap_err());
        }
    }
    agree(Protocol::ALL, PROTOCOLS, check_protocol);
    agree(Handler::ALL, HANDLERS, check_handler);
    agree(Autostop::ALL, AUTOSTOP_VALUES, check_autostop);
    agree(
        ConcurrencyKind::ALL,
        CONCURRENCY_TYPES,
        check_concurrency_type,
    );

    let err = "sctp".parse::<Protocol>().unwrap_err();
    assert_eq!(err.rule(), Rule::Protocol);
    assert_eq!(
        err.to_string(),
        "invalid protocol `sctp`: expected `tcp` or `udp`"
    );
    let err = "tsl".parse::<Handler>().unwrap_err();
    assert_eq!(err.rule(), Rule::Handler);
    assert_eq!(err.suggestion(), Some("tls"));
    assert_eq!(
        "request".parse::<ConcurrencyKind>().unwrap_err().rule(),
        Rule::ConcurrencyType
    );
    assert_eq!(
        "pause".parse::<Autostop>().unwrap_err().rule(),
        Rule::Autostop
    );
}
