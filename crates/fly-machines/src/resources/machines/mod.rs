//! Machines: list and create in an app, and every action on one machine.
//!
//! Every call is a builder: required inputs go in the method call, options are named setters,
//! and the builder is awaited directly (`machine.stop().timeout(d).await`) or finished with
//! `.send()`, which is the same call.
//!
//! The handle's calls are kept by job, one file each: this file holds the handle types and the
//! plain calls on one machine; `list`, `create`, `metadata`, `wait`, `health`, `lease` and
//! `rolling` hold the rest. Each builder is re-exported where it has always been named.

use fly_machines_api::OperationId;
use std::sync::Arc;
use std::time::Duration;

use crate::context::CallContext;
use crate::resources::apps::App;
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::signal::Signal;
use crate::{Error, Result, types, units, validate};

mod create;
pub(crate) mod health;
pub(crate) mod lease;
mod list;
mod metadata;
mod rolling;
pub(crate) mod wait;

pub use create::{MachinesCreateBuilder, MachinesEnsureBuilder};
pub use list::MachinesListBuilder;
pub use metadata::{Metadata, MetadataEntries, MetadataMergeBuilder, MetadataReplaceBuilder};
pub use rolling::{MachineModifyConfigBuilder, MachineUpdateImageBuilder};

/// Metadata key that tags a machine with the idempotency key of the create that made it.
pub const LAUNCH_ID_METADATA_KEY: &str = "fly_machines_launch_id";

/// Longest exec Fly runs, in seconds.
const MAX_EXEC_SECS: u64 = 3600;

/// The machines of an app.
#[derive(Debug, Clone)]
pub struct Machines {
    pub(crate) app: App,
}

/// Rejects configs Fly would refuse, before sending them.
pub(crate) fn validate_config(config: &types::MachineConfig) -> Result<()> {
    if config.image.as_deref().is_none_or(str::is_empty) {
        return Err(Error::invalid_input(
            "machine config image",
            config.image.as_deref().unwrap_or(""),
            "an image reference such as `registry.fly.io/app:tag`",
        ));
    }
    if let Some(guest) = &config.guest {
        crate::guest::Guest::try_from(guest)?;
    }
    crate::builders::check_names(config)
}

/// One machine of an app. Made by [`App::machine`]; carries a lease nonce when made by a
/// lease guard, and then every mutation sends it. `Debug` leaves the nonce out.
#[derive(Clone)]
pub struct Machine {
    pub(crate) app: App,
    pub(crate) id: Arc<str>,
    pub(crate) lease_nonce: Option<Arc<str>>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("app", &self.app)
            .field("id", &self.id)
            .field(
                "lease_nonce",
                &self.lease_nonce.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The words of a command for [`Machine::exec`]: made from any list of strings (`["ls", "-l"]`,
/// a `&[&str]`, a `Vec<String>`, an iterator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(pub Vec<String>);

impl<I, S> From<I> for Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    fn from(words: I) -> Command {
        Command(words.into_iter().map(|w| w.as_ref().to_string()).collect())
    }
}

/// What [`Machine::processes`] sorts by: the generated `ProcessSortKey` of our OpenAPI document,
/// the field names of a process entry (`Rss` is resident memory), which the emulator reads too.
pub use types::ProcessSortKey as ProcessSort;

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Ascending => "asc",
            SortOrder::Descending => "desc",
        }
    }
}

impl Machine {
    pub(crate) fn new(app: App, id: String) -> Machine {
        Machine {
            app,
            id: Arc::from(id),
            lease_nonce: None,
        }
    }

    /// The machine id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The app handle.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// This handle with a lease nonce: its mutations send `fly-machine-lease-nonce`.
    pub fn with_lease_nonce(&self, nonce: impl Into<String>) -> Machine {
        Machine {
            lease_nonce: Some(Arc::from(nonce.into())),
            ..self.clone()
        }
    }

    /// The lease nonce this handle sends, if any.
    pub fn lease_nonce(&self) -> Option<&str> {
        self.lease_nonce.as_deref()
    }

    pub(crate) fn check(&self) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::resource_id("machine id", &self.id)?;
        self.lease_nonce
            .as_deref()
            .map_or(Ok(()), validate::lease_nonce)
    }

    /// The machine's metadata.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            machine: self.clone(),
        }
    }
}

#[bon::bon]
impl Machine {
    /// Fetches the machine: `machine.get().await?.state()`; with `.include_leases()` the
    /// answer carries the current lease, read with [`types::Machine::lease`]; with
    /// `.version(v)` it is that earlier version of the machine (an id from
    /// [`versions`](Self::versions) or [`types::Machine::version`]).
    pub fn get(&self) -> MachineGetBuilder {
        self.clone().get_builder()
    }

    #[builder(
        builder_type(name = MachineGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_get(
        self,
        /// Include the machine's current lease (owner, description, expiry; never its nonce).
        #[builder(default, with = || true)]
        include_leases: bool,
        /// Fetch this version of the machine instead of the current one.
        version: Option<String>,
    ) -> Result<MachineSnapshot> {
        self.check()?;
        if let Some(v) = &version {
            validate::key("machine version", v)?;
        }
        let r = self
            .app
            .client
            .call_boxed(OperationId::MachinesShow, CallContext::default(), |raw| {
                raw.machines_show(
                    &self.app.name,
                    &self.id,
                    include_leases.then_some(true),
                    version.as_deref(),
                )
            })
            .await?;
        Ok(MachineSnapshot::boxed(&self.app, r))
    }

    /// Replaces the machine's config (a new version); `request.config` must be complete. For
    /// an edit of the current config, [`modify_config`](Self::modify_config) is shorter.
    ///
    /// With `.if_version(v)` the update is applied only while the machine is still at version
    /// `v` (sent as `current_version`); if someone changed it since, Fly refuses with 409,
    /// changes nothing, and the error answers [`Error::is_version_conflict`].
    pub fn update(&self, request: types::UpdateMachineRequest) -> MachineUpdateBuilder {
        self.clone().update_builder(request)
    }

    #[builder(
        builder_type(name = MachineUpdateBuilder, vis = "pub"),
        start_fn(name = update_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_update(
        self,
        #[builder(start_fn)] request: types::UpdateMachineRequest,
        /// Retry after a timeout or 5xx even though an update is not idempotent.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
        /// Only while the machine is at this version (optimistic concurrency).
        if_version: Option<String>,
    ) -> Result<MachineSnapshot> {
        self.check()?;
        let mut request = request;
        if let Some(v) = if_version {
            validate::key("machine version", &v)?;
            request.current_version = Some(v);
        }
        if let Some(config) = &request.config {
            validate_config(config)?;
        }
        let r = self
            .app
            .client
            .call_boxed(
                OperationId::MachinesUpdate,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| {
                    raw.machines_update(
                        &self.app.name,
                        &self.id,
                        self.lease_nonce.as_deref(),
                        &request,
                    )
                },
            )
            .await?;
        Ok(MachineSnapshot::boxed(&self.app, r).with_nonce(self.lease_nonce.clone()))
    }

    /// Updates the machine to `config` (a complete config); `.if_version(v)` as for
    /// [`update`](Self::update).
    pub fn update_config(&self, config: types::MachineConfig) -> MachineUpdateConfigBuilder {
        self.clone().update_config_builder(config)
    }

    #[builder(
        builder_type(name = MachineUpdateConfigBuilder, vis = "pub"),
        start_fn(name = update_config_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_update_config(
        self,
        #[builder(start_fn)] config: types::MachineConfig,
        /// Only while the machine is at this version (optimistic concurrency).
        if_version: Option<String>,
    ) -> Result<MachineSnapshot> {
        self.update(types::UpdateMachineRequest {
            config: Some(config),
            ..Default::default()
        })
        .maybe_if_version(if_version)
        .send()
        .await
    }

    /// Starts a stopped, suspended or created machine (412 from any other state).
    pub fn start(&self) -> MachineStartBuilder {
        self.clone().start_builder()
    }

    #[builder(
        builder_type(name = MachineStartBuilder, vis = "pub"),
        start_fn(name = start_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_start(self) -> Result<types::StartMachineResponse> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesStart, |raw| {
            raw.machines_start(&self.app.name, &self.id, self.lease_nonce.as_deref())
        })
    }

    /// Stops the machine: `machine.stop().signal(Signal::Int).timeout(d).await`; without
    /// options, with the config's stop signal and timeout.
    pub fn stop(&self) -> MachineStopBuilder {
        self.clone().stop_builder()
    }

    #[builder(
        builder_type(name = MachineStopBuilder, vis = "pub"),
        start_fn(name = stop_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_stop(
        self,
        /// The signal for the main process (one of HUP INT QUIT KILL USR1 USR2 TERM).
        signal: Option<Signal>,
        /// How long after the signal the machine is killed.
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.check()?;
        let request = types::StopRequest {
            signal: signal.map(Signal::for_stop).transpose()?,
            timeout: timeout
                .map(|d| units::go_duration("stop timeout", d))
                .transpose()?,
        };
        answer!(self.app.client, OperationId::MachinesStop, |raw| {
            raw.machines_stop(
                &self.app.name,
                &self.id,
                self.lease_nonce.as_deref(),
                &request,
            )
        })
    }

    /// Suspends the machine (snapshot of memory; resumes on start).
    pub fn suspend(&self) -> MachineSuspendBuilder {
        self.clone().suspend_builder()
    }

    #[builder(
        builder_type(name = MachineSuspendBuilder, vis = "pub"),
        start_fn(name = suspend_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_suspend(self) -> Result<()> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesSuspend, |raw| {
            raw.machines_suspend(&self.app.name, &self.id, self.lease_nonce.as_deref())
        })
    }

    /// Restarts the machine: `machine.restart().signal(Signal::Hup).timeout(d).await`.
    pub fn restart(&self) -> MachineRestartBuilder {
        self.clone().restart_builder()
    }

    #[builder(
        builder_type(name = MachineRestartBuilder, vis = "pub"),
        start_fn(name = restart_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_restart(
        self,
        /// The signal that stops the main process.
        signal: Option<Signal>,
        /// How long the stop part may take before the process is killed.
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.check()?;
        let signal = signal.map(Signal::for_restart).transpose()?;
        let timeout = timeout
            .map(|d| units::go_duration("restart timeout", d))
            .transpose()?;
        answer!(self.app.client, OperationId::MachinesRestart, |raw| {
            raw.machines_restart(
                &self.app.name,
                &self.id,
                signal,
                timeout.as_deref(),
                self.lease_nonce.as_deref(),
            )
        })
    }

    /// Sends a signal to the machine's main process.
    pub fn signal(&self, signal: Signal) -> MachineSignalBuilder {
        self.clone().signal_builder(signal)
    }

    #[builder(
        builder_type(name = MachineSignalBuilder, vis = "pub"),
        start_fn(name = signal_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_signal(self, #[builder(start_fn)] signal: Signal) -> Result<()> {
        self.check()?;
        let body = types::SignalRequest {
            signal: Some(signal.for_signal()?),
        };
        answer!(self.app.client, OperationId::MachinesSignal, |raw| {
            raw.machines_signal(&self.app.name, &self.id, self.lease_nonce.as_deref(), &body)
        })
    }

    /// Destroys the machine: `machine.delete().force().await` kills a running one.
    pub fn delete(&self) -> MachineDeleteBuilder {
        self.clone().delete_builder()
    }

    #[builder(
        builder_type(name = MachineDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_delete(
        self,
        /// Kill the machine if it is running, instead of refusing.
        #[builder(default, with = || true)]
        force: bool,
    ) -> Result<()> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesDelete, |raw| {
            raw.machines_delete(
                &self.app.name,
                &self.id,
                force.then_some(true),
                self.lease_nonce.as_deref(),
            )
        })
    }

    /// Destroys the machine (killing it if it runs) unless it is already gone: `Ok(false)` when
    /// there was no machine to destroy (404), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move { crate::ensured::absent_ok(this.delete().force().send().await) }
    }

    /// Stops the proxy from routing new requests to the machine.
    pub fn cordon(&self) -> MachineCordonBuilder {
        self.clone().cordon_builder()
    }

    #[builder(
        builder_type(name = MachineCordonBuilder, vis = "pub"),
        start_fn(name = cordon_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_cordon(self) -> Result<()> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesCordon, |raw| {
            raw.machines_cordon(&self.app.name, &self.id, self.lease_nonce.as_deref())
        })
    }

    /// Lets the proxy route requests to the machine again.
    pub fn uncordon(&self) -> MachineUncordonBuilder {
        self.clone().uncordon_builder()
    }

    #[builder(
        builder_type(name = MachineUncordonBuilder, vis = "pub"),
        start_fn(name = uncordon_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_uncordon(self) -> Result<()> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesUncordon, |raw| {
            raw.machines_uncordon(&self.app.name, &self.id, self.lease_nonce.as_deref())
        })
    }

    /// The machine's events, newest first: `machine.events().limit(10).await`.
    pub fn events(&self) -> MachineEventsBuilder {
        self.clone().events_builder()
    }

    #[builder(
        builder_type(name = MachineEventsBuilder, vis = "pub"),
        start_fn(name = events_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_events(
        self,
        /// At most this many events.
        limit: Option<u32>,
    ) -> Result<Vec<types::MachineEvent>> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesListEvents, |raw| {
            raw.machines_list_events(&self.app.name, &self.id, limit.map(i64::from))
        })
    }

    /// The machine's config versions.
    pub fn versions(&self) -> MachineVersionsBuilder {
        self.clone().versions_builder()
    }

    #[builder(
        builder_type(name = MachineVersionsBuilder, vis = "pub"),
        start_fn(name = versions_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_versions(self) -> Result<Vec<types::MachineVersion>> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesListVersions, |raw| {
            raw.machines_list_versions(&self.app.name, &self.id)
        })
    }

    /// Processes running in the machine:
    /// `machine.processes().sort_by(ProcessSort::Cpu).order(SortOrder::Descending).await`.
    pub fn processes(&self) -> MachineProcessesBuilder {
        self.clone().processes_builder()
    }

    #[builder(
        builder_type(name = MachineProcessesBuilder, vis = "pub"),
        start_fn(name = processes_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_processes(
        self,
        /// What to sort by.
        sort_by: Option<ProcessSort>,
        /// The direction.
        order: Option<SortOrder>,
    ) -> Result<Vec<types::ProcessStat>> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesListProcesses, |raw| {
            raw.machines_list_processes(
                &self.app.name,
                &self.id,
                order.map(SortOrder::as_str),
                sort_by,
            )
        })
    }

    /// Runs a command (no shell) in the machine and returns its output:
    /// `machine.exec(["ls", "-l"]).timeout(Duration::from_secs(10)).await`.
    pub fn exec(&self, command: impl Into<Command>) -> MachineExecBuilder {
        self.clone().exec_builder(command)
    }

    #[builder(
        builder_type(name = MachineExecBuilder, vis = "pub"),
        start_fn(name = exec_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_exec(
        self,
        #[builder(start_fn, into)] command: Command,
        /// How long the command may run (whole seconds, 1 s to 1 h).
        timeout: Option<Duration>,
        /// Text fed to the command's standard input.
        stdin: Option<String>,
        /// Run in this container of a multi-container machine.
        container: Option<String>,
        /// Run in the machine's own namespace rather than in a container (not with
        /// `.container(..)`).
        #[builder(default, with = || true)]
        in_machine: bool,
        /// Retry after a timeout or 5xx even though the command may then run twice.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::ExecResponse> {
        self.check()?;
        let Command(command) = command;
        if command.is_empty() || command[0].is_empty() {
            return Err(Error::invalid_input(
                "exec command",
                &command.join(" "),
                "at least one word, the program to run",
            ));
        }
        if in_machine && container.is_some() {
            return Err(Error::invalid_input(
                "exec container",
                container.as_deref().unwrap_or_default(),
                "no container when the command runs in the machine's namespace (in_machine)",
            ));
        }
        let request = types::MachineExecRequest {
            command: Some(command),
            machine: in_machine.then_some(true),
            timeout: timeout
                .map(|d| units::whole_secs_i64("exec timeout", d, 1, MAX_EXEC_SECS))
                .transpose()?,
            stdin,
            container,
            ..Default::default()
        };
        let r = self
            .app
            .client
            .call_with(
                OperationId::MachinesExec,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| {
                    raw.machines_exec(
                        &self.app.name,
                        &self.id,
                        self.lease_nonce.as_deref(),
                        &request,
                    )
                },
            )
            .await?;
        Ok(r.into_inner())
    }

    /// The machine's memory: limit and what is available.
    pub fn memory(&self) -> MachineMemoryBuilder {
        self.clone().memory_builder()
    }

    #[builder(
        builder_type(name = MachineMemoryBuilder, vis = "pub"),
        start_fn(name = memory_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_memory(self) -> Result<types::MemoryResponse> {
        self.check()?;
        answer!(self.app.client, OperationId::MachinesGetMemory, |raw| {
            raw.machines_get_memory(&self.app.name, &self.id)
        })
    }

    /// Sets the machine's memory limit, in MB.
    pub fn set_memory_limit(&self, limit_mb: u32) -> MachineSetMemoryLimitBuilder {
        self.clone().set_memory_limit_builder(limit_mb)
    }

    #[builder(
        builder_type(name = MachineSetMemoryLimitBuilder, vis = "pub"),
        start_fn(name = set_memory_limit_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_set_memory_limit(
        self,
        #[builder(start_fn)] limit_mb: u32,
    ) -> Result<types::MemoryResponse> {
        self.check()?;
        let body = types::SetMemoryLimitRequest {
            limit_mb: Some(i64::from(limit_mb)),
        };
        answer!(
            self.app.client,
            OperationId::MachinesSetMemoryLimit,
            |raw| raw.machines_set_memory_limit(
                &self.app.name,
                &self.id,
                self.lease_nonce.as_deref(),
                &body,
            )
        )
    }

    /// Asks the machine to give back `amount_mb` of memory.
    pub fn reclaim_memory(&self, amount_mb: u32) -> MachineReclaimMemoryBuilder {
        self.clone().reclaim_memory_builder(amount_mb)
    }

    #[builder(
        builder_type(name = MachineReclaimMemoryBuilder, vis = "pub"),
        start_fn(name = reclaim_memory_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_reclaim_memory(
        self,
        #[builder(start_fn)] amount_mb: u32,
    ) -> Result<types::ReclaimMemoryResponse> {
        self.check()?;
        let body = types::ReclaimMemoryRequest {
            amount_mb: Some(i64::from(amount_mb)),
        };
        answer!(self.app.client, OperationId::MachinesReclaimMemory, |raw| {
            raw.machines_reclaim_memory(
                &self.app.name,
                &self.id,
                self.lease_nonce.as_deref(),
                &body,
            )
        })
    }
}
