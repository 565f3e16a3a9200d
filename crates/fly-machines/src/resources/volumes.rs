//! Volumes and their snapshots.

use std::sync::Arc;
use std::time::Duration;

use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::paging::{self, Paged};
use crate::resources::apps::App;
use crate::{Ensured, Result, types, validate};
use fly_machines_api::OperationId;

/// The volumes of an app.
#[derive(Debug, Clone)]
pub struct Volumes {
    pub(crate) app: App,
}

/// Fly's largest volume page.
const MAX_VOLUME_PAGE: u32 = 1000;

crate::paging::read_all_pages!(
    VolumesListBuilder,
    volumes_list_builder,
    types::Volume,
    "volumes"
);

#[bon::bon]
impl Volumes {
    /// Lists the app's volumes, following Fly's cursors: `app.volumes().list().await` for a
    /// `Vec`, or `.page_size(500).stream()` for a [`Stream`](futures::Stream).
    ///
    /// As for machines, the page size (1 to 1,000) is a hint and only an answer without a
    /// `fly-next-cursor` header ends the listing.
    pub fn list(&self) -> VolumesListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = VolumesListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = stream,
    )]
    fn run_list(
        self,
        /// Leave out details.
        #[builder(default, with = || true)]
        summary: bool,
        /// Volumes asked for per page (1 to 1,000; Fly may send fewer).
        page_size: Option<u32>,
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> Paged<types::Volume> {
        let checked = validate::app_name(&self.app.name)
            .and_then(|()| paging::page_limit("volume page size", page_size, MAX_VOLUME_PAGE));
        let limit = match checked {
            Ok(limit) => limit,
            Err(e) => return paging::failed(e),
        };
        let app = self.app.clone();
        let summary = summary.then_some(true);
        Paged::new(paging::paginate(
            OperationId::VolumesList,
            max_pages,
            move |page: paging::PageRequest| {
                let app = app.clone();
                async move {
                    let r = app
                        .client
                        .call(OperationId::VolumesList, |raw| {
                            raw.volumes_list(&app.name, page.cursor.as_deref(), limit, summary)
                        })
                        .await?;
                    let next = paging::header_cursor(r.headers());
                    Ok(paging::Page {
                        items: r.into_inner(),
                        next,
                    })
                }
            },
        ))
    }

    /// Creates a volume: `app.volumes().create("data", "iad", 10).await` (size in GB).
    pub fn create(
        &self,
        name: impl Into<String>,
        region: impl Into<String>,
        size_gb: u32,
    ) -> VolumesCreateBuilder {
        self.clone().create_builder(name, region, size_gb)
    }

    #[builder(
        builder_type(name = VolumesCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] name: String,
        #[builder(start_fn)] region: String,
        #[builder(start_fn)] size_gb: u32,
        /// Restore from this snapshot.
        snapshot_id: Option<String>,
        /// Fork this existing volume.
        source_volume_id: Option<String>,
        /// Encrypt at rest (the default on Fly).
        encrypted: Option<bool>,
        /// Place on a host no other volume of this name uses.
        require_unique_zone: Option<bool>,
        /// Retry after a timeout or 5xx even though that may make two volumes.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
        /// Days of daily snapshots to keep.
        snapshot_retention: Option<u32>,
        /// Take daily snapshots.
        auto_backup_enabled: Option<bool>,
        /// The guest the volume will be attached to, so placement can fit both.
        compute: Option<types::MachineGuest>,
    ) -> Result<types::Volume> {
        validate::app_name(&self.app.name)?;
        validate::key("volume name", &name)?;
        validate::key("region", &region)?;
        let body = types::CreateVolumeRequest {
            name: Some(name),
            region: Some(region),
            size_gb: Some(i64::from(size_gb)),
            snapshot_id,
            source_volume_id,
            encrypted,
            require_unique_zone,
            snapshot_retention: snapshot_retention.map(i64::from),
            auto_backup_enabled,
            compute,
            ..Default::default()
        };
        let r = self
            .app
            .client
            .call_with(
                OperationId::VolumesCreate,
                crate::context::CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.volumes_create(&self.app.name, &body),
            )
            .await
            .map_err(|e| e.into_created(None))?;
        Ok(r.into_inner())
    }

    /// Makes sure the app has a volume named `name` in `region`, creating one of `size_gb` GB
    /// only when there is none: `app.volumes().ensure("data", "iad", 10).await?`.
    ///
    /// It lists first, and after an ambiguous failure of the create (the answer was lost, a
    /// timeout, a 5xx) it lists again, for up to `visibility_grace` (default 10 s), before
    /// creating again; Fly's volume list shows a new volume at once, so a volume not listed by
    /// then was not made. Volumes being destroyed do not count. Fly does not keep volume names
    /// unique, so when two processes create the volume at once, each keeps the oldest of that
    /// name and region and destroys the one it made if that is not it: they end with one
    /// volume. When several volumes already share the name and region, the first listed is
    /// returned. [`Ensured::was_created`] says whether
    /// this call made it.
    pub fn ensure(
        &self,
        name: impl Into<String>,
        region: impl Into<String>,
        size_gb: u32,
    ) -> VolumesEnsureBuilder {
        self.clone().ensure_builder(name, region, size_gb)
    }

    #[builder(
        builder_type(name = VolumesEnsureBuilder, vis = "pub"),
        start_fn(name = ensure_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_ensure(
        self,
        #[builder(start_fn)] name: String,
        #[builder(start_fn)] region: String,
        #[builder(start_fn)] size_gb: u32,
        /// Encrypt at rest (the default on Fly).
        encrypted: Option<bool>,
        /// The guest the volume will be attached to, so placement can fit both.
        compute: Option<types::MachineGuest>,
        /// How long to keep looking for the volume after an ambiguous failure.
        visibility_grace: Option<Duration>,
    ) -> Result<Ensured<types::Volume>> {
        validate::app_name(&self.app.name)?;
        validate::key("volume name", &name)?;
        validate::key("region", &region)?;
        let plan = Plan {
            clock: self.app.client.clock(),
            grace: visibility_grace.unwrap_or(DEFAULT_GRACE),
            unique_name: false,
            attempts: self.app.client.max_attempts(),
        };
        let (this, name, region, compute) = (&self, &name, &region, &compute);
        let find = || async move {
            Ok(this
                .list()
                .send()
                .await?
                .into_iter()
                .find(|v| v.name() == name && v.region() == region && !v.state().is_gone()))
        };
        let create = || {
            this.create(name.clone(), region.clone(), size_gb)
                .maybe_encrypted(encrypted)
                .maybe_compute(compute.clone())
        };
        let ensured = find_or_create(plan, find, create).await?;
        if ensured.was_found() {
            return Ok(ensured);
        }
        // Fly does not keep volume names unique, so two processes ensuring the same volume at
        // once can both create one. Each then keeps the oldest of the name and region (the
        // same one for both) and destroys its own if it is not that one.
        let mut same: Vec<types::Volume> = self
            .list()
            .send()
            .await?
            .into_iter()
            .filter(|v| v.name() == name && v.region() == region && !v.state().is_gone())
            .collect();
        same.sort_by(|a, b| (&a.created_at, a.id()).cmp(&(&b.created_at, b.id())));
        match same.into_iter().next() {
            Some(oldest) if oldest.id() != ensured.id() => {
                tracing::info!(
                    volume_id = ensured.id(),
                    kept = oldest.id(),
                    "another process made the same volume at once; destroying ours"
                );
                let ours = Volume {
                    app: self.app.clone(),
                    id: ensured.id().into(),
                };
                ours.ensure_absent().await?;
                Ok(Ensured::found(oldest))
            }
            _ => Ok(ensured),
        }
    }
}

/// One volume.
#[derive(Debug, Clone)]
pub struct Volume {
    pub(crate) app: App,
    pub(crate) id: Arc<str>,
}

#[bon::bon]
impl Volume {
    /// The volume id (`vol_...`).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn check(&self) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::resource_id("volume id", &self.id)
    }

    /// Fetches the volume.
    pub fn get(&self) -> VolumeGetBuilder {
        self.clone().get_builder()
    }

    #[builder(
        builder_type(name = VolumeGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_get(self) -> Result<types::Volume> {
        self.check()?;
        answer!(self.app.client, OperationId::VolumesGetById, |raw| {
            raw.volumes_get_by_id(&self.app.name, &self.id)
        })
    }

    /// Changes backup settings: `volume.update().auto_backup(true).snapshot_retention_days(14).await`.
    pub fn update(&self) -> VolumeUpdateBuilder {
        self.clone().update_builder()
    }

    #[builder(
        builder_type(name = VolumeUpdateBuilder, vis = "pub"),
        start_fn(name = update_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_update(
        self,
        /// Daily automatic snapshots on or off.
        auto_backup: Option<bool>,
        /// How many days snapshots are kept.
        snapshot_retention_days: Option<u32>,
    ) -> Result<types::Volume> {
        self.check()?;
        let request = types::UpdateVolumeRequest {
            auto_backup_enabled: auto_backup,
            snapshot_retention: snapshot_retention_days.map(i64::from),
        };
        answer!(self.app.client, OperationId::VolumesUpdate, |raw| {
            raw.volumes_update(&self.app.name, &self.id, &request)
        })
    }

    /// Grows the volume to `size_gb` (volumes never shrink).
    pub fn extend(&self, size_gb: u32) -> VolumeExtendBuilder {
        self.clone().extend_builder(size_gb)
    }

    #[builder(
        builder_type(name = VolumeExtendBuilder, vis = "pub"),
        start_fn(name = extend_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_extend(
        self,
        #[builder(start_fn)] size_gb: u32,
    ) -> Result<types::ExtendVolumeResponse> {
        self.check()?;
        let body = types::ExtendVolumeRequest {
            size_gb: Some(i64::from(size_gb)),
        };
        answer!(self.app.client, OperationId::VolumesExtend, |raw| {
            raw.volumes_extend(&self.app.name, &self.id, &body)
        })
    }

    /// Destroys the volume.
    pub fn delete(&self) -> VolumeDeleteBuilder {
        self.clone().delete_builder()
    }

    #[builder(
        builder_type(name = VolumeDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_delete(self) -> Result<types::Volume> {
        self.check()?;
        answer!(self.app.client, OperationId::VolumeDelete, |raw| {
            raw.volume_delete(&self.app.name, &self.id)
        })
    }

    /// Destroys the volume unless it is already gone: `Ok(false)` when there was no volume to
    /// destroy (404, or a volume already destroyed), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move {
            match this.get().send().await {
                Ok(v) if v.state().is_gone() => return Ok(false),
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(false),
                Err(e) => return Err(e),
            }
            crate::ensured::absent_ok(this.delete().send().await)
        }
    }

    /// The volume's snapshots.
    pub fn snapshots(&self) -> VolumeSnapshotsBuilder {
        self.clone().snapshots_builder()
    }

    #[builder(
        builder_type(name = VolumeSnapshotsBuilder, vis = "pub"),
        start_fn(name = snapshots_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_snapshots(self) -> Result<Vec<types::VolumeSnapshot>> {
        self.check()?;
        answer!(self.app.client, OperationId::VolumesListSnapshots, |raw| {
            raw.volumes_list_snapshots(&self.app.name, &self.id)
        })
    }

    /// Starts an on-demand snapshot.
    pub fn create_snapshot(&self) -> VolumeCreateSnapshotBuilder {
        self.clone().create_snapshot_builder()
    }

    #[builder(
        builder_type(name = VolumeCreateSnapshotBuilder, vis = "pub"),
        start_fn(name = create_snapshot_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_create_snapshot(self) -> Result<()> {
        self.check()?;
        answer!(self.app.client, OperationId::CreateVolumeSnapshot, |raw| {
            raw.create_volume_snapshot(&self.app.name, &self.id)
        })?;
        Ok(())
    }
}
