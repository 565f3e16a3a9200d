//! Health conditions on single observations: each verdict, and how `and` joins them.

use fly_machines::types::Machine;
use fly_machines_deploy::health::{
    Condition, ConditionExt, Observation, Verdict, at_version, checks_passing, healthy_at,
    not_crashing, started,
};

fn machine(json: serde_json::Value) -> Machine {
    serde_json::from_value(json).expect("a machine")
}

fn verdict(condition: &dyn Condition, m: &Machine) -> Verdict {
    condition.check(&Observation {
        machine: m,
        since_ms: i64::MIN,
    })
}

#[test]
fn started_waits_while_starting_and_fails_on_a_crash_state() {
    let c = started();
    assert_eq!(
        verdict(&c, &machine(serde_json::json!({"state": "started"}))),
        Verdict::Healthy
    );
    assert!(matches!(
        verdict(&c, &machine(serde_json::json!({"state": "starting"}))),
        Verdict::Waiting(_)
    ));
    assert!(matches!(
        verdict(&c, &machine(serde_json::json!({"state": "replacing"}))),
        Verdict::Waiting(_)
    ));
    for state in ["failed", "restarting", "destroyed", "stopped"] {
        let v = verdict(&c, &machine(serde_json::json!({ "state": state })));
        assert!(
            matches!(&v, Verdict::Failed(why) if why.contains(state)),
            "{state}: {v}"
        );
    }
}

#[test]
fn another_version_is_a_failure_not_a_wait() {
    let c = at_version("v2");
    let now = machine(serde_json::json!({"state": "started", "instance_id": "v2"}));
    assert_eq!(verdict(&c, &now), Verdict::Healthy);
    let reverted = machine(serde_json::json!({"state": "started", "instance_id": "v1"}));
    assert!(matches!(verdict(&c, &reverted), Verdict::Failed(why) if why.contains("put back")));
}

#[test]
fn checks_must_all_pass_and_none_is_fine() {
    let c = checks_passing();
    assert_eq!(
        verdict(&c, &machine(serde_json::json!({"state": "started"}))),
        Verdict::Healthy
    );
    let one_failing = machine(serde_json::json!({"checks": [
        {"name": "a", "status": "passing"},
        {"name": "b", "status": "critical"},
    ]}));
    assert!(
        matches!(verdict(&c, &one_failing), Verdict::Waiting(why) if why.contains("`b` critical"))
    );
}

#[test]
fn an_exit_after_the_latest_update_is_a_crash() {
    let c = not_crashing();
    let old_exit = machine(serde_json::json!({"events": [
        {"type": "exit", "timestamp": 100},
        {"type": "update", "timestamp": 200},
        {"type": "start", "timestamp": 300},
    ]}));
    assert_eq!(verdict(&c, &old_exit), Verdict::Healthy);
    let new_exit = machine(serde_json::json!({"events": [
        {"type": "update", "timestamp": 200},
        {"type": "exit", "timestamp": 400},
        {"type": "restart", "timestamp": 500},
    ]}));
    assert!(matches!(verdict(&c, &new_exit), Verdict::Failed(_)));
}

#[test]
fn and_fails_first_then_waits_then_passes() {
    let gate = healthy_at("v2");
    assert_eq!(
        gate.describe(),
        "started and at version `v2` and not crashing and checks passing"
    );
    let reverted_but_starting =
        machine(serde_json::json!({"state": "starting", "instance_id": "v1"}));
    assert!(matches!(
        verdict(&gate, &reverted_but_starting),
        Verdict::Failed(_)
    ));
    let both = started().and(checks_passing());
    let waiting = machine(
        serde_json::json!({"state": "started", "checks": [{"name": "a", "status": "warning"}]}),
    );
    assert!(matches!(verdict(&both, &waiting), Verdict::Waiting(_)));
}
