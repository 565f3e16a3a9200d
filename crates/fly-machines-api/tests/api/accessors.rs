//! The hand-written accessors read real documents (from `../shared/examples`, outside the
//! repository) and keep words they do not know.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fly_machines_api::types;
use fly_machines_api::{CheckState, EventKind, HostStatus, MachineState, VolumeState};

/// Decodes one example document, or `None` where the folder is not present.
fn example<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/examples")
        .join(name);
    if !path.exists() {
        eprintln!("{} not present; skipping", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

fn at_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[test]
fn a_real_machine_reads_without_unwrapping() {
    let Some(m) = example::<types::Machine>("machine-get-response-1.json") else {
        return;
    };
    assert_eq!(m.id(), "d5683210c7968e");
    assert_eq!(m.name(), "quirky-machine");
    assert_eq!(m.state(), MachineState::Stopped);
    assert!(m.state().is_resting());
    assert_eq!(m.region(), "cdg");
    assert_eq!(m.version(), Some("01G3GNA72484XS5D9SCRW8X79Q"));
    assert_eq!(m.image(), Some("flyio/fastify-functions"));
    // `metadata: null` and `env: null` read as absent, not as an error.
    assert_eq!(m.metadata("tenant"), None);
    assert_eq!(m.env("PORT"), None);
    assert!(m.checks().is_empty());
    let events = m.events();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].kind(), EventKind::Exit);
    assert_eq!(events[0].state(), MachineState::Stopped);
    assert_eq!(events[0].source(), "flyd");
    assert_eq!(events[0].exit_code(), Some(127));
    assert_eq!(events[0].time(), Some(at_millis(1_653_047_898_717)));
    assert_eq!(events[1].state(), MachineState::Replacing);
    assert_eq!(events[3].kind(), EventKind::Launch);
    // Newest first, as Fly sends them.
    assert!(events[0].time() > events[3].time());
}

#[test]
fn real_check_results_and_null_checks() {
    let Some(list) = example::<Vec<types::Machine>>("machine-list-response-2.json") else {
        return;
    };
    assert!(list[0].checks().is_empty());
    let check = &list[1].checks()[0];
    assert_eq!(check.name(), "servicecheck-00-tcp-8080");
    assert_eq!(check.state(), CheckState::Passing);
    assert!(check.is_passing());
    assert_eq!(check.output(), "Success");
}

#[test]
fn real_volumes_apps_and_leases() {
    if let Some(volumes) = example::<Vec<types::Volume>>("volume-list-response.json") {
        let v = &volumes[0];
        assert_eq!(v.id(), "vol_9vw681egy1jj5xm4");
        assert_eq!(v.state(), VolumeState::Created);
        assert_eq!(v.size_gb(), Some(3));
        assert_eq!(v.region(), "yul");
        assert_eq!(v.attached_machine_id(), Some("908057ef21e487"));
        assert_eq!(volumes[1].attached_machine_id(), None);
    }
    if let Some(app) = example::<types::CreateAppResponse>("app-create-response.json") {
        assert_eq!(app.id(), "z4k69dxd8r31p5mx");
        assert_eq!(app.created_at(), Some(at_millis(1_708_631_799_000)));
    }
    if let Some(envelope) = example::<types::LeaseEnvelope>("machine-lease-create-response.json") {
        let lease = envelope.data.unwrap();
        assert_eq!(lease.owner(), "hello@fly.io");
        assert_eq!(
            lease.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_708_569_778))
        );
        assert_eq!(lease.version(), Some("01HQ73A7BFFDF1B6WMGHFZZ4E7"));
    }
}

/// A word a later API version sends decodes, reads as `Other`, and is kept exactly.
#[test]
fn open_enums_keep_words_they_do_not_know() {
    let m: types::Machine = serde_json::from_value(serde_json::json!({
        "id": "m1",
        "state": "hibernating",
        "host_status": "draining",
        "checks": [{"name": "c", "status": "flapping"}],
        "events": [{"type": "teleport", "status": "beamed", "timestamp": -5}]
    }))
    .unwrap();
    assert_eq!(m.state(), MachineState::Other("hibernating".into()));
    assert_eq!(m.state().as_str(), "hibernating");
    assert!(m.state().is_other() && !m.state().is_resting());
    assert_eq!(m.host_status(), HostStatus::Other("draining".into()));
    assert_eq!(m.checks()[0].state().to_string(), "flapping");
    assert!(!m.checks()[0].is_passing());
    assert_eq!(m.events()[0].kind(), EventKind::Other("teleport".into()));
    assert_eq!(m.events()[0].state(), "beamed");
    // A time before 1970 is no time at all, not a panic.
    assert_eq!(m.events()[0].time(), None);
    // Absent fields read as empty, never as a panic.
    let empty = types::Machine::default();
    assert_eq!((empty.id(), empty.region()), ("", ""));
    assert_eq!(empty.state(), MachineState::Other(String::new()));
    assert_eq!(empty.version(), None);
    // Every named word parses to its variant and back.
    for word in [
        "created",
        "started",
        "stopped",
        "suspended",
        "failed",
        "destroyed",
    ] {
        let state = MachineState::parse(word);
        assert!(!state.is_other(), "{word}");
        assert_eq!(state.as_str(), word);
    }
    assert!(MachineState::Replaced.is_terminal());
    let huge = types::MachineEvent {
        timestamp: Some(i64::MAX),
        ..Default::default()
    };
    // i64::MAX ms is about 292 million years: representable on this platform or `None`, never a
    // panic.
    let _ = huge.time();
}

/// `is_gone` answers for every state a teardown can count as done, and for no other.
#[test]
fn volume_states_that_are_gone() {
    for word in [
        "pending_destroy",
        "scheduled_for_deletion",
        "destroying",
        "destroyed",
    ] {
        assert!(VolumeState::parse(word).is_gone(), "{word}");
    }
    for word in [
        "created",
        "creating",
        "hydrating",
        "restoring",
        "extending",
        "",
        "new",
    ] {
        assert!(!VolumeState::parse(word).is_gone(), "{word}");
    }
}
