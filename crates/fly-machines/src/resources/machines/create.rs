//! Creating machines, duplicate-free when the caller gives a key.

use fly_machines_api::OperationId;
use std::time::Duration;

use super::{LAUNCH_ID_METADATA_KEY, Machines, validate_config};
use crate::context::CallContext;
use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::{Ensured, MachineState, Result, types, units, validate};

#[bon::bon]
impl Machines {
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
    /// - after an ambiguous failure ([`Error::is_ambiguous`](crate::Error::is_ambiguous)) it looks for the machine, for up
    ///   to `visibility_grace`, and sends the create again only then: if the first did take
    ///   effect, the name makes the repeat fail instead of making a second machine, and the
    ///   machine is looked for again.
    ///
    /// A create that took effect but whose answer cannot be decoded is
    /// [`Error::CreatedUnreadable`](crate::Error::CreatedUnreadable), never sent again. [`ensure`](Self::ensure) is the same with
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
                    .call_boxed(
                        OperationId::MachinesCreate,
                        CallContext::retrying_unsafe(retry_unsafe),
                        |raw| raw.machines_create(&self.app.name, &body),
                    )
                    .await
                    .map_err(|e| e.into_created(None))?;
                Ok(MachineSnapshot::boxed(&self.app, created))
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
                .call_boxed(
                    OperationId::MachinesCreate,
                    CallContext::retrying_unsafe(true),
                    |raw| raw.machines_create(&self.app.name, body),
                )
                .await
                .map_err(|e| e.into_created(Some(key)))?;
            Ok(MachineSnapshot::boxed(&self.app, made))
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
