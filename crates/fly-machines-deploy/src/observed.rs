//! What the app runs now, as the planner sees it.

use fly_machines::MachineState;
use fly_machines::types::{Machine, MachineConfig};

use crate::marks;

/// One machine of the app as observed: the facts a plan is made from. Build it from the SDK's
/// answers (`From<&Machine>`, or from a `MachineSnapshot` through its data), or by hand in tests.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedMachine {
    /// The machine's id.
    pub id: String,
    /// Its region.
    pub region: String,
    /// Its state.
    pub state: MachineState,
    /// The version it runs (`version`, or `instance_id` from older servers), if known.
    pub version: Option<String>,
    /// Its config, marks included.
    pub config: MachineConfig,
    /// Left out of the proxy (cordoned, or created with `skip_service_registration` and never
    /// uncordoned).
    pub cordoned: bool,
}

impl ObservedMachine {
    /// A machine with this id, region, state and config, version unknown.
    pub fn new(
        id: impl Into<String>,
        region: impl Into<String>,
        state: MachineState,
        config: MachineConfig,
    ) -> ObservedMachine {
        ObservedMachine {
            id: id.into(),
            region: region.into(),
            state,
            version: None,
            config,
            cordoned: false,
        }
    }

    /// The value of one of the deployer's marks ([`marks`]).
    pub fn mark(&self, key: &str) -> Option<&str> {
        self.config
            .metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }

    /// Whether the fleet called `fleet` owns the machine.
    pub fn is_owned_by(&self, fleet: &str) -> bool {
        self.mark(marks::FLEET) == Some(fleet)
    }

    /// Whether the machine is gone or going: it no longer counts toward any group.
    pub fn is_gone(&self) -> bool {
        self.state.is_terminal() || self.state == MachineState::Destroying
    }

    /// The path a volume is mounted at, and its volume id.
    pub fn mounts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config.mounts.iter().flatten().map(|m| {
            (
                m.path.as_deref().unwrap_or_default(),
                m.volume.as_deref().unwrap_or_default(),
            )
        })
    }
}

impl From<&Machine> for ObservedMachine {
    fn from(machine: &Machine) -> Self {
        ObservedMachine {
            id: machine.id().to_owned(),
            region: machine.region().to_owned(),
            state: machine.state(),
            version: machine.version().map(str::to_owned),
            config: machine.config().cloned().unwrap_or_default(),
            cordoned: machine.is_cordoned(),
        }
    }
}

/// Every machine of `app` as it is now, foreign ones included (the plan lists them), gone ones
/// left out. An app that does not exist yet has no machines.
pub async fn observe(
    client: &fly_machines::Client,
    app: &str,
) -> fly_machines::Result<Vec<ObservedMachine>> {
    let machines = match client.app(app).machines().list().await {
        Ok(machines) => machines,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(machines
        .iter()
        .map(|m| ObservedMachine::from(m.data()))
        .filter(|m| !m.is_gone())
        .collect())
}
