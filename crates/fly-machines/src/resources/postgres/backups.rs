//! Backups: list, and start one on demand.

use fly_machines_api::OperationId;

use super::clusters::wire;
use super::{BackupKind, Cluster};
use crate::context::CallContext;
use crate::{Result, types};

/// A cluster's backups. Made by [`Cluster::backups`].
#[derive(Debug, Clone)]
pub struct Backups {
    pub(crate) cluster: Cluster,
}

impl Backups {
    /// Lists the backups; their ids are what [`Cluster::restore`] takes.
    pub fn list(
        &self,
    ) -> impl Future<Output = Result<Vec<types::PostgresBackup>>> + Send + 'static {
        super::envelope::cluster_list!(
            self,
            OperationId::PostgresBackupsList,
            postgres_backups_list
        )
    }
}

#[bon::bon]
impl Backups {
    /// Starts a backup (Fly accepts at once and runs it in the background):
    /// `cluster.backups().create(BackupKind::Full).await`.
    pub fn create(&self, kind: impl Into<BackupKind>) -> BackupsCreateBuilder {
        self.clone().create_builder(kind)
    }

    #[builder(
        builder_type(name = BackupsCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_create(
        self,
        #[builder(start_fn, into)] kind: BackupKind,
        /// Retry after a timeout or 5xx even though that may start two backups.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<()> {
        self.cluster.check()?;
        let body = types::CreatePostgresBackupRequest {
            type_: wire("backup kind", kind.as_str(), "full, incr or diff")?,
        };
        self.cluster
            .client
            .call_with(
                OperationId::PostgresBackupsCreate,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.postgres_backups_create(&self.cluster.id, &body),
            )
            .await?;
        Ok(())
    }
}
