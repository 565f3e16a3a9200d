//! The desired fleet: named groups of machines, each with a config, a count per region, an
//! optional volume per machine and a strategy.

use std::collections::BTreeMap;
use std::fmt;

use fly_machines::types::MachineConfig;
use serde::Serialize;

use crate::marks;
use crate::strategy::{Strategy, StrategyKind};

/// A value of a desired fleet that Fly, or the deployer, would refuse: the setting, the value
/// and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} `{value}`: expected {expected}")]
pub struct FleetError {
    setting: String,
    value: String,
    expected: String,
}

impl FleetError {
    pub(crate) fn new(
        setting: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> FleetError {
        FleetError {
            setting: setting.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The setting, e.g. `max_unavailable` or `group name`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// The value given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What would have been accepted.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl From<fly_machines_rules::RuleError> for FleetError {
    fn from(e: fly_machines_rules::RuleError) -> Self {
        FleetError::new(e.setting(), e.value(), e.expected())
    }
}

/// A volume made for each machine of a group and mounted at `path`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct VolumeSpec {
    name: String,
    path: String,
    size_gb: u32,
}

impl VolumeSpec {
    /// A volume of `size_gb` mounted at `path`, named `name` (Fly's volume names: lower-case
    /// letters, digits and `_`, at most 30 characters).
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        size_gb: u32,
    ) -> Result<VolumeSpec, FleetError> {
        let (name, path) = (name.into(), path.into());
        let name_ok = !name.is_empty()
            && name.len() <= 30
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(FleetError::new(
                "volume.name",
                &name,
                "1 to 30 lower-case letters, digits or `_`",
            ));
        }
        fly_machines_rules::check_guest_path("volume.path", &path)?;
        if size_gb == 0 {
            return Err(FleetError::new("volume.size_gb", 0, "at least 1 GB"));
        }
        Ok(VolumeSpec {
            name,
            path,
            size_gb,
        })
    }

    /// The volume's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it is mounted.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its size when created.
    pub fn size_gb(&self) -> u32 {
        self.size_gb
    }
}

/// One group of a fleet: machines from one config, so many per region.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    name: String,
    config: MachineConfig,
    regions: BTreeMap<String, u32>,
    volume: Option<VolumeSpec>,
    strategy: Strategy,
    revision: String,
}

impl Group {
    /// Starts a group named `name` whose machines run `config` (from the SDK's builders, or
    /// `fly_machines::MachineConfig::machine_config` on a `#[derive(MachineConfig)]` type).
    pub fn builder(name: impl Into<String>, config: MachineConfig) -> GroupBuilder {
        GroupBuilder {
            name: name.into(),
            config,
            regions: Vec::new(),
            volume: None,
            strategy: Strategy::default(),
        }
    }

    /// The group's name, unique in its fleet.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config each machine runs, without the fleet's marks.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// How many machines in each region.
    pub fn regions(&self) -> &BTreeMap<String, u32> {
        &self.regions
    }

    /// How many machines in all.
    pub fn count(&self) -> u64 {
        self.regions.values().map(|&n| u64::from(n)).sum()
    }

    /// The volume each machine gets, if any.
    pub fn volume(&self) -> Option<&VolumeSpec> {
        self.volume.as_ref()
    }

    /// How changes roll out.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// A short digest of the config and volume: machines marked with it run this group's
    /// current config. The same config always gives the same revision.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The config one machine of the group is created or updated with: the group's config plus
    /// the marks that make it the fleet's (`previous` is the revision it ran before, if any).
    pub fn machine_config(&self, fleet: &str, previous: Option<&str>) -> MachineConfig {
        let mut config = self.config.clone();
        let metadata = config.metadata.get_or_insert_with(Default::default);
        metadata.insert(marks::FLEET.to_owned(), fleet.to_owned());
        metadata.insert(marks::GROUP.to_owned(), self.name.clone());
        metadata.insert(marks::REVISION.to_owned(), self.revision.clone());
        match previous {
            Some(previous) => {
                metadata.insert(marks::PREVIOUS_REVISION.to_owned(), previous.to_owned());
            }
            None => {
                metadata.remove(marks::PREVIOUS_REVISION);
            }
        }
        config
    }
}

/// Builds a [`Group`], checking every value when it is finished.
#[derive(Clone, Debug)]
pub struct GroupBuilder {
    name: String,
    config: MachineConfig,
    regions: Vec<(String, u32)>,
    volume: Option<VolumeSpec>,
    strategy: Strategy,
}

impl GroupBuilder {
    /// `count` machines in `region` (a Fly region code such as `iad`).
    pub fn region(mut self, region: impl Into<String>, count: u32) -> Self {
        self.regions.push((region.into(), count));
        self
    }

    /// A volume for each machine.
    pub fn volume(mut self, volume: VolumeSpec) -> Self {
        self.volume = Some(volume);
        self
    }

    /// The strategy for changes (rolling by default).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The group, or the first value that would be refused.
    pub fn build(self) -> Result<Group, FleetError> {
        check_group_name(&self.name)?;
        fly_machines::builders::check_config(&self.config).map_err(|e| {
            FleetError::new(
                format!("group {} config", self.name),
                "config",
                e.to_string(),
            )
        })?;
        if self.config.image.as_deref().is_none_or(str::is_empty) {
            return Err(FleetError::new(
                format!("group {} image", self.name),
                "",
                "an image reference",
            ));
        }
        if let Some(key) = self
            .config
            .metadata
            .iter()
            .flat_map(|m| m.keys())
            .find(|k| marks::is_mark(k))
        {
            return Err(FleetError::new(
                "metadata key",
                key,
                "a key other than the deployer's own marks (`fly_deploy_*`)",
            ));
        }
        if self.volume.is_some() && self.config.mounts.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(FleetError::new(
                format!("group {} mounts", self.name),
                "mounts in the config",
                "the group's `volume` instead: each machine gets a volume of its own",
            ));
        }
        if self.volume.is_some() && self.strategy.kind() == StrategyKind::BlueGreen {
            return Err(FleetError::new(
                format!("group {} strategy", self.name),
                "bluegreen",
                "rolling, canary or immediate: a green machine cannot take over a blue one's volume",
            ));
        }
        if self.volume.is_some() && !self.strategy.max_surge_amount().is_zero() {
            return Err(FleetError::new(
                format!("group {} strategy.max_surge", self.name),
                self.strategy.max_surge_amount(),
                "0 for a group with volumes: a machine made for the surge would start on an empty volume",
            ));
        }
        let mut regions = BTreeMap::new();
        for (region, count) in self.regions {
            check_region(&region)?;
            if regions.insert(region.clone(), count).is_some() {
                return Err(FleetError::new(
                    format!("group {} region", self.name),
                    region,
                    "each region once",
                ));
            }
        }
        let revision = revision_of(&self.config, self.volume.as_ref());
        Ok(Group {
            name: self.name,
            config: self.config,
            regions,
            volume: self.volume,
            strategy: self.strategy,
            revision,
        })
    }
}

/// The fleet: an app and its named groups.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredFleet {
    app: String,
    org: String,
    name: String,
    groups: Vec<Group>,
}

impl DesiredFleet {
    /// An empty fleet in `app`, owning the machines marked with the app's name.
    pub fn new(app: impl Into<String>) -> Result<DesiredFleet, FleetError> {
        let app = app.into();
        check_app_name(&app)?;
        Ok(DesiredFleet {
            name: app.clone(),
            app,
            org: "personal".to_owned(),
            groups: Vec::new(),
        })
    }

    /// The organization the app is made in when it does not exist yet (default `personal`).
    pub fn org(mut self, org: impl Into<String>) -> Result<DesiredFleet, FleetError> {
        let org = org.into();
        check_app_name(&org).map_err(|e| FleetError::new("org", e.value(), e.expected()))?;
        self.org = org;
        Ok(self)
    }

    /// The organization a new app is made in.
    pub fn org_slug(&self) -> &str {
        &self.org
    }

    /// Owns the machines marked with `name` instead of the app's name: for several fleets in
    /// one app.
    pub fn named(mut self, name: impl Into<String>) -> Result<DesiredFleet, FleetError> {
        let name = name.into();
        check_group_name(&name).map_err(|e| FleetError::new("fleet", e.value(), e.expected()))?;
        self.name = name;
        Ok(self)
    }

    /// Adds a group; a second group of the same name is refused.
    pub fn group(mut self, group: Group) -> Result<DesiredFleet, FleetError> {
        if self.groups.iter().any(|g| g.name == group.name) {
            return Err(FleetError::new(
                "group name",
                &group.name,
                "a name no other group of the fleet has",
            ));
        }
        self.groups.push(group);
        Ok(self)
    }

    /// The app.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The fleet's name, written in its machines' [`marks::FLEET`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The groups, in the order they were given.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group called `name`.
    pub fn find_group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// A group or fleet name: what a metadata value and a log line can carry plainly.
fn check_group_name(name: &str) -> Result<(), FleetError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(FleetError::new(
            "group name",
            name,
            "1 to 63 lower-case letters, digits, `-` or `_`",
        ))
    }
}

/// Fly's app names: lower-case letters, digits and dashes.
fn check_app_name(name: &str) -> Result<(), FleetError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(FleetError::new(
            "app",
            name,
            "an app name of lower-case letters, digits and `-`",
        ))
    }
}

/// Fly's region codes: three lower-case letters, such as `iad` or `ams`.
fn check_region(region: &str) -> Result<(), FleetError> {
    if region.len() == 3 && region.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(FleetError::new(
            "region",
            region,
            "a Fly region code of three lower-case letters, such as `iad`",
        ))
    }
}

/// The revision of a group: the first 12 hex digits of the SHA-1 of its config (marks left
/// out) and volume, in a canonical JSON form whose keys are sorted, so the same config always
/// gives the same revision whatever the order its maps were filled in.
fn revision_of(config: &MachineConfig, volume: Option<&VolumeSpec>) -> String {
    let mut value = serde_json::json!({
        "config": serde_json::to_value(config).unwrap_or_default(),
        "volume": serde_json::to_value(volume).unwrap_or_default(),
    });
    if let Some(metadata) = value
        .pointer_mut("/config/metadata")
        .and_then(|m| m.as_object_mut())
    {
        metadata.retain(|k, _| !marks::is_mark(k));
    }
    let canonical = crate::diff::canonical_json(&value);
    let digest = sha1_smol::Sha1::from(canonical.as_bytes())
        .digest()
        .to_string();
    digest[..12].to_owned()
}
