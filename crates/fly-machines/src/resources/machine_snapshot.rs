//! A machine as one answer described it, together with the handle to act on it.

use std::future::Future;
use std::ops::Deref;
use std::time::Duration;

use crate::resources::apps::App;
use crate::resources::machines::Machine;
use crate::wait::{WaitOutcome, WaitState};
use crate::{Result, types};

/// What a get, list, create or update returned: the machine's data (read it through the
/// accessors, `snapshot.state()`, `snapshot.metadata("tenant")`, or any field, by `Deref`) and
/// the [`Machine`] handle for the next call. Waits started from it count only its version, so
/// waiting on what an update returned never mistakes the old version's state for the new one's.
#[derive(Debug, Clone)]
pub struct MachineSnapshot {
    handle: Machine,
    /// Boxed: a `types::Machine` is about 2.6 KB, and a snapshot is moved through every async
    /// layer between the call and its caller; each move of it unboxed was a copy of all of it.
    data: Box<types::Machine>,
}

impl MachineSnapshot {
    pub(crate) fn new(app: &App, data: types::Machine) -> MachineSnapshot {
        MachineSnapshot::boxed(app, Box::new(data))
    }

    /// A snapshot of an answer already on the heap (see `Client::call_boxed`).
    pub(crate) fn boxed(app: &App, data: Box<types::Machine>) -> MachineSnapshot {
        MachineSnapshot {
            handle: Machine::new(app.clone(), data.id().to_string()),
            data,
        }
    }

    /// The same, with its handle carrying `nonce` (an update made under a lease).
    pub(crate) fn with_nonce(mut self, nonce: Option<std::sync::Arc<str>>) -> MachineSnapshot {
        self.handle.lease_nonce = nonce;
        self
    }

    /// The handle for further calls on this machine.
    pub fn handle(&self) -> &Machine {
        &self.handle
    }

    /// The handle, keeping nothing else.
    pub fn into_handle(self) -> Machine {
        self.handle
    }

    /// The data as the API sent it.
    pub fn data(&self) -> &types::Machine {
        &self.data
    }

    /// The data, keeping nothing else.
    pub fn into_data(self) -> types::Machine {
        *self.data
    }

    /// Waits until this version is `started` (or fails fast if it lands in `failed`).
    pub fn wait_started(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome>> + Send + 'static {
        self.wait_for([WaitState::Started], timeout)
    }

    /// Waits until this version is `stopped`.
    pub fn wait_stopped(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome>> + Send + 'static {
        self.wait_for([WaitState::Stopped], timeout)
    }

    /// Waits until this version reaches one of `states`.
    pub fn wait_for(
        &self,
        states: impl IntoIterator<Item = WaitState>,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome>> + Send + 'static {
        self.handle
            .wait_for(states.into_iter().collect::<Vec<_>>())
            .timeout(timeout)
            .maybe_version(self.data.version().map(str::to_string))
            .send()
    }
}

impl Deref for MachineSnapshot {
    type Target = types::Machine;

    fn deref(&self) -> &types::Machine {
        &self.data
    }
}

impl From<MachineSnapshot> for types::Machine {
    fn from(snapshot: MachineSnapshot) -> types::Machine {
        *snapshot.data
    }
}
