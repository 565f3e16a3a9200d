//! Unit tests of the expansion, run without the compiler: insta snapshots of the generated code
//! for a few representative structs, and of the errors for bad input.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::expand;

/// The expansion, formatted as Rust source.
fn pretty(input: TokenStream) -> String {
    let output = expand(input);
    let file: syn::File = syn::parse2(output.clone())
        .unwrap_or_else(|err| panic!("expansion is not valid Rust ({err}):\n{output}"));
    prettyplease::unparse(&file)
}

/// The messages of the `compile_error!`s in an expansion, in order.
fn errors(input: TokenStream) -> Vec<String> {
    let output = expand(input);
    let file: syn::File = syn::parse2(output.clone())
        .unwrap_or_else(|err| panic!("expansion is not valid Rust ({err}):\n{output}"));
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(mac)
                if mac
                    .mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "compile_error") =>
            {
                let lit: syn::LitStr = mac.mac.parse_body().expect("compile_error! takes a string");
                Some(lit.value())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn snapshot_issue_example() {
    insta::assert_snapshot!(pretty(quote! {
        #[machine(
            image = "registry.fly.io/worker:v3",
            guest(cpu_kind = "performance", cpus = 2, memory_mb = 4096),
            auto_destroy,
            restart(policy = "on-failure", max_retries = 3),
            service(protocol = "tcp", internal_port = 8080, autostop = "suspend", autostart,
                    min_machines_running = 0,
                    port(port = 443, handlers = ["tls", "http"]),
                    port(port = 80, handlers = ["http"], force_https)),
            check(name = "alive", kind = "http", port = 8080, path = "/health",
                  interval = "15s", timeout = "2s"),
            mount(volume = "data", path = "/data"),
            stop(signal = "SIGTERM", timeout = "30s"),
            metadata(role = "worker"),
            env(RUST_LOG = "info"),
        )]
        struct Worker {
            #[machine(env)]
            queue_name: String,
            #[machine(env = "DB_URL")]
            database_url: String,
            #[machine(metadata)]
            tenant: String,
            #[machine(cmd)]
            args: Vec<String>,
            #[machine(skip)]
            cache: std::collections::HashMap<String, u32>,
        }
    }));
}

#[test]
fn snapshot_minimal_unit_struct() {
    insta::assert_snapshot!(pretty(quote! {
        #[machine(image = "nginx:latest")]
        struct Web;
    }));
}

#[test]
fn snapshot_generics_options_and_crate_path() {
    insta::assert_snapshot!(pretty(quote! {
        #[machine(image = "app", crate = "my_sdk::fly", guest(preset = "shared-cpu-2x"))]
        struct Job<'a, T: Clone, const N: usize> where T: Send {
            #[machine(env)]
            value: T,
            #[machine(metadata = "owner")]
            owner: Option<&'a str>,
            #[machine(entrypoint)]
            entry: [&'a str; N],
            #[machine(file = "/etc/job.json")]
            spec: Option<Vec<u8>>,
        }
    }));
}

#[test]
fn snapshot_all_errors_at_once() {
    let found = errors(quote! {
        #[machine(
            imgae = "app",
            guest(cpu_kind = "perfomance", cpus = 3, memory_mb = 1000),
            service(protocol = "tcp", internal_port = 8080, autostop = "nope",
                    port(port = 443, handlers = ["tls", "htp"])),
            restart(policy = "always", max_retries = 2),
            stop(signal = "SIGTERM", timeout = "30 s"),
            env(lower = "x"),
        )]
        struct Worker {
            #[machine(env = "lower")]
            a: String,
            #[machine(skip, cmd)]
            b: Vec<String>,
        }
    });
    insta::assert_snapshot!(found.join("\n"));
}

#[test]
fn a_misspelled_kind_does_not_hide_the_memory_error() {
    let found = errors(quote! {
        #[machine(image = "app", guest(cpu_kind = "perfomance", cpus = 2, memory_mb = 1000))]
        struct Worker;
    });
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].contains("did you mean `performance`"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("invalid memory_mb `1000`"),
        "{found:#?}"
    );
}

#[test]
fn duplicates_are_reported_on_the_second_with_a_note_on_the_first() {
    let found = errors(quote! {
        #[machine(image = "app", env(QUEUE_NAME = "x"), metadata(tenant = "t"))]
        struct Worker {
            #[machine(env, metadata)]
            queue_name: String,
            #[machine(metadata = "tenant")]
            tenant: String,
        }
    });
    assert_eq!(
        found,
        [
            "duplicate env name `QUEUE_NAME`",
            "note: env name `QUEUE_NAME` is first set here",
            "duplicate metadata key `tenant`",
            "note: metadata key `tenant` is first set here",
        ]
    );
}

#[test]
fn shapes_other_than_named_structs_are_refused() {
    for input in [
        quote!(
            #[machine(image = "a")]
            enum E {
                A,
            }
        ),
        quote!(
            #[machine(image = "a")]
            struct T(u8);
        ),
        quote!(#[machine(image = "a")] union U { a: u8 }),
    ] {
        let found = errors(input);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("#[derive(MachineConfig)]"),
            "{found:#?}"
        );
    }
}

#[test]
fn input_that_is_not_an_item_becomes_a_compile_error() {
    let output = expand(quote!(not an item));
    assert!(output.to_string().contains("compile_error"));
}

#[test]
fn unmarked_and_skipped_fields_generate_nothing() {
    let code = pretty(quote! {
        #[machine(image = "a")]
        struct S {
            plain: u8,
            #[machine(skip)]
            skipped: u8,
        }
    });
    assert!(!code.contains("plain"), "{code}");
    assert!(!code.contains("skipped"), "{code}");
}

#[test]
fn generated_paths_are_fully_qualified() {
    let code = expand(quote! {
        #[machine(image = "a", env(A = "1"), service(internal_port = 1, autostop = "stop"))]
        struct S {
            #[machine(env)]
            x: Option<u8>,
            #[machine(cmd)]
            y: Vec<u8>,
            #[machine(file = "/f")]
            z: String,
        }
    })
    .to_string();
    // Every std name is reached through a path (`::core::option::Option::Some`), never bare.
    let tokens: Vec<&str> = code.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        for name in [
            "Option", "Some", "String", "Vec", "Default", "BTreeMap", "ToString", "AsRef",
        ] {
            if *token == name {
                assert!(
                    i > 0 && tokens[i - 1] == "::",
                    "unqualified `{name}` in:\n{code}"
                );
            }
        }
    }
    assert!(code.contains(":: fly_machines :: types :: MachineConfig"));
}

#[test]
fn out_of_range_numbers_are_errors_not_panics() {
    let found = errors(quote! {
        #[machine(image = "a", restart(policy = "spot-price", gpu_bid_price = 1e400),
                  guest(cpus = 99999999999999999999))]
        struct S;
    });
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("expected a finite number"), "{found:#?}");
}

#[test]
fn every_mount_growth_problem_and_a_bad_spot_price_are_reported_together() {
    let found = errors(quote! {
        #[machine(
            image = "db",
            spot(max_price_fraction = -0.5),
            mount(volume = "vol_1", path = "/data", size_gb = 50, add_size_gb = 5,
                  add_size_percent = 0, min_add_size_gb = 1, size_gb_limit = 20),
        )]
        struct Db;
    });
    assert_eq!(
        found,
        [
            "invalid max_price_fraction `-0.5`: expected a fraction of the full price above 0 \
             and at most 1, such as 0.5",
            "invalid add_size_percent `0`: expected a percentage from 1 to 100",
            "invalid add_size_percent `0`: expected either `add_size_gb` or `add_size_percent`, \
             not both",
            "invalid add_size_gb `5`: expected `extend_threshold_percent` too: without it the \
             volume never grows",
            "invalid size_gb_limit `20`: expected a limit no lower than size_gb 50",
        ]
    );
}

#[test]
fn an_option_field_may_override_the_struct_image_and_guest() {
    let found = errors(quote! {
        #[machine(image = "app:stable", guest(preset = "shared-cpu-1x"))]
        struct Web {
            #[machine(image)]
            image: Option<String>,
            #[machine(guest)]
            size: ::core::option::Option<Guest>,
        }
    });
    assert!(found.is_empty(), "{found:?}");
    let generated = pretty(quote! {
        struct Web {
            #[machine(image)]
            image: String,
        }
    });
    assert!(
        generated.contains("config.image = ::core::option::Option::Some("),
        "{generated}"
    );
}
