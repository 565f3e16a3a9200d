//! `GET …/wait`: the long-poll.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use fly_machines_api::types;

use crate::emulator::{Emulator, lock};
use crate::errors::ApiError;
use crate::reply::{HandlerResult, Reply};
use crate::request::ApiRequest;
use crate::state::{MachineState, World};

/// The machine states `/wait` takes, besides [`SETTLED`].
static WAITABLE: [MachineState; 5] = [
    MachineState::Started,
    MachineState::Stopped,
    MachineState::Suspended,
    MachineState::Destroyed,
    MachineState::Failed,
];
/// The word for "any resting state".
const SETTLED: &str = "settled";

/// One state a wait asks for.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    State(MachineState),
    /// Any resting state.
    Settled,
}

impl Wanted {
    fn parse(word: &str) -> Option<Wanted> {
        if word == SETTLED {
            return Some(Wanted::Settled);
        }
        WAITABLE
            .iter()
            .find(|s| s.as_str() == word)
            .cloned()
            .map(Wanted::State)
    }

    fn as_str(&self) -> &str {
        match self {
            Wanted::State(state) => state.as_str(),
            Wanted::Settled => SETTLED,
        }
    }
}

/// A parsed wait request.
struct Spec {
    states: Vec<Wanted>,
    version: Option<String>,
    from_event: Option<String>,
    timeout_secs: u64,
}

impl Spec {
    fn parse(req: &ApiRequest, timeout_param: &str) -> Result<Spec, ApiError> {
        let mut states = Vec::new();
        for word in req.query_list("state") {
            states.push(Wanted::parse(&word).ok_or_else(|| {
                let accepted: Vec<&str> = WAITABLE
                    .iter()
                    .map(MachineState::as_str)
                    .chain([SETTLED])
                    .collect();
                ApiError::bad_request(format!(
                    "invalid state {word:?}: wait accepts {}",
                    accepted.join(", ")
                ))
            })?);
        }
        if states.is_empty() {
            states.push(Wanted::State(MachineState::Started));
        }
        let timeout_secs = match req
            .query_param(timeout_param)
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            None => 60,
            Some(t) => {
                let digits = t.strip_suffix('s').unwrap_or(t);
                let secs: i64 = digits.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "timeout must be a whole number of seconds, got {t:?}"
                    ))
                })?;
                if !(1..=60).contains(&secs) {
                    return Err(ApiError::bad_request(format!(
                        "invalid_argument: timeout must be in [1s, 1m0s], got {secs}s"
                    )));
                }
                secs as u64
            }
        };
        let version = req
            .query_param("version")
            .or(req.query_param("instance_id"))
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let from_event = req
            .query_param("from_event_id")
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        Ok(Spec {
            states,
            version,
            from_event,
            timeout_secs,
        })
    }

    fn wants(&self, state: &MachineState) -> bool {
        self.states
            .iter()
            .any(|s| matches!(s, Wanted::State(wanted) if wanted == state))
    }

    fn wants_settled(&self) -> bool {
        self.states.contains(&Wanted::Settled)
    }

    /// The wanted states as asked, comma-separated.
    fn words(&self) -> String {
        let words: Vec<&str> = self.states.iter().map(Wanted::as_str).collect();
        words.join(",")
    }
}

enum Check {
    Done(types::WaitMachineResponse),
    Pending {
        next_due: Option<u64>,
        state: MachineState,
    },
}

fn is_resting(s: &MachineState) -> bool {
    matches!(
        s,
        MachineState::Created
            | MachineState::Started
            | MachineState::Stopped
            | MachineState::Suspended
            | MachineState::Failed
            | MachineState::Destroyed
    )
}

/// Looks at the machine once, at time `at`.
fn check(w: &mut World, app: &str, id: &str, spec: &Spec, at: u64) -> Result<Check, ApiError> {
    let destroyed_visible = w.destroyed_visible_ms;
    let World { apps, rng, .. } = w;
    let app_rec = apps
        .get_mut(app)
        .ok_or_else(|| ApiError::not_found(format!("app {app} not found")))?;
    let m = app_rec
        .machines
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found(format!("machine {id} not found")))?;
    m.settle(at, rng);
    if at < m.visible_from_ms {
        return Err(ApiError::not_found(format!("machine {id} not found")));
    }
    let done = |state: &str, event_id: Option<String>, version: &str| {
        Check::Done(types::WaitMachineResponse {
            event_id,
            ok: Some(true),
            state: Some(state.to_string()),
            version: Some(version.to_string()),
        })
    };
    if m.hidden(at, destroyed_visible) {
        // Reaped: only a wait for `destroyed` (or any resting state) can succeed.
        return if spec.wants(&MachineState::Destroyed) || spec.wants_settled() {
            Ok(done("destroyed", m.last_event_id(), &m.instance_id))
        } else {
            Err(ApiError::not_found(format!("machine {id} not found")))
        };
    }
    if let Some(v) = spec.version.as_deref()
        && v != m.instance_id
    {
        let known = m.versions.iter().any(|mv| mv.version.as_deref() == Some(v));
        return Err(if known {
            ApiError::bad_request(format!(
                "machine version {v} is replaced (current version is {}); wait on the current version",
                m.instance_id
            ))
        } else {
            ApiError::bad_request(format!("machine {id} has no version {v}"))
        });
    }
    let settled_now = is_resting(&m.state) && !m.busy();
    let matches_now = spec.wants(&m.state) || (spec.wants_settled() && settled_now);
    let outcome = match spec.from_event.as_deref() {
        None => matches_now.then(|| done(m.state.as_str(), m.last_event_id(), &m.instance_id)),
        Some(from) => {
            let pos = m
                .events
                .iter()
                .position(|e| e.id.as_deref() == Some(from))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("machine {id} has no event {from}"))
                })?;
            let later = m.events.iter().skip(pos + 1);
            let hit = later.clone().find(|e| {
                e.status
                    .as_deref()
                    .is_some_and(|s| spec.wants(&MachineState::parse(s)))
            });
            match hit {
                Some(e) => Some(done(
                    e.status.as_deref().unwrap_or_default(),
                    e.id.clone(),
                    &m.instance_id,
                )),
                None if spec.wants_settled() && settled_now && later.count() > 0 => {
                    Some(done(m.state.as_str(), m.last_event_id(), &m.instance_id))
                }
                None => None,
            }
        }
    };
    Ok(outcome.unwrap_or(Check::Pending {
        next_due: m.next_due(),
        state: m.state.clone(),
    }))
}

/// Counts this call among the parked waits while it lives.
struct Parked<'a>(&'a Emulator);

impl<'a> Parked<'a> {
    /// Parks one more wait, or says no when the long-poll budget is spent: 429, with the
    /// connection closed so its slot goes back to everyone else at once.
    fn new(emu: &'a Emulator) -> Result<Parked<'a>, ApiError> {
        let before = emu.parked_waits.fetch_add(1, Ordering::SeqCst);
        let parked = Parked(emu);
        if before >= emu.settings.max_parked_waits {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_long_polls",
                format!("{before} waits are already parked on this emulator; try again shortly"),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .with_header(header::CONNECTION, HeaderValue::from_static("close")));
        }
        emu.parked_changed.notify_waiters();
        Ok(parked)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.parked_waits.fetch_sub(1, Ordering::SeqCst);
        self.0.parked_changed.notify_waiters();
    }
}

/// Serves a wait; `timeout_param` is the query parameter the table names for its bound.
pub(crate) async fn wait(
    emu: &Arc<Emulator>,
    req: &ApiRequest,
    timeout_param: &str,
) -> HandlerResult {
    let spec = Spec::parse(req, timeout_param)?;
    let app = req.path_param("app_name");
    let id = req.path_param("machine_id");
    let start = emu.clock.now_ms();
    let deadline = start.saturating_add(spec.timeout_secs.saturating_mul(1000));
    let mut shutdown = emu.shutdown.subscribe();
    let mut parked = None;
    loop {
        if *shutdown.borrow() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the emulator is shutting down",
            ));
        }
        // Register for wake-ups before looking, so a change in between is not missed.
        let changed = emu.changed.notified();
        let ticked = emu.clock.ticked();
        let now = emu.clock.now_ms();
        let at = now.min(deadline);
        let (result, documented_shapes) = {
            let mut w = lock(&emu.world);
            (check(&mut w, app, id, &spec, at)?, w.documented_shapes)
        };
        let (next_due, state) = match result {
            // Fly's documentation shows `{"ok": true}` alone; servers that follow it say no more.
            Check::Done(_) if documented_shapes => {
                return Ok(Reply::ok(types::WaitMachineResponse {
                    ok: Some(true),
                    ..Default::default()
                }));
            }
            Check::Done(resp) => return Ok(Reply::ok(resp)),
            Check::Pending { next_due, state } => (next_due, state),
        };
        if now >= deadline {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "deadline_exceeded",
                format!(
                    "machine failed to reach desired state {} within {}s, currently {}",
                    spec.words(),
                    spec.timeout_secs,
                    state.as_str()
                ),
            ));
        }
        if parked.is_none() {
            parked = Some(Parked::new(emu)?);
        }
        let target = next_due.map_or(deadline, |d| d.min(deadline));
        let real_delay = (!emu.clock.is_manual())
            .then(|| Duration::from_millis(target.saturating_sub(now).max(1)));
        tokio::select! {
            _ = changed => {}
            _ = ticked => {}
            _ = shutdown.changed() => {}
            _ = async {
                match real_delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
}
