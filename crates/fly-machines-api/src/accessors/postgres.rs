//! Accessors for the Managed Postgres types: clusters, users, databases, extensions, backups,
//! attachments and query statistics.

use std::time::Duration;

use super::open_enum::open_enum;
use crate::types::{
    PostgresActiveQuery, PostgresAttachment, PostgresBackup, PostgresCluster,
    PostgresClusterSummary, PostgresDatabase, PostgresEndpoint, PostgresExtension,
    PostgresSlowQuery, PostgresUser, PostgresUserCredentials,
};

open_enum! {
    /// Where a Postgres cluster is in its life. Only `Ready` takes databases, users,
    /// extensions and credentials.
    ClusterStatus {
        /// Being provisioned.
        Creating => "creating",
        /// Provisioned, Postgres starting up.
        Initializing => "initializing",
        /// Serving.
        Ready => "ready",
        /// Being removed.
        Deleting => "deleting",
        /// Removed (listed only when deleted clusters are asked for).
        Deleted => "deleted",
        /// Provisioning failed.
        Failed => "failed",
    }
}

impl ClusterStatus {
    /// Whether the cluster will not become ready by waiting: failed, deleting or deleted.
    pub fn is_dead_end(&self) -> bool {
        matches!(
            self,
            ClusterStatus::Failed | ClusterStatus::Deleting | ClusterStatus::Deleted
        )
    }
}

open_enum! {
    /// A Managed Postgres plan: CPU, memory and disk sizing.
    PostgresPlan {
        /// The smallest plan.
        Basic => "basic",
        /// Small production databases.
        Starter => "starter",
        /// Medium databases.
        Launch => "launch",
        /// Large databases.
        Scale => "scale",
        /// Dedicated CPUs (Fly spells it with a capital P).
        Performance => "Performance",
    }
}

open_enum! {
    /// What a Postgres user may do.
    PostgresRole {
        /// Owns schemas: may create and alter tables.
        SchemaAdmin => "schema_admin",
        /// Reads and writes data.
        Writer => "writer",
        /// Reads data only.
        Reader => "reader",
    }
}

open_enum! {
    /// How much a backup holds.
    BackupKind {
        /// Everything.
        Full => "full",
        /// Changes since the previous backup of any kind.
        Incremental => "incr",
        /// Changes since the last full backup.
        Differential => "diff",
    }
}

/// A non-negative integer from the wire; `None` when absent or negative.
fn unsigned(value: Option<i64>) -> Option<u64> {
    value.and_then(|v| u64::try_from(v).ok())
}

/// Seconds as a float from the wire as a [`Duration`]; `None` when absent, negative or not a
/// number.
fn seconds(value: Option<f64>) -> Option<Duration> {
    value.and_then(|s| Duration::try_from_secs_f64(s).ok())
}

impl PostgresCluster {
    /// The cluster id; empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The cluster name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The cluster's status; `ClusterStatus::Other("")` when absent.
    pub fn status(&self) -> ClusterStatus {
        ClusterStatus::parse(self.status.as_deref().unwrap_or_default())
    }

    /// Whether the cluster is serving.
    pub fn is_ready(&self) -> bool {
        self.status() == ClusterStatus::Ready
    }

    /// The primary's region code; empty when absent.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or_default()
    }

    /// The plan; `PostgresPlan::Other("")` when absent.
    pub fn plan(&self) -> PostgresPlan {
        PostgresPlan::parse(self.plan.as_deref().unwrap_or_default())
    }

    /// The Postgres major version (`17`); `None` when absent or not a number.
    pub fn pg_major_version(&self) -> Option<u16> {
        self.pg_major_version.as_deref()?.parse().ok()
    }

    /// Disk size of one replica in GB.
    pub fn disk_size_gb(&self) -> Option<u64> {
        unsigned(self.disk_size_gb)
    }

    /// Bytes used across the cluster's volumes; `None` until Fly has measured it.
    pub fn storage_used_bytes(&self) -> Option<u64> {
        unsigned(self.storage_used_bytes)
    }

    /// The slug of the organization that owns the cluster.
    pub fn org_slug(&self) -> Option<&str> {
        self.organization.as_ref().and_then(|o| o.slug.as_deref())
    }

    /// The names of the apps attached to the cluster.
    pub fn attached_apps(&self) -> impl Iterator<Item = &str> {
        self.attached_apps
            .iter()
            .flatten()
            .filter_map(|app| app.name.as_deref())
    }

    /// The primary's pooled endpoint (through PgBouncer); `None` until the cluster is ready.
    pub fn pooler(&self) -> Option<&PostgresEndpoint> {
        self.primary_endpoints()?.pooler.as_ref()
    }

    /// The primary's direct endpoint; `None` until the cluster is ready.
    pub fn direct(&self) -> Option<&PostgresEndpoint> {
        self.primary_endpoints()?.direct.as_ref()
    }

    fn primary_endpoints(&self) -> Option<&crate::types::PostgresNodeEndpoints> {
        self.endpoints.as_ref()?.primary.as_ref()
    }
}

impl PostgresClusterSummary {
    /// The cluster id; empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The cluster name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The cluster's status; `ClusterStatus::Other("")` when absent.
    pub fn status(&self) -> ClusterStatus {
        ClusterStatus::parse(self.status.as_deref().unwrap_or_default())
    }

    /// The primary's region code; empty when absent.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or_default()
    }

    /// The plan; `PostgresPlan::Other("")` when absent.
    pub fn plan(&self) -> PostgresPlan {
        PostgresPlan::parse(self.plan.as_deref().unwrap_or_default())
    }

    /// Whether the cluster was deleted (it carries a deletion time).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.as_deref().is_some_and(|at| !at.is_empty())
    }
}

impl PostgresEndpoint {
    /// The host to connect to; empty when absent.
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or_default()
    }

    /// The TCP port; `None` when absent or not a port number.
    pub fn port(&self) -> Option<u16> {
        self.port.and_then(|p| u16::try_from(p).ok())
    }
}

impl PostgresUser {
    /// The user name; empty when absent.
    pub fn username(&self) -> &str {
        self.username.as_deref().unwrap_or_default()
    }

    /// The user's role; `PostgresRole::Other("")` when absent.
    pub fn role(&self) -> PostgresRole {
        PostgresRole::parse(self.role.as_deref().unwrap_or_default())
    }
}

impl PostgresUserCredentials {
    /// The user name; empty when absent.
    pub fn username(&self) -> &str {
        self.username.as_deref().unwrap_or_default()
    }

    /// The password; empty when absent. A secret: `Debug` never shows it, and neither should
    /// your logs.
    pub fn password(&self) -> &str {
        self.password.as_deref().unwrap_or_default()
    }
}

impl PostgresDatabase {
    /// The database name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

impl PostgresExtension {
    /// The extension name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Whether the extension is installed in the database.
    pub fn is_installed(&self) -> bool {
        self.installed.is_some()
    }

    /// The installed version, when installed.
    pub fn installed_version(&self) -> Option<&str> {
        self.installed.as_ref()?.version.as_deref()
    }

    /// Whether this is a system extension, which cannot be disabled.
    pub fn is_system(&self) -> bool {
        self.system == Some(true)
    }
}

impl PostgresBackup {
    /// The backup id, as restores take it; empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The backup's status word (`completed`...); empty when absent.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or_default()
    }

    /// How much the backup holds; `BackupKind::Other("")` when absent.
    pub fn kind(&self) -> BackupKind {
        BackupKind::parse(self.type_.as_deref().unwrap_or_default())
    }

    /// The backup's size in bytes.
    pub fn size_bytes(&self) -> Option<u64> {
        unsigned(self.size_bytes)
    }
}

impl PostgresAttachment {
    /// The attached app; empty when absent.
    pub fn app_name(&self) -> &str {
        self.app_name.as_deref().unwrap_or_default()
    }

    /// The cluster the app is attached to; empty when absent.
    pub fn cluster_id(&self) -> &str {
        self.postgres_cluster_id.as_deref().unwrap_or_default()
    }
}

impl PostgresActiveQuery {
    /// The backend's process id.
    pub fn pid(&self) -> Option<i64> {
        self.pid
    }

    /// The query text; empty when absent.
    pub fn query(&self) -> &str {
        self.query.as_deref().unwrap_or_default()
    }

    /// How long the query has run.
    pub fn duration(&self) -> Option<Duration> {
        seconds(self.duration_seconds)
    }
}

impl PostgresSlowQuery {
    /// The query pattern; empty when absent.
    pub fn query(&self) -> &str {
        self.query.as_deref().unwrap_or_default()
    }

    /// How many times it ran.
    pub fn calls(&self) -> Option<u64> {
        unsigned(self.calls)
    }

    /// Its mean execution time.
    pub fn mean_exec_time(&self) -> Option<Duration> {
        seconds(self.mean_exec_time_seconds)
    }

    /// Its total execution time.
    pub fn total_exec_time(&self) -> Option<Duration> {
        seconds(self.total_exec_time_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_are_kept_and_odd_numbers_do_not_break_reading() {
        let cluster: PostgresCluster = serde_json::from_value(serde_json::json!({
            "id": "pg_1", "status": "hibernating", "plan": "Performance",
            "pg_major_version": "17", "disk_size_gb": -1,
            "attached_apps": [{"name": "web"}, {}],
            "endpoints": {"primary": {"pooler": {"host": "pg.flympg.net", "port": 70000}}}
        }))
        .unwrap();
        assert_eq!(cluster.status(), ClusterStatus::Other("hibernating".into()));
        assert!(!cluster.status().is_dead_end() && !cluster.is_ready());
        assert_eq!(cluster.plan(), PostgresPlan::Performance);
        assert_eq!(cluster.pg_major_version(), Some(17));
        assert_eq!(cluster.disk_size_gb(), None);
        assert_eq!(cluster.attached_apps().collect::<Vec<_>>(), ["web"]);
        let pooler = cluster.pooler().unwrap();
        assert_eq!((pooler.host(), pooler.port()), ("pg.flympg.net", None));
        assert!(cluster.direct().is_none());

        let query: PostgresActiveQuery =
            serde_json::from_value(serde_json::json!({"duration_seconds": -3.0})).unwrap();
        assert_eq!(query.duration(), None);
        let slow: PostgresSlowQuery =
            serde_json::from_value(serde_json::json!({"mean_exec_time_seconds": 0.25})).unwrap();
        assert_eq!(slow.mean_exec_time(), Some(Duration::from_millis(250)));
        let backup: PostgresBackup =
            serde_json::from_value(serde_json::json!({"type": "incr"})).unwrap();
        assert_eq!(backup.kind(), BackupKind::Incremental);
        let user: PostgresUser = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(user.role(), PostgresRole::Other(String::new()));
    }

    #[test]
    fn credentials_never_show_the_password_in_debug() {
        let credentials: PostgresUserCredentials = serde_json::from_value(
            serde_json::json!({"username": "bob", "password": "hunter2-secret"}),
        )
        .unwrap();
        assert_eq!(credentials.password(), "hunter2-secret");
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
