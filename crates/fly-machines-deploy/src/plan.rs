//! From the desired fleet and the machines the app has now to the steps that close the gap.
//!
//! [`plan`] is pure: no client, no clock, no randomness. The same inputs give the same plan, in
//! the same order, so a plan can be shown, reviewed, and computed again after a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use fly_machines::MachineState;
use serde_json::Value;

use crate::desired::{DesiredFleet, Group, VolumeSpec};
use crate::observed::ObservedMachine;
use crate::strategy::Strategy;
use crate::{diff, marks};

/// How one value of a config differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The group sets it; the machine lacks it.
    Added,
    /// The machine has it; the group does not set it.
    Removed,
    /// Both have it, with different values.
    Changed,
}

/// One difference between a group's config and a machine's: a path such as `guest.memory_mb`
/// or `services[0].ports[1].port`, the value the machine has and the one it will get.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Where in the config.
    pub path: String,
    /// What kind of difference.
    pub kind: ChangeKind,
    /// The machine's value (JSON), if it has one.
    pub from: Option<Value>,
    /// The group's value (JSON), if it sets one.
    pub to: Option<Value>,
}

impl Change {
    pub(crate) fn new(
        path: &str,
        kind: ChangeKind,
        from: Option<&Value>,
        to: Option<&Value>,
    ) -> Change {
        Change {
            path: path.to_owned(),
            kind,
            from: from.cloned(),
            to: to.cloned(),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        match self.kind {
            ChangeKind::Added => write!(f, "+ {} = {}", self.path, show(&self.to)),
            ChangeKind::Removed => write!(f, "- {} = {}", self.path, show(&self.from)),
            ChangeKind::Changed => write!(
                f,
                "~ {}: {} -> {}",
                self.path,
                show(&self.from),
                show(&self.to)
            ),
        }
    }
}

/// Why a machine is updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateReason {
    /// The group's config changed since the machine was moved (its revision is older).
    NewRevision,
    /// The machine carries the current revision, yet runs something else: it was changed
    /// outside the deployer.
    Drift,
}

/// Why a machine is destroyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyReason {
    /// The region has more of the group's machines than desired.
    ScaleDown,
    /// The group no longer runs in the machine's region.
    RegionRemoved,
    /// The fleet no longer has the machine's group.
    GroupRemoved,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Create a machine of `group` in `region` (with its volume, when the group has one).
    Create {
        /// The group.
        group: String,
        /// The region.
        region: String,
        /// The revision it is created at.
        revision: String,
        /// Its volume.
        volume: Option<VolumeSpec>,
        /// Which machine of the group at this revision in this region it is, counting those
        /// that already run: the same intended machine has the same slot in every plan until
        /// it exists, so its create's idempotency key finds it after a crash instead of making
        /// it twice.
        slot: usize,
    },
    /// Move a machine to the group's current config.
    Update {
        /// The machine.
        machine_id: String,
        /// Its region.
        region: String,
        /// The revision it carries now (none when the mark is missing).
        from_revision: Option<String>,
        /// The revision it moves to.
        to_revision: String,
        /// The version observed, sent as `current_version` so a concurrent change is noticed.
        version: Option<String>,
        /// Why.
        reason: UpdateReason,
        /// What changes, value by value.
        changes: Vec<Change>,
    },
    /// Destroy a machine of the fleet.
    Destroy {
        /// The machine.
        machine_id: String,
        /// Its region.
        region: String,
        /// Why.
        reason: DestroyReason,
    },
    /// Put a machine that runs the group's current config back in the proxy: a run that was
    /// cut short (a blue-green switch, say) left it cordoned.
    Uncordon {
        /// The machine.
        machine_id: String,
        /// Its region.
        region: String,
    },
    /// Leave a machine as it is: it runs the group's current config.
    Keep {
        /// The machine.
        machine_id: String,
        /// Its region.
        region: String,
        /// Its state, shown in the plan.
        state: MachineState,
    },
}

impl Step {
    /// Whether the step changes anything.
    pub fn is_change(&self) -> bool {
        !matches!(self, Step::Keep { .. })
    }

    /// The machine the step acts on, when it acts on an existing one.
    pub fn machine_id(&self) -> Option<&str> {
        match self {
            Step::Create { .. } => None,
            Step::Update { machine_id, .. }
            | Step::Uncordon { machine_id, .. }
            | Step::Destroy { machine_id, .. }
            | Step::Keep { machine_id, .. } => Some(machine_id),
        }
    }
}

/// What the plan does to one group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPlan {
    /// The group's name.
    pub name: String,
    /// The revision the group moves to (empty for a group the fleet no longer has).
    pub revision: String,
    /// The strategy its changes roll out with (none for a removed group: its machines are only
    /// destroyed).
    pub strategy: Option<Strategy>,
    /// The steps: creates first (new capacity before old goes), then updates, destroys and the
    /// machines kept, each kind in region and id order.
    pub steps: Vec<Step>,
}

/// A machine of the app the fleet does not own, left alone, with the reason it is not the
/// fleet's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignMachine {
    /// The machine.
    pub machine_id: String,
    /// Its region.
    pub region: String,
    /// The fleet that owns it, if another one does.
    pub owner: Option<String>,
}

/// How many steps of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Machines to create.
    pub create: usize,
    /// Machines to update because their group changed.
    pub update: usize,
    /// Machines to put back because they were changed outside the deployer.
    pub drift: usize,
    /// Machines to put back in the proxy.
    pub uncordon: usize,
    /// Machines to destroy.
    pub destroy: usize,
    /// Machines left as they are.
    pub keep: usize,
    /// Machines of the app the fleet does not own.
    pub foreign: usize,
}

/// The steps that move the app's machines to the desired fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The app.
    pub app: String,
    /// The fleet's name (its owner mark).
    pub fleet: String,
    /// One entry per desired group, in the fleet's order, then one per group the fleet no
    /// longer has but still owns machines of, by name.
    pub groups: Vec<GroupPlan>,
    /// The app's machines that are not the fleet's, by id.
    pub foreign: Vec<ForeignMachine>,
}

impl Plan {
    /// Counts of each kind of step.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            foreign: self.foreign.len(),
            ..Summary::default()
        };
        for step in self.groups.iter().flat_map(|g| &g.steps) {
            match step {
                Step::Create { .. } => s.create += 1,
                Step::Update {
                    reason: UpdateReason::NewRevision,
                    ..
                } => s.update += 1,
                Step::Update {
                    reason: UpdateReason::Drift,
                    ..
                } => s.drift += 1,
                Step::Uncordon { .. } => s.uncordon += 1,
                Step::Destroy { .. } => s.destroy += 1,
                Step::Keep { .. } => s.keep += 1,
            }
        }
        s
    }

    /// Whether the app already runs the desired fleet: no step changes anything.
    pub fn is_converged(&self) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.steps)
            .all(|s| !s.is_change())
    }

    /// Every step, group by group.
    pub fn steps(&self) -> impl Iterator<Item = (&GroupPlan, &Step)> {
        self.groups
            .iter()
            .flat_map(|g| g.steps.iter().map(move |s| (g, s)))
    }
}

/// The plan that moves `observed` (every machine of the app, foreign ones included) to
/// `desired`. Pure and deterministic.
///
/// Per group and region it keeps the machines that already run the group's current config,
/// then the rest by id, up to the desired count; it updates the kept ones that run something
/// else, creates what is missing and destroys the surplus (machines not at the current
/// revision first, then stopped ones, then cordoned ones, then by id: so a canary or surge run
/// cut short, which leaves its group over its count, loses an old machine, never a new one). Machines of a group the fleet no longer
/// has are destroyed. Machines being destroyed, or gone, count for nothing.
pub fn plan(desired: &DesiredFleet, observed: &[ObservedMachine]) -> Plan {
    let fleet = desired.name();
    let mut foreign = Vec::new();
    let mut by_group: BTreeMap<&str, Vec<&ObservedMachine>> = BTreeMap::new();
    // Anchors (the deployers' locks) are infrastructure, neither the fleet's nor foreign.
    let live = observed
        .iter()
        .filter(|m| !m.is_gone() && m.mark(marks::LOCK).is_none());
    for machine in live {
        if machine.is_owned_by(fleet) {
            let group = machine.mark(marks::GROUP).unwrap_or_default();
            by_group.entry(group).or_default().push(machine);
        } else {
            foreign.push(ForeignMachine {
                machine_id: machine.id.clone(),
                region: machine.region.clone(),
                owner: machine.mark(marks::FLEET).map(str::to_owned),
            });
        }
    }
    foreign.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));

    let mut groups: Vec<GroupPlan> = desired
        .groups()
        .iter()
        .map(|group| {
            plan_group(
                fleet,
                group,
                by_group.remove(group.name()).unwrap_or_default(),
            )
        })
        .collect();
    // What is left belongs to groups the fleet no longer has (BTreeMap: by name).
    for (name, machines) in by_group {
        let mut steps: Vec<Step> = machines
            .into_iter()
            .map(|m| Step::Destroy {
                machine_id: m.id.clone(),
                region: m.region.clone(),
                reason: DestroyReason::GroupRemoved,
            })
            .collect();
        sort_steps(&mut steps);
        groups.push(GroupPlan {
            name: name.to_owned(),
            revision: String::new(),
            strategy: None,
            steps,
        });
    }
    Plan {
        app: desired.app().to_owned(),
        fleet: fleet.to_owned(),
        groups,
        foreign,
    }
}

/// How a machine of a group stands against the group's current config.
struct Standing<'a> {
    machine: &'a ObservedMachine,
    at_revision: bool,
    changes: Vec<Change>,
}

/// The idempotency key of the create of one slot: the fleet, group, revision, region and slot.
pub fn create_key(fleet: &str, group: &Group, region: &str, slot: usize) -> String {
    format!("{}{slot}", create_key_prefix(fleet, group, region))
}

fn create_key_prefix(fleet: &str, group: &Group, region: &str) -> String {
    format!("{fleet}-{}-{}-{region}-", group.name(), group.revision())
}

fn plan_group(fleet: &str, group: &Group, machines: Vec<&ObservedMachine>) -> GroupPlan {
    let mut by_region: BTreeMap<&str, Vec<Standing<'_>>> = BTreeMap::new();
    for machine in machines {
        let at_revision = machine.mark(marks::REVISION) == Some(group.revision());
        let mut changes = diff::config_changes(group.config(), &machine.config);
        changes.extend(volume_changes(group.volume(), machine));
        by_region
            .entry(machine.region.as_str())
            .or_default()
            .push(Standing {
                machine,
                at_revision,
                changes,
            });
    }
    let regions: BTreeSet<&str> = group
        .regions()
        .keys()
        .map(String::as_str)
        .chain(by_region.keys().copied())
        .collect();

    let mut steps = Vec::new();
    for region in regions {
        let wanted = group.regions().get(region).copied().unwrap_or(0);
        let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
        let mut here = by_region.remove(region).unwrap_or_default();
        // Best first: current and unchanged, then current, then by state (running, then in
        // the proxy, first), id.
        here.sort_by(|a, b| {
            let rank = |s: &Standing<'_>| {
                (
                    !(s.at_revision && s.changes.is_empty()),
                    !s.at_revision,
                    !matches!(s.machine.state, MachineState::Started),
                    s.machine.cordoned,
                )
            };
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.machine.id.cmp(&b.machine.id))
        });
        let surplus = here.split_off(wanted.min(here.len()));
        for standing in here.iter() {
            let machine = standing.machine;
            if standing.at_revision && standing.changes.is_empty() && machine.cordoned {
                steps.push(Step::Uncordon {
                    machine_id: machine.id.clone(),
                    region: machine.region.clone(),
                });
            } else if standing.at_revision && standing.changes.is_empty() {
                steps.push(Step::Keep {
                    machine_id: machine.id.clone(),
                    region: machine.region.clone(),
                    state: machine.state.clone(),
                });
            } else {
                steps.push(Step::Update {
                    machine_id: machine.id.clone(),
                    region: machine.region.clone(),
                    from_revision: machine.mark(marks::REVISION).map(str::to_owned),
                    to_revision: group.revision().to_owned(),
                    version: machine.version.clone(),
                    reason: if standing.at_revision {
                        UpdateReason::Drift
                    } else {
                        UpdateReason::NewRevision
                    },
                    changes: standing.changes.clone(),
                });
            }
        }
        // New machines take the lowest slots no live machine of this revision here holds (read
        // back from their creates' keys): a machine made by an interrupted run but not yet
        // visible keeps its slot free, so the next plan asks for the same key and finds it.
        let prefix = create_key_prefix(fleet, group, region);
        let taken: BTreeSet<usize> = here
            .iter()
            .chain(surplus.iter())
            .filter_map(|s| {
                s.machine
                    .mark(fly_machines::resources::machines::LAUNCH_ID_METADATA_KEY)
            })
            .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
            .collect();
        let free = (0..).filter(|n| !taken.contains(n));
        for slot in free.take(wanted.saturating_sub(here.len())) {
            steps.push(Step::Create {
                group: group.name().to_owned(),
                region: region.to_owned(),
                revision: group.revision().to_owned(),
                volume: group.volume().cloned(),
                slot,
            });
        }
        let reason = if wanted == 0 {
            DestroyReason::RegionRemoved
        } else {
            DestroyReason::ScaleDown
        };
        for standing in surplus {
            steps.push(Step::Destroy {
                machine_id: standing.machine.id.clone(),
                region: standing.machine.region.clone(),
                reason: reason.clone(),
            });
        }
    }
    sort_steps(&mut steps);
    GroupPlan {
        name: group.name().to_owned(),
        revision: group.revision().to_owned(),
        strategy: Some(*group.strategy()),
        steps,
    }
}

/// Whether the machine's volume matches the group's: a mount at the group's path when it has a
/// volume, none when it does not. Sizes are set when a volume is made and never compared.
fn volume_changes(volume: Option<&VolumeSpec>, machine: &ObservedMachine) -> Vec<Change> {
    let paths: BTreeSet<&str> = machine.mounts().map(|(path, _)| path).collect();
    let mut changes = Vec::new();
    match volume {
        Some(v) if !paths.contains(v.path()) => changes.push(Change {
            path: format!("mounts[{}]", v.path()),
            kind: ChangeKind::Added,
            from: None,
            to: Some(Value::String(format!(
                "a {} GB volume `{}`",
                v.size_gb(),
                v.name()
            ))),
        }),
        _ => {}
    }
    for path in paths {
        if volume.is_none_or(|v| v.path() != path) {
            changes.push(Change {
                path: format!("mounts[{path}]"),
                kind: ChangeKind::Removed,
                from: Some(Value::String("a volume".to_owned())),
                to: None,
            });
        }
    }
    changes
}

/// Creates, then machines put back in the proxy, then updates, then destroys (so capacity comes
/// before it goes), then kept machines; each by region, then machine id.
fn sort_steps(steps: &mut [Step]) {
    fn key(step: &Step) -> (u8, &str, &str) {
        match step {
            Step::Create { region, .. } => (0, region, ""),
            Step::Uncordon {
                region, machine_id, ..
            } => (1, region, machine_id),
            Step::Update {
                region, machine_id, ..
            } => (2, region, machine_id),
            Step::Destroy {
                region, machine_id, ..
            } => (3, region, machine_id),
            Step::Keep {
                region, machine_id, ..
            } => (4, region, machine_id),
        }
    }
    steps.sort_by(|a, b| key(a).cmp(&key(b)));
}
