//! Machines: list and create in an app, and every action on one machine.
//!
//! Every call is a builder: required inputs go in the method call, options are named setters,
//! and the builder is awaited directly (`machine.stop().timeout(d).await`) or finished with
//! `.send()`, which is the same call.

use fly_machines_api::OperationId;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use crate::context::CallContext;
use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::paging::{self, Paged};
use crate::resources::apps::App;
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::signal::Signal;
use crate::{Ensured, Error, MachineState, Result, types, units, validate};

/// Metadata key that tags a machine with the idempotency key of the create that made it.
pub const LAUNCH_ID_METADATA_KEY: &str = "fly_machines_launch_id";

/// Fly's largest machine page.
const MAX_MACHINE_PAGE: u32 = 1000;

/// Longest exec Fly runs, in seconds.
const MAX_EXEC_SECS: u64 = 3600;

/// The machines of an app.
#[derive(Debug, Clone)]
pub struct Machines {
    pub(crate) app: App,
}

#[bon::bon]
impl Machines {
    /// Lists the app's machines, following Fly's cursors page by page:
    /// `app.machines().list().metadata("role", "web").state(MachineState::Started).await` for
    /// a `Vec`, or `.page_size(500).stream()` for a [`Stream`](futures::Stream) read as it comes.
    ///
    /// Each filter is sent to Fly as a query parameter (`metadata.{key}=value` for metadata).
    /// Fly's page size is a hint (1 to 1,000): a short or empty page is not the end; the end is
    /// an answer without a `fly-next-cursor` header. A server that repeats a cursor or pages past
    /// `.max_pages(n)` (default [`DEFAULT_MAX_PAGES`](crate::paging::DEFAULT_MAX_PAGES)) is
    /// refused with [`PagingError`](crate::paging::PagingError), as is an expired cursor.
    pub fn list(&self) -> MachinesListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = MachinesListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = stream,
        on(String, into),
    )]
    fn run_list(
        self,
        /// Metadata pairs every listed machine must carry (`.metadata(key, value)`, repeatable).
        #[builder(field)]
        metadata: Vec<(String, String)>,
        /// Only machines in this region.
        region: Option<String>,
        /// Only machines in this state.
        #[builder(into)]
        state: Option<MachineState>,
        /// Include destroyed machines.
        #[builder(default, with = || true)]
        include_deleted: bool,
        /// Summaries without the full config.
        #[builder(default, with = || true)]
        summary: bool,
        /// Include each machine's current lease (owner, description, expiry; never its nonce),
        /// read with [`types::Machine::lease`].
        #[builder(default, with = || true)]
        include_leases: bool,
        /// Machines asked for per page (1 to 1,000; Fly may send fewer). Without it the first
        /// answer holds every machine, as servers without pagination answer anyway.
        page_size: Option<u32>,
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> Paged<MachineSnapshot> {
        let checked = validate::app_name(&self.app.name).and_then(|()| {
            metadata
                .iter()
                .try_for_each(|(k, _)| validate::metadata_key(k))?;
            paging::page_limit("machine page size", page_size, MAX_MACHINE_PAGE)
        });
        let limit = match checked {
            Ok(limit) => limit,
            Err(e) => return paging::failed(e),
        };
        let app = self.app.clone();
        let state = state.map(|s| s.as_str().to_string());
        Paged::new(paging::paginate(
            OperationId::MachinesList,
            max_pages,
            move |page: paging::PageRequest| {
                let app = app.clone();
                let mut ctx = CallContext::default();
                for (k, v) in &metadata {
                    ctx.extra_query.push((format!("metadata.{k}"), v.clone()));
                }
                let (region, state) = (region.clone(), state.clone());
                async move {
                    let r = app
                        .client
                        .call_with(OperationId::MachinesList, ctx, |raw| {
                            raw.machines_list(
                                &app.name,
                                page.cursor.as_deref(),
                                include_deleted.then_some(true),
                                include_leases.then_some(true),
                                limit,
                                region.as_deref(),
                                state.as_deref(),
                                summary.then_some(true),
                            )
                        })
                        .await?;
                    let next = paging::header_cursor(r.headers());
                    let items = r
                        .into_inner()
                        .into_iter()
                        .map(|m| MachineSnapshot::new(&app, m))
                        .collect();
                    Ok(paging::Page { items, next })
                }
            },
        ))
    }

    /// Creates a machine from a config:
    /// `let m = app.machines().create(config).region("iad").await?; m.wait_started(d).await?`.
    ///
    /// The answer carries the handle and the version, so a wait on it counts only this
    /// version.
    ///
    /// With `.idempotency_key(k)` the create never makes two machines for one key, across
    /// retries, calls and processes:
    /// - it looks for a live machine tagged with `k` first, and returns it when there is one;
    /// - the machine is tagged with `k` in its metadata ([`LAUNCH_ID_METADATA_KEY`]) and, unless
    ///   `.name(..)` is given, named after `k`, so Fly itself refuses (`name_taken`) a second
    ///   machine for the key even while the first is not visible to lists yet;
    /// - after an ambiguous failure ([`Error::is_ambiguous`]) it looks for the machine, for up
    ///   to `visibility_grace`, and sends the create again only then: if the first did take
    ///   effect, the name makes the repeat fail instead of making a second machine, and the
    ///   machine is looked for again.
    ///
    /// A create that took effect but whose answer cannot be decoded is
    /// [`Error::CreatedUnreadable`], never sent again. [`ensure`](Self::ensure) is the same with
    /// the key required, and says whether it created or found the machine.
    pub fn create(&self, config: types::MachineConfig) -> MachinesCreateBuilder {
        self.clone().create_builder(config)
    }

    #[builder(
        builder_type(name = MachinesCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] config: types::MachineConfig,
        /// Machine name (unique in the app); Fly picks one when absent.
        name: Option<String>,
        /// Region code such as `iad`; Fly picks one when absent.
        region: Option<String>,
        /// Create and hold a lease this long (whole seconds); its nonce is in the answer.
        lease_ttl: Option<Duration>,
        /// Create the machine without starting it.
        #[builder(default, with = || true)]
        skip_launch: bool,
        /// Do not register the machine's services with the proxy yet.
        #[builder(default, with = || true)]
        skip_service_registration: bool,
        /// Makes this create duplicate-free (see above).
        idempotency_key: Option<String>,
        /// After an ambiguous failure, how long to keep looking for the machine before creating
        /// it again (default 10 s): a new machine can take a moment to become visible.
        visibility_grace: Option<Duration>,
        /// Without an idempotency key, retry the create after a timeout or 5xx anyway,
        /// accepting that it may make two machines.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<MachineSnapshot> {
        let body = self.create_body(
            config,
            name,
            region,
            lease_ttl,
            skip_launch,
            skip_service_registration,
        )?;
        match idempotency_key {
            Some(key) => Ok(self
                .create_keyed(body, key, visibility_grace)
                .await?
                .into_inner()),
            None => {
                let created = self
                    .app
                    .client
                    .call_with(
                        OperationId::MachinesCreate,
                        CallContext::retrying_unsafe(retry_unsafe),
                        |raw| raw.machines_create(&self.app.name, &body),
                    )
                    .await
                    .map_err(|e| e.into_created(None))?;
                Ok(MachineSnapshot::new(&self.app, created.into_inner()))
            }
        }
    }

    /// Makes sure one machine exists for `key` and returns it, creating it from `config` only
    /// when none does: `app.machines().ensure("pr-42-web-0", config).region("iad").await?`.
    ///
    /// The key is the machine's identity across runs: run the same program twice, or in two
    /// processes at once, and there is still one machine. It works as
    /// [`create`](Self::create) with `.idempotency_key(key)` (look first, name the machine
    /// after the key unless `.name(..)` is given, look again after a lost answer), and the
    /// answer says whether this call made the machine ([`Ensured::was_created`]). A machine
    /// found is returned as it is: its config is not compared with `config`.
    pub fn ensure(
        &self,
        key: impl Into<String>,
        config: types::MachineConfig,
    ) -> MachinesEnsureBuilder {
        self.clone().ensure_builder(key, config)
    }

    #[builder(
        builder_type(name = MachinesEnsureBuilder, vis = "pub"),
        start_fn(name = ensure_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_ensure(
        self,
        #[builder(start_fn)] key: String,
        #[builder(start_fn)] config: types::MachineConfig,
        /// Machine name (unique in the app); derived from the key when absent.
        name: Option<String>,
        /// Region code such as `iad`; Fly picks one when absent.
        region: Option<String>,
        /// Create and hold a lease this long (whole seconds); its nonce is in the answer.
        lease_ttl: Option<Duration>,
        /// Create the machine without starting it.
        #[builder(default, with = || true)]
        skip_launch: bool,
        /// After an ambiguous failure, how long to keep looking for the machine before creating
        /// it again (default 10 s).
        visibility_grace: Option<Duration>,
    ) -> Result<Ensured<MachineSnapshot>> {
        let body = self.create_body(config, name, region, lease_ttl, skip_launch, false)?;
        self.create_keyed(body, key, visibility_grace).await
    }

    /// The body of a create, after checking the app, the config and the lease TTL.
    fn create_body(
        &self,
        config: types::MachineConfig,
        name: Option<String>,
        region: Option<String>,
        lease_ttl: Option<Duration>,
        skip_launch: bool,
        skip_service_registration: bool,
    ) -> Result<types::CreateMachineRequest> {
        validate::app_name(&self.app.name)?;
        validate_config(&config)?;
        let lease_ttl = lease_ttl
            .map(|d| units::whole_secs_i64("lease ttl", d, 1, u64::MAX))
            .transpose()?;
        Ok(types::CreateMachineRequest {
            config: Some(config),
            name,
            region,
            lease_ttl,
            skip_launch: skip_launch.then_some(true),
            skip_service_registration: skip_service_registration.then_some(true),
            ..Default::default()
        })
    }

    /// The duplicate-free create behind `create(..).idempotency_key(k)` and `ensure`: look
    /// first; create under a name Fly keeps unique; after an ambiguous failure, look again,
    /// and create again only when the name guarantees a repeat cannot make a second machine.
    async fn create_keyed(
        &self,
        mut body: types::CreateMachineRequest,
        key: String,
        visibility_grace: Option<Duration>,
    ) -> Result<Ensured<MachineSnapshot>> {
        validate::key("idempotency key", &key)?;
        if let Some(config) = body.config.as_mut() {
            config
                .metadata
                .get_or_insert_with(Default::default)
                .insert(LAUNCH_ID_METADATA_KEY.to_string(), key.clone());
        }
        if body.name.as_deref().is_none_or(str::is_empty) {
            body.name = Some(launch_name(&key));
        }
        let plan = Plan {
            clock: self.app.client.clock(),
            grace: visibility_grace.unwrap_or(DEFAULT_GRACE),
            unique_name: true,
            attempts: self.app.client.max_attempts(),
        };
        let (body, key) = (&body, &key);
        let find = || self.find_by_launch_id(key);
        let create = || async move {
            // The name makes a repeat safe, so the client may resend after a 5xx itself.
            let made = self
                .app
                .client
                .call_with(
                    OperationId::MachinesCreate,
                    CallContext::retrying_unsafe(true),
                    |raw| raw.machines_create(&self.app.name, body),
                )
                .await
                .map_err(|e| e.into_created(Some(key)))?;
            Ok(MachineSnapshot::new(&self.app, made.into_inner()))
        };
        find_or_create(plan, find, create).await
    }

    /// The live machine (not destroyed or being destroyed) tagged with a create's idempotency
    /// key, if one is visible now.
    pub fn find_by_launch_id(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Option<MachineSnapshot>>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        async move {
            let key = key.as_str();
            let found = this
                .list()
                .metadata(LAUNCH_ID_METADATA_KEY, key)
                .send()
                .await?;
            // Filter again locally: a server that ignores the filter must not make us pick a stranger.
            Ok(found.into_iter().find(|m| {
                m.metadata(LAUNCH_ID_METADATA_KEY) == Some(key)
                    && !m.state().is_terminal()
                    && m.state() != MachineState::Destroying
            }))
        }
    }
}

/// The name a keyed create gives a machine when the caller gives none: the same for every
/// process that uses the key (FNV-1a of the key), so Fly's unique names refuse a second
/// machine for it.
pub(crate) fn launch_name(key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("launch-{hash:016x}")
}

impl<S: machines_list_builder::State> MachinesListBuilder<S> {
    /// Only machines whose metadata has `key` set to `value`; call again to add more pairs.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
}

impl<S: machines_list_builder::IsComplete> MachinesListBuilder<S> {
    /// Reads every page and returns all machines: the same as awaiting the builder.
    pub fn send(self) -> BoxFuture<'static, Result<Vec<MachineSnapshot>>> {
        self.stream().into_future()
    }
}

impl<S: machines_list_builder::IsComplete> IntoFuture for MachinesListBuilder<S> {
    type Output = Result<Vec<MachineSnapshot>>;
    type IntoFuture = BoxFuture<'static, Result<Vec<MachineSnapshot>>>;

    fn into_future(self) -> Self::IntoFuture {
        self.send()
    }
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
            .call(OperationId::MachinesShow, |raw| {
                raw.machines_show(
                    &self.app.name,
                    &self.id,
                    include_leases.then_some(true),
                    version.as_deref(),
                )
            })
            .await?;
        Ok(MachineSnapshot::new(&self.app, r.into_inner()))
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
            .call_with(
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
        Ok(MachineSnapshot::new(&self.app, r.into_inner()).with_nonce(self.lease_nonce.clone()))
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesStart, |raw| {
                raw.machines_start(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(r.into_inner())
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
        self.app
            .client
            .call(OperationId::MachinesStop, |raw| {
                raw.machines_stop(
                    &self.app.name,
                    &self.id,
                    self.lease_nonce.as_deref(),
                    &request,
                )
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesSuspend, |raw| {
                raw.machines_suspend(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesRestart, |raw| {
                raw.machines_restart(
                    &self.app.name,
                    &self.id,
                    signal,
                    timeout.as_deref(),
                    self.lease_nonce.as_deref(),
                )
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesSignal, |raw| {
                raw.machines_signal(&self.app.name, &self.id, self.lease_nonce.as_deref(), &body)
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesDelete, |raw| {
                raw.machines_delete(
                    &self.app.name,
                    &self.id,
                    force.then_some(true),
                    self.lease_nonce.as_deref(),
                )
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesCordon, |raw| {
                raw.machines_cordon(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
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
        self.app
            .client
            .call(OperationId::MachinesUncordon, |raw| {
                raw.machines_uncordon(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesListEvents, |raw| {
                raw.machines_list_events(&self.app.name, &self.id, limit.map(i64::from))
            })
            .await?;
        Ok(r.into_inner())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesListVersions, |raw| {
                raw.machines_list_versions(&self.app.name, &self.id)
            })
            .await?;
        Ok(r.into_inner())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesListProcesses, |raw| {
                raw.machines_list_processes(
                    &self.app.name,
                    &self.id,
                    order.map(SortOrder::as_str),
                    sort_by,
                )
            })
            .await?;
        Ok(r.into_inner())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesGetMemory, |raw| {
                raw.machines_get_memory(&self.app.name, &self.id)
            })
            .await?;
        Ok(r.into_inner())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesSetMemoryLimit, |raw| {
                raw.machines_set_memory_limit(
                    &self.app.name,
                    &self.id,
                    self.lease_nonce.as_deref(),
                    &body,
                )
            })
            .await?;
        Ok(r.into_inner())
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
        let r = self
            .app
            .client
            .call(OperationId::MachinesReclaimMemory, |raw| {
                raw.machines_reclaim_memory(
                    &self.app.name,
                    &self.id,
                    self.lease_nonce.as_deref(),
                    &body,
                )
            })
            .await?;
        Ok(r.into_inner())
    }
}

/// A machine's metadata (string keys and values). Holds a clone of its machine handle, so
/// its builders own everything they need.
#[derive(Debug, Clone)]
pub struct Metadata {
    machine: Machine,
}

impl Metadata {
    /// All keys and values.
    pub fn all(
        &self,
    ) -> impl std::future::Future<Output = Result<BTreeMap<String, String>>> + Send + 'static {
        let this = self.clone();
        async move {
            let m = &this.machine;
            m.check()?;
            let r = m
                .app
                .client
                .call(OperationId::MachinesShowMetadata, |raw| {
                    raw.machines_show_metadata(&m.app.name, &m.id)
                })
                .await?;
            Ok(r.into_inner())
        }
    }

    /// One value; `Ok(None)` when the key is not set.
    pub fn get(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Option<String>>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        async move {
            let key = key.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            match m
                .app
                .client
                .call(OperationId::MachinesGetMetadataKey, |raw| {
                    raw.machines_get_metadata_key(&m.app.name, &m.id, key)
                })
                .await
            {
                Ok(r) => Ok(r.into_inner().value),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// Sets one key.
    pub fn set(
        &self,
        key: &str,
        value: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        let value = value.to_owned();
        async move {
            let key = key.as_str();
            let value = value.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            let body = types::UpsertMetadataKeyRequest {
                value: Some(value.to_string()),
                updated_at: None,
            };
            m.app
                .client
                .call(OperationId::MachinesUpsertMetadata, |raw| {
                    raw.machines_upsert_metadata(
                        &m.app.name,
                        &m.id,
                        key,
                        m.lease_nonce.as_deref(),
                        &body,
                    )
                })
                .await?;
            Ok(())
        }
    }

    /// Removes one key.
    pub fn delete(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        async move {
            let key = key.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            m.app
                .client
                .call(OperationId::MachinesDeleteMetadata, |raw| {
                    raw.machines_delete_metadata(&m.app.name, &m.id, key, m.lease_nonce.as_deref())
                })
                .await?;
            Ok(())
        }
    }
}

/// Metadata keys and values for [`Metadata::replace`] and [`Metadata::merge`], from any
/// iterator of pairs: `[("role", "web")]`, a `BTreeMap`, a `Vec<(String, String)>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataEntries(BTreeMap<String, String>);

impl<I, K, V> From<I> for MetadataEntries
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    fn from(entries: I) -> Self {
        MetadataEntries(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[bon::bon]
impl Metadata {
    /// Replaces all metadata with `entries` (PUT):
    /// `machine.metadata().replace([("role", "web")]).if_version(v).await`.
    pub fn replace(&self, entries: impl Into<MetadataEntries>) -> MetadataReplaceBuilder {
        self.clone().replace_builder(entries)
    }

    #[builder(
        builder_type(name = MetadataReplaceBuilder, vis = "pub"),
        start_fn(name = replace_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_replace(
        self,
        #[builder(start_fn, into)] entries: MetadataEntries,
        /// Apply only while the machine is at this version (`instance_id`); else 412.
        if_version: Option<String>,
        /// Apply only while the metadata was last updated at this time, as read; else 412.
        if_updated_at: Option<String>,
    ) -> Result<()> {
        let m = &self.machine;
        let request = self.request(entries, if_version, if_updated_at)?;
        m.app
            .client
            .call(OperationId::MachinesUpdateMetadata, |raw| {
                raw.machines_update_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
            })
            .await?;
        Ok(())
    }

    /// Sets the keys of `entries`, keeping the others; an empty value removes its key (PATCH):
    /// `machine.metadata().merge([("role", "web"), ("canary", "")]).await`.
    pub fn merge(&self, entries: impl Into<MetadataEntries>) -> MetadataMergeBuilder {
        self.clone().merge_builder(entries)
    }

    #[builder(
        builder_type(name = MetadataMergeBuilder, vis = "pub"),
        start_fn(name = merge_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_merge(
        self,
        #[builder(start_fn, into)] entries: MetadataEntries,
        /// Apply only while the machine is at this version (`instance_id`); else 412.
        if_version: Option<String>,
        /// Apply only while the metadata was last updated at this time, as read; else 412.
        if_updated_at: Option<String>,
    ) -> Result<()> {
        let m = &self.machine;
        let request = self.request(entries, if_version, if_updated_at)?;
        m.app
            .client
            .call(OperationId::MachinesPatchMetadata, |raw| {
                raw.machines_patch_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
            })
            .await?;
        Ok(())
    }
}

impl Metadata {
    /// The body of a PUT or PATCH, after checking the machine and every key.
    fn request(
        &self,
        entries: MetadataEntries,
        if_version: Option<String>,
        if_updated_at: Option<String>,
    ) -> Result<types::UpdateMetadataRequest> {
        self.machine.check()?;
        for key in entries.0.keys() {
            validate::metadata_key(key)?;
        }
        Ok(types::UpdateMetadataRequest {
            machine_version: if_version,
            metadata: Some(entries.0),
            updated_at: if_updated_at,
        })
    }
}
