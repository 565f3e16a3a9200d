//! One machine: its timed state machine, events, versions and lease.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use fly_machines_api::types;
use rand::rngs::StdRng;

use crate::errors::ApiError;
use crate::ids::{fnv64, ulid};
use crate::time::rfc3339;

/// How many events a machine keeps (older ones are forgotten).
pub(crate) const EVENTS_KEPT: usize = 100;
/// How many events a machine view carries.
const EVENTS_IN_VIEW: usize = 10;

/// A machine's state: the client's own open enum, so the emulator speaks the client's words.
pub(crate) use fly_machines_api::MachineState;

/// The machine states the emulator puts machines in: values of the client's own enum, a subset
/// of it (never `creating`, `updating`, `replaced`, `migrated` or `launch_failed`).
pub static MACHINE_STATES: [MachineState; 12] = [
    MachineState::Created,
    MachineState::Starting,
    MachineState::Started,
    MachineState::Stopping,
    MachineState::Stopped,
    MachineState::Suspending,
    MachineState::Suspended,
    MachineState::Restarting,
    MachineState::Replacing,
    MachineState::Destroying,
    MachineState::Destroyed,
    MachineState::Failed,
];

/// A state the emulator produces, read from its word; `None` for any other word.
pub(crate) fn produced_state(word: &str) -> Option<MachineState> {
    MACHINE_STATES.iter().find(|s| s.as_str() == word).cloned()
}

/// A transition scheduled on the clock.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub(crate) at: u64,
    pub(crate) state: MachineState,
    pub(crate) kind: &'static str,
}

/// A held lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) nonce: String,
    pub(crate) owner: String,
    pub(crate) description: String,
    pub(crate) expires_ms: u64,
    pub(crate) version: String,
}

impl Lease {
    pub(crate) fn view(&self, with_nonce: bool) -> types::Lease {
        types::Lease {
            description: Some(self.description.clone()),
            expires_at: Some((self.expires_ms / 1000) as i64),
            nonce: with_nonce.then(|| self.nonce.clone()),
            owner: Some(self.owner.clone()),
            version: Some(self.version.clone()),
        }
    }

    /// The lease as a machine listing carries it (`include_leases`): never the nonce.
    pub(crate) fn stripped(&self) -> types::StrippedLease {
        types::StrippedLease {
            description: Some(self.description.clone()),
            expires_at: Some(i64::try_from(self.expires_ms / 1000).unwrap_or(i64::MAX)),
            owner: Some(self.owner.clone()),
        }
    }
}

/// One machine.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) seq: u64,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    /// Before this time the machine answers 404 (eventual-consistency fault).
    pub(crate) visible_from_ms: u64,
    pub(crate) state: MachineState,
    pub(crate) pending: VecDeque<Transition>,
    pub(crate) instance_id: String,
    pub(crate) config: types::MachineConfig,
    /// Oldest first; the last one is current. Only the newest few are kept (`SimBuilder::versions_kept`).
    pub(crate) versions: VecDeque<types::MachineVersion>,
    /// Oldest first.
    pub(crate) events: VecDeque<types::MachineEvent>,
    pub(crate) lease: Option<Lease>,
    pub(crate) cordoned: bool,
    pub(crate) memory_limit_mb: Option<i64>,
    pub(crate) destroyed_ms: Option<u64>,
    pub(crate) private_ip: String,
    /// Volume ids this machine has attached.
    pub(crate) volumes: Vec<String>,
    /// Launches of this machine's image fail (see the crate docs on `unpullable`).
    pub(crate) unpullable: bool,
    /// How the image behaves once it runs: healthy, never passing its checks, or crashing.
    pub(crate) behaviour: Behaviour,
    /// Health checks pass this long after the machine enters `started`.
    pub(crate) check_delay_ms: u64,
    /// How long a crash-looping machine takes to restart (the transition time).
    pub(crate) step_ms: u64,
    /// When the machine last entered `started`, while it stays there.
    pub(crate) started_ms: Option<u64>,
    /// The latest time the machine was looked at (checks are shown as of then).
    pub(crate) seen_ms: u64,
    /// Restarts after a crash since the last user action.
    pub(crate) crashes: u32,
    /// Set by an update to a `:reverted` image: what the machine is put back on when the
    /// update's launch ends (cleared by any later user action).
    pub(crate) revert_to: Option<Box<types::MachineConfig>>,
    /// Every change of whether this machine serves, oldest first (the newest
    /// [`SERVING_CHANGES_KEPT`]).
    pub(crate) serving_changes: VecDeque<ServingFlip>,
}

/// How many serving changes a machine keeps.
pub(crate) const SERVING_CHANGES_KEPT: usize = 256;

/// Orders serving changes across machines (and emulators) in the order they were applied.
static SERVING_SEQ: AtomicU64 = AtomicU64::new(1);

/// One change of whether a machine serves (`started` and not cordoned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServingFlip {
    /// Process-wide order of application.
    pub(crate) seq: u64,
    /// Emulator time, ms.
    pub(crate) at: u64,
    /// Whether it serves from then on.
    pub(crate) serving: bool,
}

/// What an image reference asks of the emulator: the last segment of its repository and its
/// tag (`example/app:never-healthy` is `app` and `never-healthy`), read once in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageTraits {
    /// Launches fail: repository `…/unpullable` or tag `:unpullable`.
    pub(crate) unpullable: bool,
    /// After an update to it, the machine is put back on its previous config: tag `:reverted`.
    pub(crate) reverted: bool,
    /// How it runs.
    pub(crate) behaviour: Behaviour,
}

impl ImageTraits {
    pub(crate) fn of(image: &str) -> ImageTraits {
        let path = image.split('@').next().unwrap_or_default();
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t)),
            _ => (path, None),
        };
        let name = path.rsplit('/').next();
        let either = |word: &str| name == Some(word) || tag == Some(word);
        let behaviour = if either("unhealthy") || tag == Some("never-healthy") {
            Behaviour::Unhealthy
        } else if either("crashloop") {
            Behaviour::CrashLoop
        } else {
            Behaviour::Healthy
        };
        ImageTraits {
            unpullable: either("unpullable"),
            reverted: tag == Some("reverted"),
            behaviour,
        }
    }

    pub(crate) fn of_config(config: &types::MachineConfig) -> ImageTraits {
        ImageTraits::of(config.image.as_deref().unwrap_or_default())
    }
}

/// How a machine's image behaves once it runs, from the last segment of its repository
/// (`example/unhealthy:1`, `example/crashloop:1`) or its tag (`example/app:never-healthy`,
/// `example/app:crashloop`); see [`ImageTraits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Runs, and its checks pass after the check delay.
    Healthy,
    /// Runs, and its checks never pass.
    Unhealthy,
    /// Exits a moment after each start and is restarted, [`CRASH_RESTARTS`] times, then ends in
    /// `failed`.
    CrashLoop,
}

/// How often a crash-looping machine is restarted before it is left `failed`.
pub(crate) const CRASH_RESTARTS: u32 = 5;

impl Machine {
    /// Applies every scheduled transition due at or before `now`.
    pub(crate) fn settle(&mut self, now: u64, rng: &mut StdRng) {
        self.seen_ms = self.seen_ms.max(now);
        while self.pending.front().is_some_and(|p| p.at <= now) {
            if let Some(p) = self.pending.pop_front() {
                self.enter(p.state, p.kind, "flyd", p.at, rng);
            }
        }
    }

    /// The time of the next scheduled transition.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.pending.front().map(|p| p.at)
    }

    /// Whether a transition is in flight.
    pub(crate) fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    fn enter(
        &mut self,
        state: MachineState,
        kind: &'static str,
        source: &str,
        at: u64,
        rng: &mut StdRng,
    ) {
        if state == MachineState::Started
            && source == "flyd"
            && let Some(previous) = self.revert_to.take()
        {
            self.put_back(*previous, at, rng);
        }
        self.state = state.clone();
        self.updated_ms = self.updated_ms.max(at);
        self.started_ms = (state == MachineState::Started).then_some(at);
        if state == MachineState::Started && self.behaviour == Behaviour::CrashLoop {
            self.crash_after(at);
        }
        if state == MachineState::Destroyed {
            self.destroyed_ms = Some(at);
        }
        self.push_event(kind, state.as_str(), source, at, rng);
        self.note_serving(at);
    }

    /// Whether the machine serves traffic: `started` and not cordoned.
    pub(crate) fn serving(&self) -> bool {
        self.state == MachineState::Started && !self.cordoned
    }

    /// Records a change of [`Machine::serving`] since the last one recorded.
    pub(crate) fn note_serving(&mut self, at: u64) {
        let now = self.serving();
        let was = self.serving_changes.back().is_some_and(|f| f.serving);
        if now == was {
            return;
        }
        if self.serving_changes.len() >= SERVING_CHANGES_KEPT {
            self.serving_changes.pop_front();
        }
        self.serving_changes.push_back(ServingFlip {
            seq: SERVING_SEQ.fetch_add(1, Ordering::Relaxed),
            at,
            serving: now,
        });
    }

    /// Takes on `config`'s image: how it launches and runs.
    pub(crate) fn adopt_image(&mut self, config: &types::MachineConfig) {
        let traits = ImageTraits::of_config(config);
        self.unpullable = traits.unpullable;
        self.behaviour = traits.behaviour;
    }

    /// Puts the machine back on `previous` as Fly does when an update's image cannot be
    /// pulled: a new version carrying the old config, with nothing said to the caller.
    fn put_back(&mut self, previous: types::MachineConfig, at: u64, rng: &mut StdRng) {
        self.adopt_image(&previous);
        self.instance_id = ulid(at, rng);
        let keep = self.versions.len().max(1);
        self.push_version(
            types::MachineVersion {
                user_config: Some(previous.clone()),
                version: Some(self.instance_id.clone()),
            },
            keep,
        );
        self.config = previous;
    }

    /// Schedules the crash of a crash-looping machine that just started: an exit and a
    /// restart, or, after [`CRASH_RESTARTS`] of them, an exit into `failed`.
    fn crash_after(&mut self, at: u64) {
        let step = self.step_ms.max(1);
        let exit_at = at.saturating_add(step);
        if self.crashes >= CRASH_RESTARTS {
            self.pending.push_back(Transition {
                at: exit_at,
                state: MachineState::Failed,
                kind: "exit",
            });
            return;
        }
        self.crashes += 1;
        self.pending.push_back(Transition {
            at: exit_at,
            state: MachineState::Starting,
            kind: "exit",
        });
        self.pending.push_back(Transition {
            at: exit_at.saturating_add(step),
            state: MachineState::Started,
            kind: "restart",
        });
    }

    /// The machine's health checks as of the last look: one per check the config declares,
    /// `passing` once the machine has been `started` for the check delay (never for an
    /// unhealthy image), else `critical`. `None` when the config declares none.
    pub(crate) fn checks_view(&self) -> Option<Vec<types::CheckStatus>> {
        let mut names: Vec<String> = self
            .config
            .checks
            .as_ref()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        for (i, service) in self.config.services.iter().flatten().enumerate() {
            for j in 0..service.checks.as_ref().map_or(0, Vec::len) {
                names.push(format!("servicecheck-{i:02}-{j:02}"));
            }
        }
        if names.is_empty() {
            return None;
        }
        let passing = self.behaviour == Behaviour::Healthy
            && self
                .started_ms
                .is_some_and(|at| self.seen_ms >= at.saturating_add(self.check_delay_ms));
        let (status, output) = if passing {
            ("passing", "Success")
        } else if self.started_ms.is_some() {
            ("critical", "the check has not passed yet")
        } else {
            ("critical", "the machine is not running")
        };
        Some(
            names
                .into_iter()
                .map(|name| types::CheckStatus {
                    name: Some(name),
                    output: Some(output.to_string()),
                    status: Some(status.to_string()),
                    updated_at: Some(rfc3339(self.seen_ms)),
                })
                .collect(),
        )
    }

    /// Drops what a destroyed machine no longer needs: versions, most of the config, and all
    /// but the events a view shows.
    pub(crate) fn compact(&mut self) {
        self.versions.clear();
        self.versions.shrink_to_fit();
        self.config = types::MachineConfig {
            image: self.config.image.take(),
            guest: self.config.guest.take(),
            ..Default::default()
        };
        while self.events.len() > EVENTS_IN_VIEW {
            self.events.pop_front();
        }
        self.events.shrink_to_fit();
        self.volumes = Vec::new();
    }

    /// Records a new current version, forgetting the oldest beyond `keep` (at least one, the
    /// current, is always kept).
    pub(crate) fn push_version(&mut self, version: types::MachineVersion, keep: usize) {
        while self.versions.len() >= keep.max(1) {
            self.versions.pop_front();
        }
        self.versions.push_back(version);
    }

    pub(crate) fn push_event(
        &mut self,
        kind: &str,
        status: &str,
        source: &str,
        at: u64,
        rng: &mut StdRng,
    ) {
        if self.events.len() >= EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(types::MachineEvent {
            id: Some(ulid(at, rng)),
            request: None,
            source: Some(source.to_string()),
            status: Some(status.to_string()),
            timestamp: Some(at as i64),
            type_: Some(kind.to_string()),
        });
    }

    /// Starts a chain of transitions: the first step happens now (caused by the user), each
    /// following one `step_ms` after the previous.
    pub(crate) fn begin(
        &mut self,
        now: u64,
        step_ms: u64,
        steps: &[(MachineState, &'static str)],
        rng: &mut StdRng,
    ) {
        self.pending.clear();
        self.crashes = 0;
        self.revert_to = None;
        let mut at = now;
        for (i, (state, kind)) in steps.iter().enumerate() {
            if i == 0 {
                self.enter(state.clone(), kind, "user", now, rng);
            } else {
                at = at.saturating_add(step_ms);
                self.pending.push_back(Transition {
                    at,
                    state: state.clone(),
                    kind,
                });
            }
        }
    }

    /// The steps of a launch (create or start) ending in `started`, or in `failed` when the
    /// image cannot be pulled.
    pub(crate) fn boot_end(&self) -> (MachineState, &'static str) {
        if self.unpullable {
            (MachineState::Failed, "exit")
        } else {
            (MachineState::Started, "start")
        }
    }

    /// The lease, if one is held and unexpired.
    pub(crate) fn live_lease(&mut self, now: u64) -> Option<&Lease> {
        if self.lease.as_ref().is_some_and(|l| l.expires_ms <= now) {
            self.lease = None;
        }
        self.lease.as_ref()
    }

    /// Checks the lease nonce of a mutation: a held lease needs its nonce, else 409.
    pub(crate) fn check_lease(&mut self, now: u64, nonce: Option<&str>) -> Result<(), ApiError> {
        let id = self.id.clone();
        match self.live_lease(now) {
            Some(lease) if nonce != Some(lease.nonce.as_str()) => Err(ApiError::conflict(
                "lease_currently_held",
                format!(
                    "machine {id} is leased by {} until {}; send the lease nonce in the \
                     fly-machine-lease-nonce header",
                    lease.owner,
                    rfc3339(lease.expires_ms)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the machine answers 404 at `now`.
    pub(crate) fn hidden(&self, now: u64, destroyed_visible_ms: u64) -> bool {
        now < self.visible_from_ms
            || self
                .destroyed_ms
                .is_some_and(|d| now >= d.saturating_add(destroyed_visible_ms))
    }

    /// Whether the machine is destroyed or on its way there.
    pub(crate) fn gone(&self) -> bool {
        matches!(
            self.state,
            MachineState::Destroyed | MachineState::Destroying
        ) || self
            .pending
            .iter()
            .any(|p| p.state == MachineState::Destroyed)
    }

    pub(crate) fn last_event_id(&self) -> Option<String> {
        self.events.back().and_then(|e| e.id.clone())
    }

    pub(crate) fn image_ref(&self) -> types::ImageRef {
        image_ref(self.config.image.as_deref().unwrap_or_default())
    }

    /// The wire view of the machine.
    pub(crate) fn view(&self, summary: bool, nonce: Option<String>) -> types::Machine {
        let events = (!summary).then(|| {
            self.events
                .iter()
                .rev()
                .take(EVENTS_IN_VIEW)
                .cloned()
                .collect()
        });
        types::Machine {
            checks: self.checks_view(),
            config: (!summary).then(|| self.config.clone()),
            created_at: Some(rfc3339(self.created_ms)),
            events,
            host_status: (!summary).then(|| "ok".to_string()),
            id: Some(self.id.clone()),
            image_ref: Some(self.image_ref()),
            incomplete_config: None,
            instance_id: Some(self.instance_id.clone()),
            version: Some(self.instance_id.clone()),
            name: Some(self.name.clone()),
            nonce: if summary { None } else { nonce },
            private_ip: Some(self.private_ip.clone()),
            region: Some(self.region.clone()),
            state: Some(self.state.as_str().to_string()),
            updated_at: Some(rfc3339(self.updated_ms)),
            cordoned: Some(self.cordoned),
            ..Default::default()
        }
    }

    /// The wire view with the live lease attached, as `include_leases=true` asks.
    pub(crate) fn view_with_lease(
        &mut self,
        summary: bool,
        nonce: Option<String>,
        now: u64,
    ) -> types::Machine {
        let lease = self.live_lease(now).map(Lease::stripped);
        types::Machine {
            lease,
            ..self.view(summary, nonce)
        }
    }
}

/// Splits an image reference into registry, repository, tag and a made-up digest.
pub(crate) fn image_ref(image: &str) -> types::ImageRef {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (image, None),
    };
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, t.to_string()),
        _ => (rest, "latest".to_string()),
    };
    let (registry, repository) = match path.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ if path.contains('/') => ("docker-hub-mirror.fly.io".to_string(), path.to_string()),
        _ => (
            "docker-hub-mirror.fly.io".to_string(),
            format!("library/{path}"),
        ),
    };
    let digest = digest.unwrap_or_else(|| {
        let h = fnv64(image.as_bytes());
        format!(
            "sha256:{h:016x}{:016x}{h:016x}{:016x}",
            !h,
            h.rotate_left(17)
        )
    });
    types::ImageRef {
        digest: Some(digest),
        labels: Some(BTreeMap::new()),
        registry: Some(registry),
        repository: Some(repository),
        tag: Some(tag),
    }
}

#[cfg(test)]
mod tests {
    use super::{MACHINE_STATES, MachineState, produced_state};

    /// The emulator's states are named words of the client's enum, each read back from its
    /// word; a word the emulator never produces reads as none, named or not.
    #[test]
    fn every_state_produced_is_a_word_the_client_names() {
        for state in &MACHINE_STATES {
            let word = state.as_str();
            assert!(!state.is_other(), "{word} is not a state the client names");
            assert_eq!(MachineState::parse(word), *state);
            assert_eq!(produced_state(word).as_ref(), Some(state));
        }
        for word in ["launch_failed", "replaced", "hibernating", ""] {
            assert_eq!(produced_state(word), None, "{word}");
        }
    }
}
