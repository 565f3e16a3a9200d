//! A running emulator: [`SimHandle`], for clients' addresses and tests' inspection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fly_machines_api::types;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{Faults, RateLimits};
use crate::emulator::{Emulator, lock};
use crate::request_log::RequestRecord;
use crate::serving::ServingChange;
use crate::state::{MachineState, World};

/// A running emulator. Dropping it stops the server (without waiting); prefer
/// [`shutdown`](SimHandle::shutdown).
#[derive(Debug)]
pub struct SimHandle {
    emulator: Arc<Emulator>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub(crate) fn new(
        emulator: Arc<Emulator>,
        addr: SocketAddr,
        task: JoinHandle<()>,
    ) -> SimHandle {
        SimHandle {
            emulator,
            addr,
            task: Some(task),
        }
    }

    /// The base URL clients use, including `/v1`, e.g. `http://127.0.0.1:4280/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The URL without `/v1`, the form `FLY_API_HOSTNAME` takes, e.g. `http://127.0.0.1:4280`.
    pub fn hostname(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token clients must send.
    pub fn token(&self) -> &str {
        &self.emulator.settings.token
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.emulator.clock
    }

    /// Moves the clock forward (see [`Clock::advance`]) and wakes pending long-polls.
    pub fn advance(&self, by: Duration) {
        self.emulator.clock.advance(by);
        self.emulator.changed.notify_waiters();
    }

    /// Replaces the fault configuration and reseeds the fault generator.
    pub fn set_faults(&self, faults: Faults) {
        {
            let mut w = lock(&self.emulator.world);
            w.not_found_after_create_ms = crate::time::millis(faults.not_found_after_create);
            w.destroyed_visible_ms = crate::time::millis(faults.destroyed_visible_for);
        }
        self.emulator.faults.set(faults);
    }

    /// Turns forced short pages on or off (see [`SimBuilder::short_pages`]).
    ///
    /// [`SimBuilder::short_pages`]: crate::SimBuilder::short_pages
    pub fn set_short_pages(&self, on: bool) {
        lock(&self.emulator.world).short_pages = on;
    }

    /// Turns Fly's older documented shapes on or off (see [`SimBuilder::documented_shapes`]).
    ///
    /// [`SimBuilder::documented_shapes`]: crate::SimBuilder::documented_shapes
    pub fn set_documented_shapes(&self, on: bool) {
        lock(&self.emulator.world).documented_shapes = on;
    }

    /// The current fault configuration.
    pub fn faults(&self) -> Faults {
        self.emulator.faults.current()
    }

    /// Replaces the rate limits and forgets the buckets filled so far.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.emulator.limiter.set(limits);
    }

    /// The request log, oldest first (up to the builder's capacity).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.emulator.log.snapshot()
    }

    /// How many bytes the request log holds now (see [`SimBuilder::request_log_bytes`]).
    ///
    /// [`SimBuilder::request_log_bytes`]: crate::SimBuilder::request_log_bytes
    pub fn request_log_bytes(&self) -> usize {
        self.emulator.log.bytes()
    }

    /// How many client connections are open now (at most [`SimBuilder::max_connections`]).
    ///
    /// [`SimBuilder::max_connections`]: crate::SimBuilder::max_connections
    pub fn open_connections(&self) -> usize {
        self.emulator.connection_slots.open()
    }

    /// How many bytes the machines of every app hold in configs, versions and events,
    /// measured as their JSON size: a gauge of what the world retains (tests watch it fall
    /// once destroyed machines are reaped).
    pub fn machine_state_bytes(&self) -> usize {
        let world = lock(&self.emulator.world);
        world
            .apps
            .values()
            .flat_map(|a| a.machines.values())
            .map(|m| {
                json_len(&m.config)
                    + m.versions.iter().map(json_len).sum::<usize>()
                    + m.events.iter().map(json_len).sum::<usize>()
            })
            .sum()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.emulator.log.clear();
    }

    /// Names of the apps, sorted.
    pub fn apps(&self) -> Vec<String> {
        lock(&self.emulator.world).apps.keys().cloned().collect()
    }

    /// The machines of `app` as `GET` would show them, in creation order: those not
    /// destroyed, including machines hidden by the eventual-consistency fault. Empty when the
    /// app does not exist.
    pub fn machines(&self, app: &str) -> Vec<types::Machine> {
        self.machines_where(app, false)
    }

    /// Like [`machines`](SimHandle::machines) but also destroyed machines.
    pub fn all_machines(&self, app: &str) -> Vec<types::Machine> {
        self.machines_where(app, true)
    }

    fn machines_where(&self, app: &str, include_destroyed: bool) -> Vec<types::Machine> {
        let now = self.emulator.clock.now_ms();
        let mut w = lock(&self.emulator.world);
        let World { apps, rng, .. } = &mut *w;
        let Some(app) = apps.get_mut(app) else {
            return Vec::new();
        };
        let mut ms: Vec<_> = app.machines.values_mut().collect();
        ms.sort_by_key(|m| m.seq);
        ms.into_iter()
            .filter_map(|m| {
                m.settle(now, rng);
                (include_destroyed || m.state != MachineState::Destroyed)
                    .then(|| m.view(false, None))
            })
            .collect()
    }

    /// Every change in which of `app`'s machines serve (`started` and not cordoned, as Fly's
    /// proxy would route to them), in the order the emulator applied them, each with the
    /// number serving right after it: the floor of a deploy is the smallest `count` over the
    /// changes it caused. Transitions that have fallen due are applied first. Each machine
    /// keeps its newest 256 changes; a destroyed machine's are forgotten with it (an hour
    /// after it is hidden). Empty when the app does not exist.
    pub fn serving_changes(&self, app: &str) -> Vec<ServingChange> {
        let now = self.emulator.clock.now_ms();
        let mut w = lock(&self.emulator.world);
        let World { apps, rng, .. } = &mut *w;
        let Some(app) = apps.get_mut(app) else {
            return Vec::new();
        };
        let mut ms: Vec<_> = app.machines.values_mut().collect();
        ms.sort_by_key(|m| m.seq);
        for m in &mut ms {
            m.settle(now, rng);
            m.serving_changes.make_contiguous();
        }
        crate::serving::timeline(
            ms.iter()
                .map(|m| (m.id.as_str(), m.serving_changes.as_slices().0)),
        )
    }

    /// Makes `count` machines in `app` from `request`, as that many `Machines_create` calls
    /// would (same checks, ids, names made unique by a suffix when `request` names one), without
    /// HTTP: for tests and benchmarks that need a large fleet (read them back with
    /// [`machines`](SimHandle::machines)). Stops at the first refusal, with its message.
    pub fn create_machines(
        &self,
        app: &str,
        count: usize,
        request: &types::CreateMachineRequest,
    ) -> Result<(), String> {
        let op = fly_machines_api::OperationId::MachinesCreate.operation();
        let mut params = std::collections::HashMap::new();
        params.insert("app_name".to_string(), app.to_string());
        let req = crate::request::ApiRequest {
            op,
            params: crate::request::PathParams(params),
            query: Vec::new(),
            headers: Default::default(),
            body: Default::default(),
        };
        let now = self.emulator.clock.now_ms();
        let mut world = lock(&self.emulator.world);
        let mut env = crate::request::Env {
            world: &mut world,
            now,
            settings: &self.emulator.settings,
        };
        for n in 0..count {
            let mut body = request.clone();
            if let Some(name) = body.name.as_mut().filter(|name| !name.is_empty()) {
                name.push_str(&format!("-{n}"));
            }
            crate::api::machines::create(&mut env, &req, body).map_err(|e| e.message)?;
        }
        drop(world);
        self.emulator.changed.notify_waiters();
        Ok(())
    }

    /// How many machines of `app` are not destroyed.
    pub fn machine_count(&self, app: &str) -> usize {
        self.machines(app).len()
    }

    /// One machine as `GET` would show it (also while hidden by faults, and once destroyed).
    pub fn machine(&self, app: &str, id: &str) -> Option<types::Machine> {
        let now = self.emulator.clock.now_ms();
        let mut w = lock(&self.emulator.world);
        let World { apps, rng, .. } = &mut *w;
        let m = apps.get_mut(app)?.machines.get_mut(id)?;
        m.settle(now, rng);
        Some(m.view(false, None))
    }

    /// The lease held on a machine, with its nonce.
    pub fn lease(&self, app: &str, id: &str) -> Option<types::Lease> {
        let now = self.emulator.clock.now_ms();
        let mut w = lock(&self.emulator.world);
        let m = w.apps.get_mut(app)?.machines.get_mut(id)?;
        m.live_lease(now).map(|l| l.view(true))
    }

    /// How many `/wait` calls are currently blocked.
    pub fn parked_waits(&self) -> usize {
        self.emulator.parked_waits.load(Ordering::SeqCst)
    }

    /// Resolves once at least `n` `/wait` calls are blocked, so a test can advance the manual
    /// clock knowing the waits have started.
    pub async fn until_parked(&self, n: usize) {
        loop {
            let notified = self.emulator.parked_changed.notified();
            if self.parked_waits() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Stops accepting connections, ends pending long-polls (503), and waits (at most 5 s)
    /// for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.emulator.shutdown.send(true);
        self.emulator.changed.notify_waiters();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.emulator.shutdown.send(true);
        self.emulator.changed.notify_waiters();
    }
}

/// The JSON size of a value.
fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}
