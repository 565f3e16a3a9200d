//! One app and what it owns besides machines: volumes, secrets, secret keys, certificates.

use std::collections::{BTreeMap, HashMap};

use fly_machines_api::types;

use crate::ids::fnv64;
use crate::state::machine::{Machine, MachineState};

/// One volume.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) view: types::Volume,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    pub(crate) snapshots: Vec<types::VolumeSnapshot>,
}

/// One app secret.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub(crate) value: String,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
}

/// One secret key.
#[derive(Debug, Clone)]
pub(crate) struct SecretKey {
    pub(crate) kind: String,
    pub(crate) material: Vec<u8>,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
}

/// One hostname with its certificates.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub(crate) hostname: String,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    pub(crate) acme_requested: bool,
    /// The ACME certificate is issued (after the first check).
    pub(crate) acme_issued: bool,
    pub(crate) custom: bool,
}

/// One app.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) numeric_id: i64,
    pub(crate) name: String,
    pub(crate) created_ms: u64,
    pub(crate) org_slug: String,
    pub(crate) network: String,
    pub(crate) machines: HashMap<String, Machine>,
    /// Live machine names → ids (names are unique among machines not destroyed).
    pub(crate) machine_names: HashMap<String, String>,
    pub(crate) volumes: BTreeMap<String, Volume>,
    pub(crate) secrets: BTreeMap<String, Secret>,
    pub(crate) secret_keys: BTreeMap<String, SecretKey>,
    pub(crate) secrets_version: i64,
    pub(crate) certs: BTreeMap<String, Certificate>,
    pub(crate) ips: Vec<types::IpAssignment>,
}

impl App {
    pub(crate) fn view(&self, now: u64, destroyed_visible_ms: u64) -> types::App {
        let machine_count = self
            .machines
            .values()
            .filter(|m| !m.hidden(now, destroyed_visible_ms) && m.state != MachineState::Destroyed)
            .count();
        types::App {
            id: Some(self.id.clone()),
            internal_numeric_id: Some(self.numeric_id),
            machine_count: Some(machine_count as i64),
            name: Some(self.name.clone()),
            network: Some(self.network.clone()),
            // The /48 its private (6PN and Flycast) addresses come from.
            network_cidr: Some(format!("fdaa:0:{:x}::/48", self.numeric_id % 0xffff)),
            organization: Some(types::AppOrganizationInfo {
                internal_numeric_id: Some(org_numeric_id(&self.org_slug)),
                name: Some(org_display_name(&self.org_slug)),
                slug: Some(self.org_slug.clone()),
            }),
            status: Some(
                if machine_count > 0 {
                    "deployed"
                } else {
                    "pending"
                }
                .to_string(),
            ),
            volume_count: Some(self.volumes.len() as i64),
        }
    }
}

pub(crate) fn org_numeric_id(slug: &str) -> i64 {
    (fnv64(slug.as_bytes()) % 900_000 + 100_000) as i64
}

pub(crate) fn org_display_name(slug: &str) -> String {
    if slug == "personal" {
        "Personal".to_string()
    } else {
        slug.to_string()
    }
}
