//! Managed Postgres: clusters, and inside each its users, databases, extensions, backups,
//! attachments and query statistics.
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::resources::postgres::{PostgresPlan, PostgresRole};
//!
//! let created = client
//!     .postgres()
//!     .clusters()
//!     .create("orders-db")
//!     .org("my-org")
//!     .region("iad")
//!     .plan(PostgresPlan::Basic)
//!     .await?;
//! let cluster = client.postgres().cluster(created.id());
//! cluster.wait_ready(Duration::from_secs(900)).await?; // provisioning takes minutes
//! cluster.databases().create("orders").await?;
//! let user = cluster.users().create("orders_app").role(PostgresRole::Writer).await?;
//! let credentials = cluster.user(user.username()).credentials().await?;
//! cluster.attach("orders-web").await?;
//! # let _ = credentials;
//! # Ok(()) }
//! ```
//!
//! Fly wraps every Postgres answer in `{"data": ...}`; these handles hand back what is inside.
//! Reads (and deletes, role changes and attachments, which Fly treats as safe to repeat) are
//! retried after a 5xx, honouring `Retry-After`; creates, forks, restores, backups and password
//! rotations are not, unless asked with `.retry_unsafe()`.

mod backups;
mod clusters;
mod databases;
mod envelope;
mod time;
mod users;
mod wait;

pub use backups::Backups;
pub use clusters::{Cluster, Clusters, RestorePoint};
pub use databases::{Database, Databases, Extension, Extensions};
pub use fly_machines_api::types::CreatePostgresClusterRequestPoolMode as PoolMode;
pub use fly_machines_api::{BackupKind, ClusterStatus, PostgresPlan, PostgresRole};
pub use users::{User, Users};
pub use wait::ClusterWaitError;

use crate::Client;
use std::sync::Arc;

impl Client {
    /// Managed Postgres clusters.
    pub fn postgres(&self) -> Postgres {
        Postgres {
            client: self.clone(),
        }
    }
}

/// The way to Managed Postgres: `client.postgres().clusters()` and `.cluster(id)`.
#[derive(Debug, Clone)]
pub struct Postgres {
    client: Client,
}

impl Postgres {
    /// Listing and creating clusters.
    pub fn clusters(&self) -> Clusters {
        Clusters {
            client: self.client.clone(),
        }
    }

    /// One cluster by id.
    pub fn cluster(&self, id: impl Into<String>) -> Cluster {
        Cluster {
            client: self.client.clone(),
            id: Arc::from(id.into()),
        }
    }
}
