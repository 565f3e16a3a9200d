//! One vocabulary on both sides: every word of each closed set the client can send (read from
//! the rules crate, or from an enum of our document), sent through the client's typed calls, is
//! accepted by the emulator. A word one side knows and the other refuses fails here.

use std::time::Duration;

use fly_machines::builders::{Restart, http_check, machine_config, service, tcp_check};
use fly_machines::guest::rules;
use fly_machines::{App, ProcessSort, Signal, types};
use fly_machines_sim::Sim;

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
            for protocol in rules::PROTOCOLS {
                let svc = service(*protocol, 8080).build().unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for handler in rules::HANDLERS {
                let svc = service("tcp", 8080).port(443, &[handler]).build().unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for mode in rules::AUTOSTOP_VALUES {
                let svc = service("tcp", 8080).autostop(*mode).build().unwrap();
                configs.push(machine_config("nginx").service(svc).build().unwrap());
            }
            for kind in rules::CONCURRENCY_TYPES {
                let svc = service("tcp", 8080)
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
