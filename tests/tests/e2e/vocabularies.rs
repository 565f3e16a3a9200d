//! One vocabulary on both sides: every word of each closed set the client can send (read from
//! the rules crate, or from an enum of our document), sent through the client's typed calls, is
//! accepted by the emulator, and a word outside a set is refused by both with the same wording.
//! Every state the emulator puts a machine in reads as a state the client names. A word one
//! side knows and the other refuses fails here.

use std::collections::BTreeSet;
use std::time::Duration;

use fly_machines::builders::{
    Autostop, ConcurrencyKind, Handler, Protocol, Restart, http_check, machine_config, service,
    tcp_check,
};
use fly_machines::guest::rules;
use fly_machines::wait::WaitState;
use fly_machines::{App, MachineState, ProcessSort, Signal, types};
use fly_machines_sim::{MACHINE_STATES, Sim};

use crate::support::{World, create_app, insist};

const TRANSITION: Duration = Duration::from_millis(200);

/// The words of one enum of our OpenAPI document (`components.schemas.<name>.enum`).
fn document_enum(name: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/fly-machines.json");
    let text = std::fs::read_to_string(path).expect("our OpenAPI document");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("it is JSON");
    doc["components"]["schemas"][name]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is an enum of the document"))
        .iter()
        .map(|w| w.as_str().expect("enum words are strings").to_string())
        .collect()
}

/// A TCP service on 8080 with one raw field set as `edit` writes it (words no typed value has).
fn raw_service(edit: impl FnOnce(&mut types::MachineService)) -> types::MachineService {
    let mut svc = types::MachineService {
        protocol: Some("tcp".into()),
        internal_port: Some(8080),
        ..Default::default()
    };
    edit(&mut svc);
    svc
}

async fn started_machine(app: &App, config: types::MachineConfig) -> fly_machines::Machine {
    let made = app
        .machines()
        .create(config)
        .send()
        .await
        .expect("the emulator accepts the config");
    let machine = app.machine(made.id().to_string());
    machine
        .wait_started(Duration::from_secs(60))
        .await
        .expect("it starts");
    machine
}

#[tokio::test]
async fn every_word_the_client_sends_the_emulator_accepts() {
    let mut world = World::start(
        Sim::builder().seed(5).transition_time(TRANSITION),
        TRANSITION,
    )
    .await;
    let client = world.client.clone();
    let tried = world
        .run("vocabularies", async move {
            create_app(&client, "vocab").await;
            let app = client.app("vocab");
            let mut tried = 0usize;

            // Machine configs: each service word, restart policy and check word in turn.
            let mut configs = Vec::new();
            // Every typed service word, and the rules' list it was declared with.
            let words = |all: Vec<&'static str>, list: &[&str]| assert_eq!(all, list);
            words(
                Protocol::ALL.iter().map(|v| v.as_str()).collect(),
                rules::PROTOCOLS,
            );
            words(
                Handler::ALL.iter().map(|v| v.as_str()).collect(),
                rules::HANDLERS,
            );
            words(
                Autostop::ALL.iter().map(|v| v.as_str()).collect(),
                rules::AUTOSTOP_VALUES,
            );
            words(
                ConcurrencyKind::ALL.iter().map(|v| v.as_str()).collect(),
                rules::CONCURRENCY_TYPES,
            );
            for protocol in Protocol::ALL {
                let svc = service(*protocol, 8080).build().unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for handler in Handler::ALL {
                let svc = service(Protocol::Tcp, 8080)
                    .port(443, &[*handler])
                    .build()
                    .unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for mode in Autostop::ALL {
                let svc = service(Protocol::Tcp, 8080)
                    .autostop(*mode)
                    .build()
                    .unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for kind in ConcurrencyKind::ALL {
                let svc = service(Protocol::Tcp, 8080)
                    .concurrency(*kind, 20, 25)
                    .build()
                    .unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for restart in [
                Restart::Never,
                Restart::Always,
                Restart::OnFailure { max_retries: 3 },
            ] {
                configs.push(machine_config("nginx").restart(restart).build().unwrap());
            }
            let checks = [
                http_check(8080, "/health").interval(Duration::from_millis(1500)),
                tcp_check(8080).timeout(Duration::from_secs(90)),
            ];
            for check in checks {
                let config = machine_config("nginx")
                    .check("alive", check.build().unwrap())
                    .build()
                    .unwrap();
                configs.push(config);
            }
            for config in configs {
                app.machines()
                    .create(config)
                    .skip_launch()
                    .send()
                    .await
                    .expect("the emulator accepts what the builders made");
                tried += 1;
            }

            // A word outside each set: the client's `FromStr` and the emulator refuse it alike.
            let refused: [(&str, Result<(), rules::RuleError>, types::MachineService); 4] = [
                (
                    "sctp",
                    "sctp".parse::<Protocol>().map(drop),
                    raw_service(|s| s.protocol = Some("sctp".into())),
                ),
                (
                    "tsl",
                    "tsl".parse::<Handler>().map(drop),
                    raw_service(|s| {
                        s.ports = Some(vec![types::MachinePort {
                            port: Some(443),
                            handlers: Some(vec!["tsl".into()]),
                            ..Default::default()
                        }])
                    }),
                ),
                (
                    "pause",
                    "pause".parse::<Autostop>().map(drop),
                    raw_service(|s| {
                        s.autostop = Some(types::MachineServiceAutostop::String("pause".into()))
                    }),
                ),
                (
                    "request",
                    "request".parse::<ConcurrencyKind>().map(drop),
                    raw_service(|s| {
                        s.concurrency = Some(types::MachineServiceConcurrency {
                            type_: Some("request".into()),
                            ..Default::default()
                        })
                    }),
                ),
            ];
            for (word, client_side, svc) in refused {
                let wording = client_side.expect_err(word).to_string();
                let config = machine_config("nginx").service(svc).build().unwrap();
                let err = app
                    .machines()
                    .create(config)
                    .skip_launch()
                    .send()
                    .await
                    .expect_err(word);
                assert_eq!(err.status(), Some(400), "{word}: {err}");
                assert!(
                    err.to_string().contains(&wording),
                    "{word}: {err} / {wording}"
                );
                tried += 1;
            }

            // Signals: every one the client names, on a running machine.
            let machine = started_machine(&app, machine_config("nginx").build().unwrap()).await;
            for word in rules::SIGNALS {
                let signal: Signal = word.parse().unwrap();
                machine.signal(signal).send().await.expect(word);
                tried += 1;
            }
            // Process sort keys: every word of the document's enum.
            for word in document_enum("ProcessSortKey") {
                let key: ProcessSort = word.parse().unwrap();
                machine.processes().sort_by(key).send().await.expect(&word);
                tried += 1;
            }
            // Stop signals with Go durations the client writes: stop, then start again.
            let timeouts = [
                Duration::from_millis(250),
                Duration::from_secs(10),
                Duration::from_secs(90),
                Duration::from_secs(3600 + 30 * 60),
            ];
            for (i, word) in rules::STOP_SIGNALS.iter().enumerate() {
                let signal: Signal = word.parse().unwrap();
                let timeout = timeouts[i % timeouts.len()];
                machine
                    .stop()
                    .signal(signal)
                    .timeout(timeout)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{word} with {timeout:?}: {e}"));
                machine
                    .wait_stopped(Duration::from_secs(60))
                    .await
                    .expect("it stops");
                insist("start", || machine.start().send()).await;
                machine
                    .wait_started(Duration::from_secs(60))
                    .await
                    .expect("it starts again");
                tried += 1;
            }
            tried
        })
        .await;
    println!("vocabulary_words_tried: {tried}");
    assert!(tried >= 40, "{tried}");
    world.shutdown().await;
}

/// States recorded by events, as the client decodes them.
fn states_of(events: &[types::MachineEvent]) -> impl Iterator<Item = MachineState> + '_ {
    events.iter().map(|e| e.state())
}

#[tokio::test]
async fn every_state_the_emulator_produces_is_one_the_client_names() {
    let mut world = World::start(
        Sim::builder().seed(6).transition_time(TRANSITION),
        TRANSITION,
    )
    .await;
    let client = world.client.clone();
    let seen = world
        .run("machine states", async move {
            create_app(&client, "states").await;
            let app = client.app("states");
            let wait = Duration::from_secs(60);
            let mut seen: Vec<MachineState> = Vec::new();

            // One machine through each move: stop, start, suspend, resume, restart, update.
            let machine = started_machine(&app, machine_config("nginx").build().unwrap()).await;
            machine.stop_and_wait(wait).await.expect("it stops");
            insist("start", || machine.start().send()).await;
            machine.wait_started(wait).await.expect("it starts");
            machine.suspend().send().await.expect("suspend");
            let outcome = machine
                .wait_for([WaitState::Suspended])
                .timeout(wait)
                .await
                .expect("it suspends");
            seen.push(outcome.state);
            insist("resume", || machine.start().send()).await;
            machine.wait_started(wait).await.expect("it resumes");
            machine.restart().send().await.expect("restart");
            machine.wait_started(wait).await.expect("it restarts");
            machine
                .update_config(machine_config("nginx:1.27").build().unwrap())
                .send()
                .await
                .expect("update");
            machine
                .wait_started(wait)
                .await
                .expect("it runs the update");
            let events = machine.events().send().await.expect("events");
            seen.extend(states_of(&events));
            seen.push(machine.get().send().await.expect("get").state());

            // A machine whose image cannot be pulled fails.
            let made = app
                .machines()
                .create(machine_config("nginx:unpullable").build().unwrap())
                .send()
                .await
                .expect("create");
            let doomed = app.machine(made.id().to_string());
            let outcome = doomed
                .wait_for([WaitState::Failed])
                .timeout(wait)
                .await
                .expect("it fails");
            seen.push(outcome.state);
            seen.extend(states_of(&doomed.events().send().await.expect("events")));

            // Destroyed machines, as a listing that includes them shows them.
            machine
                .destroy_and_wait(wait)
                .force()
                .await
                .expect("it is destroyed");
            let listed = app
                .machines()
                .list()
                .include_deleted()
                .send()
                .await
                .expect("list");
            for m in &listed {
                seen.push(m.state());
                seen.extend(states_of(m.events()));
            }
            seen
        })
        .await;
    let named: BTreeSet<String> = seen.iter().map(|s| s.to_string()).collect();
    let unknown: Vec<&MachineState> = seen.iter().filter(|s| s.is_other()).collect();
    println!("machine_states_seen: {}", named.len());
    assert!(
        unknown.is_empty(),
        "states the client does not name: {unknown:?}"
    );
    // Each state the emulator declares it produces was seen, by its word, on the client's side.
    for state in &MACHINE_STATES {
        assert!(
            named.contains(state.as_str()),
            "{state} never seen in {named:?}"
        );
    }
    world.shutdown().await;
}
