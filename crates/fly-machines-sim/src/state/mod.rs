//! The emulator's in-memory world: apps, machines (with their timed state machine), volumes,
//! secrets, certificates and IPs.

mod app;
mod machine;
pub(crate) mod postgres;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::{SeedableRng, rngs::StdRng};

use crate::errors::ApiError;
use crate::ids::hex_id;

pub(crate) use app::{
    App, Certificate, Secret, SecretKey, Volume, org_display_name, org_numeric_id,
};
pub use machine::MACHINE_STATES;
pub(crate) use machine::{ImageTraits, Lease, Machine, MachineState, ServingFlip, produced_state};

/// Everything the emulator holds, behind one lock.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) rng: StdRng,
    pub(crate) apps: BTreeMap<String, App>,
    /// Managed Postgres clusters.
    pub(crate) postgres: postgres::Clusters,
    /// App-create idempotency keys → the app name they created.
    pub(crate) app_idempotency_keys: BTreeMap<String, AppKey>,
    pub(crate) next_seq: u64,
    /// Tokens minted by the deploy-token endpoint, each good for its own app.
    pub(crate) issued_tokens: Vec<crate::auth::IssuedToken>,
    pub(crate) not_found_after_create_ms: u64,
    pub(crate) destroyed_visible_ms: u64,
    /// How long health checks stay critical after a machine starts.
    pub(crate) check_delay_ms: u64,
    /// Cursors of paged listings handed out and not yet expired.
    pub(crate) cursors: crate::paging::Cursors,
    /// Machines and volumes pages come back shorter than asked (`SimBuilder::short_pages`).
    pub(crate) short_pages: bool,
    /// Answer in Fly's older documented shapes (`SimBuilder::documented_shapes`).
    pub(crate) documented_shapes: bool,
    /// Destroyed machines to shrink once hidden, then forget: (due, stage, app, machine id).
    reaps: BinaryHeap<Reverse<(u64, ReapStage, String, String)>>,
}

/// What an app-create idempotency key created.
#[derive(Debug, Clone)]
pub(crate) struct AppKey {
    pub(crate) name: String,
    /// The app's id, so a key outlives neither its app nor a new app of the same name.
    pub(crate) app_id: String,
}

/// What happens to a destroyed machine when its reap falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ReapStage {
    /// Once it answers 404: drop its versions, config and older events.
    Compact,
    /// [`DESTROYED_RETENTION_MS`] later: drop it from `include_deleted` listings too.
    Remove,
}

/// How long a destroyed machine is still listed with `include_deleted` after it is hidden.
pub(crate) const DESTROYED_RETENTION_MS: u64 = 60 * 60 * 1000;

impl World {
    pub(crate) fn new(seed: u64) -> World {
        World {
            rng: StdRng::seed_from_u64(seed),
            apps: BTreeMap::new(),
            postgres: postgres::Clusters::default(),
            app_idempotency_keys: BTreeMap::new(),
            next_seq: 1,
            issued_tokens: Vec::new(),
            not_found_after_create_ms: 0,
            destroyed_visible_ms: 0,
            check_delay_ms: 0,
            cursors: crate::paging::Cursors::default(),
            short_pages: false,
            documented_shapes: false,
            reaps: BinaryHeap::new(),
        }
    }

    /// Schedules the reaping of a machine that reaches `destroyed` at `destroyed_at`.
    pub(crate) fn schedule_reap(&mut self, app: &str, id: &str, destroyed_at: u64) {
        let due = destroyed_at.saturating_add(self.destroyed_visible_ms);
        self.reaps.push(Reverse((
            due,
            ReapStage::Compact,
            app.to_string(),
            id.to_string(),
        )));
    }

    /// Shrinks and forgets destroyed machines whose time has come, so memory held for them
    /// is bounded by how many are destroyed per hour, not since the start.
    pub(crate) fn reap(&mut self, now: u64) {
        while let Some(Reverse((due, _, _, _))) = self.reaps.peek()
            && *due <= now
        {
            let Some(Reverse((due, stage, app, id))) = self.reaps.pop() else {
                break;
            };
            let Some(app_rec) = self.apps.get_mut(&app) else {
                continue;
            };
            let Some(m) = app_rec.machines.get_mut(&id) else {
                continue;
            };
            m.settle(now, &mut self.rng);
            if m.state != MachineState::Destroyed {
                continue;
            }
            match stage {
                ReapStage::Compact => {
                    m.compact();
                    let later = due.saturating_add(DESTROYED_RETENTION_MS);
                    self.reaps
                        .push(Reverse((later, ReapStage::Remove, app, id)));
                }
                ReapStage::Remove => {
                    app_rec.machines.remove(&id);
                }
            }
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
