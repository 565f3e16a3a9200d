//! Managed Postgres: clusters on a provisioning timeline, and what lives in them (users and
//! their passwords, databases with their schemas and extensions, backups, attachments to apps).

pub(crate) mod catalog;
mod timeline;

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;

use crate::ids::alnum_id;
pub(crate) use catalog::Plan;
pub(crate) use timeline::{ClusterStatus, Timeline};

/// How long a deleted cluster is still listed (`include_deleted`) before it is forgotten.
pub(crate) const DELETED_RETENTION_MS: u64 = 60 * 60 * 1000;

/// The user and database every cluster is provisioned with.
pub(crate) const DEFAULT_USER: &str = "fly-user";
pub(crate) const DEFAULT_DATABASE: &str = "fly-db";

/// A user's role, as `PostgresUser.role` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    SchemaAdmin,
    Writer,
    Reader,
}

impl Role {
    pub(crate) const ALL: &'static str = "schema_admin, writer, reader";

    pub(crate) fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "schema_admin" => Role::SchemaAdmin,
            "writer" => Role::Writer,
            "reader" => Role::Reader,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::SchemaAdmin => "schema_admin",
            Role::Writer => "writer",
            Role::Reader => "reader",
        }
    }
}

/// One Postgres user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) role: Role,
    pub(crate) password: String,
}

/// A fresh password: 32 random letters and digits.
pub(crate) fn new_password(rng: &mut StdRng) -> String {
    alnum_id(32, rng)
}

/// An extension installed in a database.
#[derive(Debug, Clone)]
pub(crate) struct InstalledExtension {
    pub(crate) schema: String,
    pub(crate) version: &'static str,
}

/// One database: its schemas and installed extensions.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub(crate) schemas: BTreeSet<String>,
    pub(crate) extensions: BTreeMap<String, InstalledExtension>,
}

impl Database {
    /// A new database: the `public` schema and the system extensions.
    pub(crate) fn new() -> Database {
        let extensions = catalog::EXTENSIONS
            .iter()
            .filter(|e| e.system)
            .map(|e| {
                let installed = InstalledExtension {
                    schema: "pg_catalog".to_string(),
                    version: e.default_version,
                };
                (e.name.to_string(), installed)
            })
            .collect();
        Database {
            schemas: BTreeSet::from(["public".to_string()]),
            extensions,
        }
    }
}

/// A backup's type, as `PostgresBackup.type` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupKind {
    Full,
    Incr,
    Diff,
}

impl BackupKind {
    pub(crate) const ALL: &'static str = "full, incr, diff";

    pub(crate) fn parse(s: &str) -> Option<BackupKind> {
        Some(match s {
            "full" => BackupKind::Full,
            "incr" => BackupKind::Incr,
            "diff" => BackupKind::Diff,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Incr => "incr",
            BackupKind::Diff => "diff",
        }
    }

    /// The letter ending a backup label, as pgBackRest marks the type.
    fn label_suffix(self) -> char {
        match self {
            BackupKind::Full => 'F',
            BackupKind::Incr => 'I',
            BackupKind::Diff => 'D',
        }
    }
}

/// One backup; it runs from `started_ms` to `finished_ms`.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub(crate) id: String,
    pub(crate) kind: BackupKind,
    pub(crate) started_ms: u64,
    pub(crate) finished_ms: u64,
    pub(crate) size_bytes: i64,
    /// What the cluster held when the backup started: what a restore from it gets.
    pub(crate) data: ClusterData,
}

impl Backup {
    pub(crate) fn running(&self, now: u64) -> bool {
        now < self.finished_ms
    }
}

/// What a cluster was asked to be: everything a fork or a restore inherits.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSettings {
    pub(crate) org_slug: String,
    pub(crate) region: String,
    pub(crate) plan: &'static Plan,
    pub(crate) pg_major_version: String,
    pub(crate) postgis: bool,
    pub(crate) disk_size_gb: i64,
}

/// What a cluster holds: what a fork or a restore copies.
#[derive(Debug, Clone)]
pub(crate) struct ClusterData {
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) databases: BTreeMap<String, Database>,
}

impl ClusterData {
    /// What provisioning creates: the default user (a schema admin) and database.
    pub(crate) fn provisioned(rng: &mut StdRng) -> ClusterData {
        let user = User {
            role: Role::SchemaAdmin,
            password: new_password(rng),
        };
        ClusterData {
            users: BTreeMap::from([(DEFAULT_USER.to_string(), user)]),
            databases: BTreeMap::from([(DEFAULT_DATABASE.to_string(), Database::new())]),
        }
    }
}

/// One cluster.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) settings: ClusterSettings,
    pub(crate) timeline: Timeline,
    pub(crate) data: ClusterData,
    /// Oldest first.
    pub(crate) backups: Vec<Backup>,
    /// Attached app names → when they were attached.
    pub(crate) attachments: BTreeMap<String, u64>,
}

impl Cluster {
    pub(crate) fn status(&self, now: u64) -> ClusterStatus {
        self.timeline.status(now)
    }

    /// A backup still in progress at `now`.
    pub(crate) fn running_backup(&self, now: u64) -> Option<&Backup> {
        self.backups.iter().find(|b| b.running(now))
    }

    /// Starts a backup at `now` taking `duration_ms`; its size grows with the databases.
    pub(crate) fn start_backup(&mut self, kind: BackupKind, now: u64, duration_ms: u64) -> &Backup {
        const MIB: i64 = 1024 * 1024;
        let databases = i64::try_from(self.data.databases.len()).unwrap_or(i64::MAX);
        let full = (8 * MIB).saturating_mul(databases).saturating_add(32 * MIB);
        let size_bytes = match kind {
            BackupKind::Full => full,
            BackupKind::Diff => full / 4,
            BackupKind::Incr => full / 8,
        };
        let mut id = format!("{}{}", backup_stamp(now), kind.label_suffix());
        if self.backups.iter().any(|b| b.id == id) {
            id = format!("{id}-{}", self.backups.len());
        }
        self.backups.push(Backup {
            id,
            kind,
            started_ms: now,
            finished_ms: now.saturating_add(duration_ms),
            size_bytes,
            data: self.data.clone(),
        });
        &self.backups[self.backups.len() - 1]
    }
}

/// `YYYYMMDD-HHMMSS`, the time part of a backup label.
fn backup_stamp(ms: u64) -> String {
    let text = crate::time::rfc3339(ms);
    let digits =
        |range: std::ops::Range<usize>| text.get(range).unwrap_or("").replace(['-', ':'], "");
    format!("{}-{}", digits(0..10), digits(11..19))
}

/// Every cluster, by id.
#[derive(Debug, Default)]
pub(crate) struct Clusters {
    pub(crate) by_id: BTreeMap<String, Cluster>,
}

impl Clusters {
    /// Forgets clusters deleted more than [`DELETED_RETENTION_MS`] ago.
    pub(crate) fn forget_deleted(&mut self, now: u64) {
        self.by_id.retain(|_, c| {
            c.timeline
                .deleted_ms
                .is_none_or(|t| t.saturating_add(DELETED_RETENTION_MS) > now)
        });
    }

    /// A cluster id no cluster has: 16 lowercase letters and digits.
    pub(crate) fn new_id(&self, rng: &mut StdRng) -> String {
        loop {
            let id = alnum_id(16, rng);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Whether a cluster not deleted in `org` already has `name`.
    pub(crate) fn name_taken(&self, org: &str, name: &str, now: u64) -> bool {
        self.by_id.values().any(|c| {
            c.settings.org_slug == org && c.name == name && c.status(now) != ClusterStatus::Deleted
        })
    }

    /// Whether any cluster belongs to `org`.
    pub(crate) fn has_org(&self, org: &str) -> bool {
        self.by_id.values().any(|c| c.settings.org_slug == org)
    }

    /// Drops every attachment to an app that no longer exists.
    pub(crate) fn detach_app(&mut self, app: &str) {
        for c in self.by_id.values_mut() {
            c.attachments.remove(app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backup_labels_carry_time_and_type() {
        assert_eq!(backup_stamp(crate::MANUAL_EPOCH_MS), "20250101-000000");
        let mut rng = StdRng::seed_from_u64(1);
        let mut c = Cluster {
            id: "x".into(),
            name: "x".into(),
            settings: ClusterSettings {
                org_slug: "personal".into(),
                region: "iad".into(),
                plan: &catalog::PLANS[0],
                pg_major_version: "17".into(),
                postgis: false,
                disk_size_gb: 10,
            },
            timeline: Timeline::provisioning(0, 0, false),
            data: ClusterData::provisioned(&mut rng),
            backups: Vec::new(),
            attachments: BTreeMap::new(),
        };
        let first = c
            .start_backup(BackupKind::Full, crate::MANUAL_EPOCH_MS, 10)
            .id
            .clone();
        assert_eq!(first, "20250101-000000F");
        assert!(c.running_backup(crate::MANUAL_EPOCH_MS + 9).is_some());
        assert!(c.running_backup(crate::MANUAL_EPOCH_MS + 10).is_none());
        let again = c
            .start_backup(BackupKind::Full, crate::MANUAL_EPOCH_MS, 10)
            .id
            .clone();
        assert_ne!(first, again, "labels stay unique");
    }
}
