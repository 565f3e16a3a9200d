//! The emulator's in-memory world: apps, machines (with their timed state machine), volumes,
//! secrets, certificates and IPs.

mod app;
mod machine;

use std::collections::BTreeMap;

use rand::{SeedableRng, rngs::StdRng};

use crate::errors::ApiError;
use crate::ids::hex_id;

pub(crate) use app::{
    App, Certificate, Secret, SecretKey, Volume, org_display_name, org_numeric_id,
};
pub(crate) use machine::{Lease, Machine, MachineState};

/// Everything the emulator holds, behind one lock.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) rng: StdRng,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) next_seq: u64,
    /// Tokens minted by the deploy-token endpoint, accepted like the main token.
    pub(crate) issued_tokens: Vec<String>,
    pub(crate) not_found_after_create_ms: u64,
    pub(crate) destroyed_visible_ms: u64,
}

impl World {
    pub(crate) fn new(seed: u64) -> World {
        World {
            rng: StdRng::seed_from_u64(seed),
            apps: BTreeMap::new(),
            next_seq: 1,
            issued_tokens: Vec::new(),
            not_found_after_create_ms: 0,
            destroyed_visible_ms: 0,
        }
    }

    pub(crate) fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    pub(crate) fn app(&mut self, name: &str) -> Result<&mut App, ApiError> {
        self.apps
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(format!("app {name} not found")))
    }

    /// The app and the (settled, visible) machine, or 404.
    pub(crate) fn machine(
        &mut self,
        app: &str,
        id: &str,
        now: u64,
    ) -> Result<(&mut App, &mut StdRng), ApiError> {
        let destroyed_visible = self.destroyed_visible_ms;
        let rng = &mut self.rng;
        let app_rec = self
            .apps
            .get_mut(app)
            .ok_or_else(|| ApiError::not_found(format!("app {app} not found")))?;
        let m = app_rec
            .machines
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
        m.settle(now, rng);
        if m.hidden(now, destroyed_visible) {
            return Err(ApiError::not_found(format!("machine {id} not found")));
        }
        Ok((app_rec, rng))
    }

    pub(crate) fn new_machine_id(&mut self) -> String {
        loop {
            let id = hex_id(14, &mut self.rng);
            if !self.apps.values().any(|a| a.machines.contains_key(&id)) {
                return id;
            }
        }
    }
}
