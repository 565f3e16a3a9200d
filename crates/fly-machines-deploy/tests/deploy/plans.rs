//! Golden plans: each fixture's rendered plan is compared with the snapshot kept beside it
//! (`tests/snapshots/`), so a change in what the planner decides, or in how it reads, shows up
//! in review. `INSTA_UPDATE=always cargo test -p fly-machines-deploy` rewrites them.

use fly_machines::MachineState;
use fly_machines::types::MachineConfig;
use fly_machines_deploy::{DesiredFleet, ObservedMachine, Step, marks, plan};

const WEB: &str = r#"
app = "shop"

[[group]]
name = "web"
image = "registry.fly.io/shop:v1"
count = 3
regions = ["iad"]
guest = { cpu_kind = "shared", cpus = 1, memory_mb = 512 }
env = { RUST_LOG = "info" }

[[group.services]]
protocol = "tcp"
internal_port = 8080
autostop = "stop"

[[group.services.ports]]
port = 443
handlers = ["tls", "http"]

[group.checks.alive]
type = "http"
port = 8080
path = "/healthz"
interval = "10s"
timeout = "2s"

[group.strategy]
kind = "rolling"
max_unavailable = 1
"#;

fn fleet(text: &str) -> DesiredFleet {
    DesiredFleet::from_toml(text).unwrap_or_else(|e| panic!("fixture: {e}"))
}

/// A machine of `fleet`'s group `group` as the deployer would have made it: the group's config
/// with its marks, as Fly answers it (with a default it filled in).
fn machine_of(fleet: &DesiredFleet, group: &str, id: &str, region: &str) -> ObservedMachine {
    let group = fleet.find_group(group).expect("group");
    let mut config = group.machine_config(fleet.name(), None);
    config.restart = Some(fly_machines::types::MachineRestart {
        policy: Some("on-failure".into()),
        ..Default::default()
    });
    config
        .metadata
        .get_or_insert_with(Default::default)
        .insert("fly_platform_version".into(), "v2".into());
    let mut m = ObservedMachine::new(id, region, MachineState::Started, config);
    m.version = Some(format!("01J{id}"));
    m
}

fn foreign(id: &str, region: &str, owner: Option<&str>) -> ObservedMachine {
    let mut config = MachineConfig {
        image: Some("postgres:16".into()),
        ..Default::default()
    };
    if let Some(owner) = owner {
        config
            .metadata
            .get_or_insert_with(Default::default)
            .insert(marks::FLEET.into(), owner.into());
    }
    ObservedMachine::new(id, region, MachineState::Started, config)
}

#[test]
fn empty_app_to_three_machines() {
    let fleet = fleet(WEB);
    let plan = plan(&fleet, &[]);
    assert_eq!(plan.summary().create, 3);
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn converged_fleet_plans_nothing() {
    let fleet = fleet(WEB);
    let observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&fleet, "web", id, "iad"))
        .collect();
    let plan = plan(&fleet, &observed);
    assert!(plan.is_converged(), "{plan}");
    assert_eq!(plan.summary().keep, 3);
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn image_change_updates_every_machine() {
    let old = fleet(WEB);
    let observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&old, "web", id, "iad"))
        .collect();
    let new = fleet(&WEB.replace("shop:v1", "shop:v2"));
    let plan = plan(&new, &observed);
    assert_eq!(plan.summary().update, 3);
    // Each update carries the version it was planned from, for `current_version`.
    for (_, step) in plan.steps() {
        let Step::Update { version, .. } = step else {
            panic!("only updates: {step:?}")
        };
        assert!(version.as_deref().is_some_and(|v| v.starts_with("01J")));
    }
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn count_up_creates_and_count_down_destroys() {
    let three = fleet(WEB);
    let observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&three, "web", id, "iad"))
        .collect();
    let five = fleet(&WEB.replace("count = 3", "count = 5"));
    let up = plan(&five, &observed);
    assert_eq!((up.summary().create, up.summary().keep), (2, 3));
    insta::assert_snapshot!("count_up", up.to_string());

    let one = fleet(&WEB.replace("count = 3", "count = 1"));
    let mut observed = observed;
    observed[1].state = MachineState::Stopped;
    let down = plan(&one, &observed);
    assert_eq!((down.summary().destroy, down.summary().keep), (2, 1));
    // The started machine stays; the stopped one goes first.
    assert!(
        down.steps()
            .any(|(_, s)| matches!(s, Step::Keep { machine_id, .. } if machine_id == "m1"))
    );
    insta::assert_snapshot!("count_down", down.to_string());
}

/// A canary run cut short leaves its group one over its count, the extra machine at the new
/// revision (and, by id, the newest). The next plan keeps it, updates the old machines up to
/// the count and destroys an old one: machines of an older revision are the surplus first,
/// whatever their ids.
#[test]
fn a_half_done_canary_destroys_an_old_machine_not_the_canary() {
    let old = fleet(WEB);
    let new = fleet(&WEB.replace("shop:v1", "shop:v2"));
    let mut observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&old, "web", id, "iad"))
        .collect();
    observed.push(machine_of(&new, "web", "m9", "iad"));
    let plan = plan(&new, &observed);
    let s = plan.summary();
    assert_eq!((s.keep, s.update, s.destroy, s.create), (1, 2, 1, 0));
    let kind_of = |id: &str| {
        plan.steps()
            .find(|(_, step)| step.machine_id() == Some(id))
            .map(|(_, step)| step.clone())
    };
    assert!(matches!(kind_of("m9"), Some(Step::Keep { .. })));
    assert!(matches!(kind_of("m3"), Some(Step::Destroy { .. })));
}

#[test]
fn region_move_creates_before_it_destroys() {
    let iad = fleet(WEB);
    let observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&iad, "web", id, "iad"))
        .collect();
    let moved = fleet(&WEB.replace(
        "count = 3\nregions = [\"iad\"]",
        "regions = { iad = 1, ord = 2 }",
    ));
    let plan = plan(&moved, &observed);
    let s = plan.summary();
    assert_eq!((s.create, s.destroy, s.keep, s.update), (2, 2, 1, 0));
    let kinds: Vec<&str> = plan
        .steps()
        .map(|(_, s)| match s {
            Step::Create { .. } => "create",
            Step::Destroy { .. } => "destroy",
            Step::Update { .. } => "update",
            Step::Keep { .. } => "keep",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["create", "create", "destroy", "destroy", "keep"]);
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn drift_is_put_back() {
    let fleet = fleet(WEB);
    let mut observed: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| machine_of(&fleet, "web", id, "iad"))
        .collect();
    // Someone changed m2 by hand: more memory and an extra variable, revision mark untouched.
    let config = &mut observed[1].config;
    config.guest.as_mut().expect("guest").memory_mb = Some(1024);
    config
        .env
        .get_or_insert_with(Default::default)
        .insert("DEBUG".into(), "1".into());
    let plan = plan(&fleet, &observed);
    let s = plan.summary();
    assert_eq!((s.drift, s.keep), (1, 2));
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn foreign_machines_are_left_alone() {
    let fleet = fleet(WEB);
    let mut observed = vec![
        foreign("db1", "iad", None),
        foreign("other1", "ord", Some("another-fleet")),
        machine_of(&fleet, "web", "m1", "iad"),
    ];
    // A machine that is being destroyed counts for nothing, and is not foreign either.
    let mut going = machine_of(&fleet, "web", "m0", "iad");
    going.state = MachineState::Destroying;
    observed.push(going);
    let plan = plan(&fleet, &observed);
    let touched: Vec<&str> = plan
        .steps()
        .filter(|(_, s)| s.is_change())
        .filter_map(|(_, s)| s.machine_id())
        .collect();
    assert!(touched.is_empty(), "only creates: {touched:?}");
    assert_eq!(plan.summary().foreign, 2);
    assert_eq!(plan.summary().create, 2);
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn a_removed_group_is_destroyed_and_volumes_are_planned() {
    let two_groups = fleet(&format!(
        "{WEB}\n[[group]]\nname = \"worker\"\nimage = \"registry.fly.io/shop-worker:v1\"\nregions = {{ iad = 1 }}\n"
    ));
    let observed = vec![
        machine_of(&two_groups, "web", "m1", "iad"),
        machine_of(&two_groups, "worker", "w1", "iad"),
    ];
    let with_volume = fleet(&WEB.replace(
        "[group.strategy]",
        "[group.volume]\nsize_gb = 10\npath = \"/data\"\n\n[group.strategy]",
    ));
    let plan = plan(&with_volume, &observed);
    let s = plan.summary();
    // m1 lacks the volume now asked for: an update that adds the mount; two creates with
    // volumes; the worker group is gone.
    assert_eq!((s.update, s.create, s.destroy), (1, 2, 1));
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn plans_are_deterministic() {
    let fleet = fleet(WEB);
    let mut observed: Vec<_> = ["m9", "m3", "m5", "m1"]
        .iter()
        .map(|id| machine_of(&fleet, "web", id, "iad"))
        .collect();
    let first = plan(&fleet, &observed);
    observed.reverse();
    let second = plan(&fleet, &observed);
    assert_eq!(first, second);
    // The revision depends on the config alone, not on the order maps were filled in.
    let again = DesiredFleet::from_toml(WEB).expect("fixture");
    assert_eq!(again.groups()[0].revision(), fleet.groups()[0].revision());
}

#[test]
fn the_example_fleet_file_reads() {
    let text = include_str!("../../fleet.example.toml");
    let fleet = fleet(text);
    let plan = plan(&fleet, &[]);
    assert_eq!(plan.summary().create, 4);
}
