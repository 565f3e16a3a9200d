//! Rolling changes in one call: read the config, edit it, write it back, under a lease that is
//! taken, refreshed and released for you.

use std::time::Duration;

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
    /// A handle that already carries a lease nonce (from [`LeaseGuard::machine`]) uses that
    /// lease; otherwise one is taken and released afterwards, whatever the outcome. The answer
    /// carries the new version, so `.wait_started(d)` on it waits for that version.
    ///
    /// The update is sent with the version that was read (`current_version`), so a change made
    /// by anyone in between (a writer that ignores leases, or a lease that lapsed) is refused
    /// with a 409 that answers [`Error::is_version_conflict`], never silently overwritten.
    ///
    /// [`LeaseGuard::machine`]: crate::LeaseGuard::machine
    #[builder(finish_fn = send, derive(IntoFuture(Box)), on(String, into))]
    pub async fn modify_config<F>(
        &self,
        #[builder(start_fn)] edit: F,
        /// The lease's time to live (default 30 s; refreshed while the change runs).
        lease_ttl: Option<Duration>,
        /// Why the lease is held, shown to others who find the machine leased.
        lease_description: Option<String>,
    ) -> Result<MachineSnapshot>
    where
        F: FnOnce(&mut types::MachineConfig) + Send + 'static,
    {
        if self.lease_nonce.is_some() {
            return self.read_edit_write(edit).await;
        }
        let lease = self
            .lease(lease_ttl.unwrap_or(DEFAULT_LEASE_TTL))
            .maybe_description(lease_description)
            .send()
            .await?;
        let outcome = lease.machine().read_edit_write(edit).await;
        let released = lease.release().await;
        let updated = outcome?;
        if let Err(e) = released {
            tracing::warn!(machine_id = %self.id, error = %e, "the config changed but the lease was not released; it will expire");
        }
        Ok(updated.with_nonce(None))
    }

    /// Sets the machine's image, keeping the rest of its config, under a lease (see
    /// [`modify_config`](Self::modify_config)).
    #[builder(finish_fn = send, derive(IntoFuture(Box)), on(String, into))]
    pub async fn update_image(
        &self,
        #[builder(start_fn)] image: String,
        /// The lease's time to live (default 30 s).
        lease_ttl: Option<Duration>,
        /// Why the lease is held.
        lease_description: Option<String>,
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
            .send()
            .await
    }

    async fn read_edit_write(
        &self,
        edit: impl FnOnce(&mut types::MachineConfig) + Send,
    ) -> Result<MachineSnapshot> {
        let current = self.get().send().await?;
        let read_version = current.version().map(str::to_string);
        let Some(mut config) = current.into_data().config else {
            return Err(Error::Decode {
                operation: "Machines_show",
                status: 200,
                message: "the machine answer carries no config to edit".into(),
                body: String::new(),
            });
        };
        edit(&mut config);
        self.update_config(config)
            .maybe_if_version(read_version)
            .send()
            .await
    }
}
