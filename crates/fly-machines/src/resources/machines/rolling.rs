//! Rolling changes in one call: read the config, edit it, write it back, under a lease that is
//! taken, refreshed and released for you.

use std::time::Duration;

use fly_machines_api::OperationId;

use crate::resources::machine_snapshot::MachineSnapshot;
use crate::resources::machines::Machine;
use crate::{Error, Result, types};

/// How long the lease of a config change lasts unless set (refreshed in the background).
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

#[bon::bon]
impl Machine {
    /// Edits the machine's current config and applies it as a new version, holding the lease
    /// for the whole read-edit-write so nobody else changes the machine in between:
    /// `machine.modify_config(|c| { c.image = Some("app:v2".into()); }).await?`.
    ///
    /// The lease: a handle that already carries a nonce (from [`LeaseGuard::machine`]) uses
    /// that lease and never releases it. Otherwise one is taken and refreshed while the change
    /// runs, and released:
    /// - as soon as the update has been answered (or has failed), so **before the new version
    ///   has started**, by default;
    /// - with `.wait_healthy(d)`, only once the new version is healthy (started, every declared
    ///   check passing; see [`Machine::wait_healthy`]) or that wait has failed, so nobody else
    ///   changes the machine while it comes up.
    ///
    /// A lost answer to the update is checked, not guessed: under the lease only this call can
    /// change the machine, so the machine is read again, and the update counts as applied when
    /// the version moved; otherwise it is sent again (as many times in all as the client's retry
    /// policy gives a call). The answer carries
    /// the new version, so `.wait_started(d)` on it waits for that version.
    ///
    /// The update is sent with the version that was read (`current_version`), so a change made
    /// by anyone in between (a writer that ignores leases, or a lease that lapsed) is refused
    /// with a 409 that answers [`Error::is_version_conflict`], never silently overwritten.
    ///
    /// [`LeaseGuard::machine`]: crate::LeaseGuard::machine
    pub fn modify_config<F>(&self, edit: F) -> MachineModifyConfigBuilder<F>
    where
        F: FnOnce(&mut types::MachineConfig) + Send + 'static,
    {
        self.clone().modify_config_builder(edit)
    }

    #[builder(
        builder_type(name = MachineModifyConfigBuilder, vis = "pub"),
        start_fn(name = modify_config_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_modify_config<F>(
        self,
        #[builder(start_fn)] edit: F,
        /// The lease's time to live (default 30 s; refreshed while the change runs).
        lease_ttl: Option<Duration>,
        /// Why the lease is held, shown to others who find the machine leased.
        lease_description: Option<String>,
        /// Hold the lease until the new version is healthy, waiting at most this long; the
        /// call fails when it does not become healthy in time.
        wait_healthy: Option<Duration>,
    ) -> Result<MachineSnapshot>
    where
        F: FnOnce(&mut types::MachineConfig) + Send + 'static,
    {
        if self.lease_nonce.is_some() {
            let updated = self.read_edit_write(edit).await?;
            return match wait_healthy {
                Some(d) => updated.wait_healthy(d).await,
                None => Ok(updated),
            };
        }
        let lease = self
            .lease(lease_ttl.unwrap_or(DEFAULT_LEASE_TTL))
            .maybe_description(lease_description)
            .send()
            .await?;
        let mut outcome = lease.machine().read_edit_write(edit).await;
        if let (Ok(updated), Some(d)) = (&outcome, wait_healthy) {
            outcome = updated.wait_healthy(d).await;
        }
        let released = lease.release().await;
        let updated = outcome?;
        if let Err(e) = released {
            tracing::warn!(machine_id = %self.id, error = %e, "the config changed but the lease was not released; it will expire");
        }
        Ok(updated.with_nonce(None))
    }

    /// Sets the machine's image, keeping the rest of its config, under a lease (see
    /// [`modify_config`](Self::modify_config), which says when the lease ends):
    /// `machine.update_image("registry.fly.io/app:v2").wait_healthy(d).await?`.
    pub fn update_image(&self, image: impl Into<String>) -> MachineUpdateImageBuilder {
        self.clone().update_image_builder(image)
    }

    #[builder(
        builder_type(name = MachineUpdateImageBuilder, vis = "pub"),
        start_fn(name = update_image_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_update_image(
        self,
        #[builder(start_fn)] image: String,
        /// The lease's time to live (default 30 s).
        lease_ttl: Option<Duration>,
        /// Why the lease is held.
        lease_description: Option<String>,
        /// Hold the lease until the new version is healthy, waiting at most this long.
        wait_healthy: Option<Duration>,
    ) -> Result<MachineSnapshot> {
        if image.is_empty() {
            return Err(Error::invalid_input(
                "image",
                &image,
                "an image reference such as `registry.fly.io/app:tag`",
            ));
        }
        self.modify_config(move |config| config.image = Some(image))
            .maybe_lease_ttl(lease_ttl)
            .maybe_lease_description(lease_description)
            .maybe_wait_healthy(wait_healthy)
            .send()
            .await
    }

    /// Reads the config, edits it and writes it back; runs under a lease this handle carries.
    async fn read_edit_write(
        &self,
        edit: impl FnOnce(&mut types::MachineConfig) + Send,
    ) -> Result<MachineSnapshot> {
        let current = self.get().send().await?;
        let read_version = current.version().map(str::to_string);
        let Some(mut config) = current.into_data().config else {
            return Err(Error::decode(
                OperationId::MachinesShow,
                200,
                "the machine answer carries no config to edit",
                "",
            ));
        };
        edit(&mut config);
        let request = types::UpdateMachineRequest {
            config: Some(config),
            ..Default::default()
        };
        let mut last_error = None;
        for _ in 0..self.app.client.max_attempts() {
            // Only while the machine is at the version read: nobody else changed it in between.
            let sent = self
                .update(request.clone())
                .maybe_if_version(read_version.clone())
                .send()
                .await;
            let error = match sent {
                Ok(updated) => return Ok(updated),
                Err(e) if e.is_ambiguous() => e,
                Err(e) => return Err(e),
            };
            // Under the lease only this call changes the machine: a new version is ours.
            let now = self.get().send().await?;
            if now.version().is_some() && now.version() != read_version.as_deref() {
                tracing::info!(machine_id = %self.id, "an update whose answer was lost had been applied");
                return Ok(now.with_nonce(self.lease_nonce.clone()));
            }
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| Error::config("update failed")))
    }
}
