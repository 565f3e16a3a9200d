//! Machines: list and create in an app, and every action on one machine.

use fly_machines_api::OperationId;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::context::CallContext;
use crate::resources::apps::App;
use crate::{Error, Result, types, validate};

/// Metadata key that tags a machine with the idempotency key of the create that made it.
pub const LAUNCH_ID_METADATA_KEY: &str = "fly_machines_launch_id";

/// How many times a duplicate-free create sends the request before giving up.
const CREATE_ATTEMPTS: u32 = 4;

/// How long a duplicate-free create keeps looking for its machine after an ambiguous failure.
const DEFAULT_VISIBILITY_GRACE: Duration = Duration::from_secs(10);

/// Time between two lookups of a create's machine.
const LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// The machines of an app.
#[derive(Debug, Clone)]
pub struct Machines {
    pub(crate) app: App,
}

/// Filters for [`Machines::list`].
#[derive(Debug, Clone, Default, bon::Builder)]
#[builder(on(String, into))]
pub struct ListMachines {
    /// Include destroyed machines.
    pub include_deleted: Option<bool>,
    /// Only machines in this region.
    pub region: Option<String>,
    /// Only machines in this state (e.g. `started`).
    pub state: Option<String>,
    /// Return summaries without the full config.
    pub summary: Option<bool>,
    /// Only machines whose metadata has these values (`metadata.{key}=value` filters).
    #[builder(default)]
    pub metadata: BTreeMap<String, String>,
}

#[bon::bon]
impl Machines {
    /// Lists the app's machines, filtered as given.
    pub async fn list(&self, filter: ListMachines) -> Result<Vec<types::Machine>> {
        validate::app_name(&self.app.name)?;
        let mut extra = Vec::with_capacity(filter.metadata.len());
        for (k, v) in &filter.metadata {
            validate::key("metadata key", k)?;
            extra.push((format!("metadata.{k}"), v.clone()));
        }
        let mut ctx = CallContext::default();
        ctx.extra_query = extra;
        let r = self
            .app
            .client
            .call_with(OperationId::MachinesList, ctx, |raw| {
                raw.machines_list(
                    &self.app.name,
                    filter.include_deleted,
                    None,
                    filter.region.as_deref(),
                    filter.state.as_deref(),
                    filter.summary,
                )
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Lists all of the app's machines.
    pub async fn list_all(&self) -> Result<Vec<types::Machine>> {
        self.list(ListMachines::default()).await
    }

    /// Creates a machine from a config:
    /// `app.machines().create(config).region("iad").send().await`.
    ///
    /// With `.idempotency_key(..)`, the machine is tagged with the
    /// key in its metadata; when a create fails ambiguously (timeout, 408, 5xx after the request
    /// was sent) the app is searched for a machine with that tag before trying again, so a
    /// retried create never leaves two machines.
    #[builder(finish_fn = send, on(String, into))]
    pub async fn create(
        &self,
        #[builder(start_fn)] config: types::MachineConfig,
        /// Machine name (unique in the app); Fly picks one when absent.
        name: Option<String>,
        /// Region code such as `iad`; Fly picks one when absent.
        region: Option<String>,
        /// Create and hold a lease for this many seconds; its nonce is in the answer.
        lease_ttl: Option<u32>,
        /// Create the machine without starting it.
        skip_launch: Option<bool>,
        /// Do not register the machine's services with the proxy yet.
        skip_service_registration: Option<bool>,
        /// Makes retries of this create duplicate-free (see above).
        idempotency_key: Option<String>,
        /// After an ambiguous failure, how long to keep looking for the machine before creating
        /// it again (default 10 s): a new machine can take a moment to become visible.
        visibility_grace: Option<Duration>,
    ) -> Result<types::Machine> {
        validate::app_name(&self.app.name)?;
        let mut config = config;
        validate_config(&config)?;
        if let Some(key) = &idempotency_key {
            validate::key("idempotency key", key)?;
            config
                .metadata
                .get_or_insert_with(Default::default)
                .insert(LAUNCH_ID_METADATA_KEY.to_string(), key.clone());
        }
        let body = types::CreateMachineRequest {
            config: Some(config),
            name,
            region,
            lease_ttl: lease_ttl.map(i64::from),
            skip_launch,
            skip_service_registration,
            ..Default::default()
        };
        let Some(key) = idempotency_key else {
            let r = self
                .app
                .client
                .call(OperationId::MachinesCreate, |raw| {
                    raw.machines_create(&self.app.name, &body)
                })
                .await?;
            return Ok(r.into_inner());
        };
        let grace = visibility_grace.unwrap_or(DEFAULT_VISIBILITY_GRACE);
        let mut last_error = None;
        for _ in 0..CREATE_ATTEMPTS {
            let result = self
                .app
                .client
                .call(OperationId::MachinesCreate, |raw| {
                    raw.machines_create(&self.app.name, &body)
                })
                .await;
            match result {
                Ok(r) => return Ok(r.into_inner()),
                Err(e) if is_ambiguous(&e) => last_error = Some(e),
                Err(e) => return Err(e),
            }
            if let Some(found) = self.look_for_launch(&key, grace).await? {
                tracing::info!(
                    machine_id = found.id.as_deref(),
                    "an ambiguous create had succeeded; using the machine it made"
                );
                return Ok(found);
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Config("create failed".into())))
    }

    /// Looks for the machine a create tagged with `key`, again and again for `grace` (the
    /// machine may not be visible yet), before concluding it was never made.
    async fn look_for_launch(&self, key: &str, grace: Duration) -> Result<Option<types::Machine>> {
        let clock = self.app.client.clock().clone();
        let deadline = crate::clock::later(clock.now(), grace);
        loop {
            if let Some(found) = self.find_by_launch_id(key).await? {
                return Ok(Some(found));
            }
            let now = clock.now();
            if now >= deadline {
                return Ok(None);
            }
            clock.sleep(LOOKUP_INTERVAL.min(deadline - now)).await;
        }
    }

    /// The machine tagged with a create's idempotency key, if one is visible now.
    pub async fn find_by_launch_id(&self, key: &str) -> Result<Option<types::Machine>> {
        let filter = ListMachines::builder()
            .metadata(BTreeMap::from([(
                LAUNCH_ID_METADATA_KEY.to_string(),
                key.to_string(),
            )]))
            .include_deleted(false)
            .build();
        let found = self.list(filter).await?;
        // Filter again locally: a server that ignores the filter must not make us pick a stranger.
        Ok(found.into_iter().find(|m| {
            m.config
                .as_ref()
                .and_then(|c| c.metadata.as_ref())
                .and_then(|md| md.get(LAUNCH_ID_METADATA_KEY))
                .is_some_and(|v| v == key)
        }))
    }
}

/// A create whose outcome is unknown: the request may have reached Fly.
fn is_ambiguous(e: &Error) -> bool {
    match e {
        Error::Transport { source, .. } => !source.is_connect(),
        other => matches!(other.status(), Some(408 | 500 | 502 | 503 | 504)),
    }
}

/// Rejects configs Fly would refuse, before sending them.
fn validate_config(config: &types::MachineConfig) -> Result<()> {
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
    Ok(())
}

/// One machine of an app. Made by [`App::machine`]; carries a lease nonce when made by a
/// lease guard, and then every mutation sends it. `Debug` leaves the nonce out.
#[derive(Clone)]
pub struct Machine {
    pub(crate) app: App,
    pub(crate) id: String,
    pub(crate) lease_nonce: Option<String>,
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

impl Machine {
    pub(crate) fn new(app: App, id: String) -> Machine {
        Machine {
            app,
            id,
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
            lease_nonce: Some(nonce.into()),
            ..self.clone()
        }
    }

    /// The lease nonce this handle sends, if any.
    pub fn lease_nonce(&self) -> Option<&str> {
        self.lease_nonce.as_deref()
    }

    fn check(&self) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::resource_id("machine id", &self.id)?;
        self.lease_nonce
            .as_deref()
            .map_or(Ok(()), validate::lease_nonce)
    }

    /// Fetches the machine.
    pub async fn get(&self) -> Result<types::Machine> {
        self.check()?;
        let r = self
            .app
            .client
            .call(OperationId::MachinesShow, |raw| {
                raw.machines_show(&self.app.name, &self.id, None)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Replaces the machine's config (a new version); `request.config` must be complete.
    pub async fn update(&self, request: types::UpdateMachineRequest) -> Result<types::Machine> {
        self.check()?;
        if let Some(config) = &request.config {
            validate_config(config)?;
        }
        let r = self
            .app
            .client
            .call(OperationId::MachinesUpdate, |raw| {
                raw.machines_update(
                    &self.app.name,
                    &self.id,
                    self.lease_nonce.as_deref(),
                    &request,
                )
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Updates the machine to `config`.
    pub async fn update_config(&self, config: types::MachineConfig) -> Result<types::Machine> {
        self.update(types::UpdateMachineRequest {
            config: Some(config),
            ..Default::default()
        })
        .await
    }

    /// Starts a stopped, suspended or created machine (412 from any other state).
    pub async fn start(&self) -> Result<types::StartMachineResponse> {
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

    /// Stops the machine with its configured signal and timeout.
    pub async fn stop(&self) -> Result<()> {
        self.stop_with(types::StopRequest::default()).await
    }

    /// Stops the machine with a given signal and timeout (a Go duration such as `"30s"`).
    pub async fn stop_with(&self, request: types::StopRequest) -> Result<()> {
        self.check()?;
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
    pub async fn suspend(&self) -> Result<()> {
        self.check()?;
        self.app
            .client
            .call(OperationId::MachinesSuspend, |raw| {
                raw.machines_suspend(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
    }

    /// Restarts the machine; `timeout` is a Go duration for the stop part.
    pub async fn restart(
        &self,
        signal: Option<types::MachinesRestartSignal>,
        timeout: Option<&str>,
    ) -> Result<()> {
        self.check()?;
        self.app
            .client
            .call(OperationId::MachinesRestart, |raw| {
                raw.machines_restart(
                    &self.app.name,
                    &self.id,
                    signal,
                    timeout,
                    self.lease_nonce.as_deref(),
                )
            })
            .await?;
        Ok(())
    }

    /// Sends a signal to the machine's main process.
    pub async fn signal(&self, signal: types::SignalRequestSignal) -> Result<()> {
        self.check()?;
        let body = types::SignalRequest {
            signal: Some(signal),
        };
        self.app
            .client
            .call(OperationId::MachinesSignal, |raw| {
                raw.machines_signal(&self.app.name, &self.id, self.lease_nonce.as_deref(), &body)
            })
            .await?;
        Ok(())
    }

    /// Destroys the machine; `force` kills a running one.
    pub async fn delete(&self, force: bool) -> Result<()> {
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

    /// Stops the proxy from routing new requests to the machine.
    pub async fn cordon(&self) -> Result<()> {
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
    pub async fn uncordon(&self) -> Result<()> {
        self.check()?;
        self.app
            .client
            .call(OperationId::MachinesUncordon, |raw| {
                raw.machines_uncordon(&self.app.name, &self.id, self.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
    }

    /// The machine's events, newest first; `limit` caps how many.
    pub async fn events(&self, limit: Option<u32>) -> Result<Vec<types::MachineEvent>> {
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
    pub async fn versions(&self) -> Result<Vec<types::MachineVersion>> {
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

    /// Processes running in the machine, sorted by `sort_by` (e.g. `cpu`) in `order` (`asc`/`desc`).
    pub async fn processes(
        &self,
        sort_by: Option<&str>,
        order: Option<&str>,
    ) -> Result<Vec<types::ProcessStat>> {
        self.check()?;
        let r = self
            .app
            .client
            .call(OperationId::MachinesListProcesses, |raw| {
                raw.machines_list_processes(&self.app.name, &self.id, order, sort_by)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Runs a command in the machine and returns its output; `timeout` in seconds.
    pub async fn exec(
        &self,
        command: &[&str],
        timeout: Option<u32>,
    ) -> Result<types::ExecResponse> {
        self.exec_with(types::MachineExecRequest {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            timeout: timeout.map(i64::from),
            ..Default::default()
        })
        .await
    }

    /// Runs a command described by a full request (container, stdin...).
    pub async fn exec_with(
        &self,
        request: types::MachineExecRequest,
    ) -> Result<types::ExecResponse> {
        self.check()?;
        if request.command.as_ref().is_none_or(|c| c.is_empty())
            && request.cmd.as_deref().is_none_or(str::is_empty)
        {
            return Err(Error::invalid_input(
                "exec command",
                "",
                "at least one word",
            ));
        }
        let r = self
            .app
            .client
            .call(OperationId::MachinesExec, |raw| {
                raw.machines_exec(
                    &self.app.name,
                    &self.id,
                    self.lease_nonce.as_deref(),
                    &request,
                )
            })
            .await?;
        Ok(r.into_inner())
    }

    /// The machine's memory: limit and what is available.
    pub async fn memory(&self) -> Result<types::MemoryResponse> {
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
    pub async fn set_memory_limit(&self, limit_mb: u32) -> Result<types::MemoryResponse> {
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
    pub async fn reclaim_memory(&self, amount_mb: u32) -> Result<types::ReclaimMemoryResponse> {
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

    /// The machine's metadata.
    pub fn metadata(&self) -> Metadata<'_> {
        Metadata { machine: self }
    }
}

/// A machine's metadata (string keys and values).
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a> {
    machine: &'a Machine,
}

impl Metadata<'_> {
    /// All keys and values.
    pub async fn all(&self) -> Result<BTreeMap<String, String>> {
        let m = self.machine;
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

    /// One value; `Ok(None)` when the key is not set.
    pub async fn get(&self, key: &str) -> Result<Option<String>> {
        let m = self.machine;
        m.check()?;
        validate::key("metadata key", key)?;
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

    /// Sets one key.
    pub async fn set(&self, key: &str, value: &str) -> Result<()> {
        let m = self.machine;
        m.check()?;
        validate::key("metadata key", key)?;
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

    /// Removes one key.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let m = self.machine;
        m.check()?;
        validate::key("metadata key", key)?;
        m.app
            .client
            .call(OperationId::MachinesDeleteMetadata, |raw| {
                raw.machines_delete_metadata(&m.app.name, &m.id, key, m.lease_nonce.as_deref())
            })
            .await?;
        Ok(())
    }

    /// Replaces all metadata (PUT). `request.machine_version`/`updated_at` make it conditional.
    pub async fn replace(&self, request: types::UpdateMetadataRequest) -> Result<()> {
        let m = self.machine;
        m.check()?;
        m.app
            .client
            .call(OperationId::MachinesUpdateMetadata, |raw| {
                raw.machines_update_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
            })
            .await?;
        Ok(())
    }

    /// Merges keys into the metadata (PATCH).
    pub async fn merge(&self, request: types::UpdateMetadataRequest) -> Result<()> {
        let m = self.machine;
        m.check()?;
        m.app
            .client
            .call(OperationId::MachinesPatchMetadata, |raw| {
                raw.machines_patch_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
            })
            .await?;
        Ok(())
    }
}
