//! Clusters: list, create, get, delete, fork, restore, attach and detach apps, query statistics.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fly_machines_api::OperationId;

use super::envelope::{create_in_envelope, data, list};
use super::{Backups, ClusterStatus, Database, Databases, PoolMode, PostgresPlan, User, Users};
use crate::context::CallContext;
use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::{Client, Ensured, Error, Result, types, units, validate};

/// Listing and creating clusters. Made by [`Postgres::clusters`](super::Postgres::clusters).
#[derive(Debug, Clone)]
pub struct Clusters {
    pub(crate) client: Client,
}

/// Disk sizes Fly accepts for a new cluster, in GB.
const DISK_SIZE_GB: std::ops::RangeInclusive<u32> = 10..=1000;

/// The longest look back slow-query statistics take (7 days), in seconds.
const MAX_SLOW_QUERY_RANGE_SECS: u64 = 604_800;

#[bon::bon]
impl Clusters {
    /// Lists an organization's clusters (`personal` for your personal one):
    /// `postgres.clusters().list("my-org").await`.
    pub fn list(&self, org_slug: impl Into<String>) -> ClustersListBuilder {
        self.clone().list_builder(org_slug)
    }

    #[builder(
        builder_type(name = ClustersListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_list(
        self,
        #[builder(start_fn)] org_slug: String,
        /// Include deleted clusters too.
        #[builder(default, with = || true)]
        include_deleted: bool,
    ) -> Result<Vec<types::PostgresClusterSummary>> {
        validate::key("organization slug", &org_slug)?;
        let answer = self
            .client
            .call(OperationId::PostgresList, |raw| {
                raw.postgres_list(include_deleted.then_some(true), &org_slug)
            })
            .await?;
        Ok(list(answer, |r| r.data))
    }

    /// Creates a cluster; Fly provisions it in the background, so follow with
    /// [`Cluster::wait_ready`]:
    /// `clusters.create("orders-db").org("my-org").region("iad").plan(PostgresPlan::Basic).await`.
    pub fn create(&self, name: impl Into<String>) -> ClustersCreateBuilder {
        self.clone().create_builder(name)
    }

    #[builder(
        builder_type(name = ClustersCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] name: String,
        /// The organization that will own the cluster (`personal` for your personal one).
        org: String,
        /// The region of the primary (`iad`).
        region: String,
        /// CPU, memory and disk sizing.
        #[builder(into)]
        plan: PostgresPlan,
        /// Postgres major version (16 or 17; Fly's default when unset).
        pg_major_version: Option<u16>,
        /// How the pooler hands out connections.
        pool_mode: Option<PoolMode>,
        /// Disk size in GB, 10 to 1000 (the plan's when unset).
        disk_size_gb: Option<u32>,
        /// Enable PostGIS, which its extensions need.
        #[builder(default, with = || true)]
        postgis: bool,
        /// Retry after a timeout or 5xx even though that may make two clusters.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresCluster> {
        validate::key("organization slug", &org)?;
        validate::key("region", &region)?;
        let body = types::CreatePostgresClusterRequest {
            name: (!name.is_empty()).then_some(name),
            org_slug: org,
            region,
            plan: wire(
                "plan",
                plan_word(&plan),
                "basic, starter, launch, scale or Performance",
            )?,
            pg_major_version: pg_major_version
                .map(|v| wire("pg_major_version", &v.to_string(), "16 or 17"))
                .transpose()?,
            pool_mode,
            disk_size_gb: disk_size_gb
                .map(|gb| {
                    if DISK_SIZE_GB.contains(&gb) {
                        Ok(i64::from(gb))
                    } else {
                        Err(Error::invalid_input(
                            "disk_size_gb",
                            &gb.to_string(),
                            "a size from 10 to 1000 GB",
                        ))
                    }
                })
                .transpose()?,
            postgis_enabled: postgis.then_some(true),
        };
        create_in_envelope!(
            self.client,
            OperationId::PostgresCreate,
            retry_unsafe,
            |raw| { raw.postgres_create(&body) }
        )
    }
}

#[bon::bon]
impl Clusters {
    /// Makes sure the organization has a cluster named `name`, creating it only when there is
    /// none, and returns its handle (follow with [`Cluster::wait_ready`]):
    /// `clusters.ensure("pr-42-db").org("my-org").region("iad").plan(PostgresPlan::Basic).await?`.
    ///
    /// Safe to repeat, in this process or another: it lists first; Fly keeps cluster names
    /// unique in an organization, so a create sent again after a lost answer is refused
    /// (`name_taken`) rather than making a second cluster, and the cluster is then looked for
    /// again. Clusters being deleted do not count. The settings of a cluster found are not
    /// compared with those given.
    pub fn ensure(&self, name: impl Into<String>) -> ClustersEnsureBuilder {
        self.clone().ensure_builder(name)
    }

    #[builder(
        builder_type(name = ClustersEnsureBuilder, vis = "pub"),
        start_fn(name = ensure_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_ensure(
        self,
        #[builder(start_fn)] name: String,
        /// The organization that owns the cluster.
        org: String,
        /// The region of the primary, for a new cluster.
        region: String,
        /// The plan of a new cluster.
        #[builder(into)]
        plan: PostgresPlan,
        /// Postgres major version of a new cluster.
        pg_major_version: Option<u16>,
        /// Disk size of a new cluster, in GB.
        disk_size_gb: Option<u32>,
        /// How long to keep looking for the cluster after an ambiguous failure (default 10 s).
        visibility_grace: Option<Duration>,
    ) -> Result<Ensured<Cluster>> {
        if name.is_empty() {
            return Err(Error::invalid_input(
                "postgres cluster name",
                &name,
                "a name: ensure finds the cluster by it",
            ));
        }
        let plan_ = Plan {
            clock: self.client.clock(),
            grace: visibility_grace.unwrap_or(DEFAULT_GRACE),
            unique_name: true,
            attempts: self.client.max_attempts(),
        };
        let (this, name, org, region, plan) = (&self, &name, &org, &region, &plan);
        let find = || async move {
            Ok(this
                .list(org.clone())
                .send()
                .await?
                .into_iter()
                .find(|c| {
                    c.name() == name
                        && !c.is_deleted()
                        && !matches!(c.status(), ClusterStatus::Deleting | ClusterStatus::Deleted)
                })
                .map(|c| this.cluster(c.id())))
        };
        let create = || async move {
            let made = this
                .create(name.clone())
                .org(org.clone())
                .region(region.clone())
                .plan(plan.clone())
                .maybe_pg_major_version(pg_major_version)
                .maybe_disk_size_gb(disk_size_gb)
                .retry_unsafe()
                .send()
                .await?;
            Ok(this.cluster(made.id()))
        };
        find_or_create(plan_, find, create).await
    }
}

impl Clusters {
    fn cluster(&self, id: &str) -> Cluster {
        Cluster {
            client: self.client.clone(),
            id: id.into(),
        }
    }
}

/// The plan's word as the request type spells it: Fly matches plans without regard to case, so
/// `performance` is sent as `Performance` rather than refused.
fn plan_word(plan: &PostgresPlan) -> &str {
    const PLANS: [&str; 5] = ["basic", "starter", "launch", "scale", "Performance"];
    PLANS
        .into_iter()
        .find(|word| word.eq_ignore_ascii_case(plan.as_str()))
        .unwrap_or(plan.as_str())
}

/// A word for a closed set the generated request type holds, or an error naming the value and
/// the words Fly takes.
pub(crate) fn wire<T: std::str::FromStr>(
    what: &'static str,
    value: &str,
    expected: &str,
) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::invalid_input(what, value, expected))
}

/// Where a restore starts from: a backup, or a point in time inside the recovery window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestorePoint {
    /// A backup, by the id the backups list gives.
    Backup(String),
    /// A point in time (sent in UTC, to the second).
    Time(SystemTime),
}

impl RestorePoint {
    /// From a backup id.
    pub fn backup(id: impl Into<String>) -> Self {
        RestorePoint::Backup(id.into())
    }

    /// From a point in time.
    pub fn time(at: SystemTime) -> Self {
        RestorePoint::Time(at)
    }
}

/// One cluster. Made by [`Postgres::cluster`](super::Postgres::cluster).
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) client: Client,
    pub(crate) id: Arc<str>,
}

#[bon::bon]
impl Cluster {
    /// The cluster id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client this handle uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn check(&self) -> Result<()> {
        validate::resource_id("postgres cluster id", &self.id)
    }

    /// Fetches the cluster: status, sizing, endpoints, attached apps.
    pub fn get(
        &self,
    ) -> impl std::future::Future<Output = Result<types::PostgresCluster>> + Send + 'static {
        let this = self.clone();
        async move {
            this.check()?;
            let answer = this
                .client
                .call(OperationId::PostgresShow, |raw| raw.postgres_show(&this.id))
                .await?;
            data(OperationId::PostgresShow, answer, |r| r.data)
        }
    }

    /// Deletes the cluster and its data (Fly accepts at once and removes it in the background).
    pub fn delete(&self) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        async move {
            this.check()?;
            this.client
                .call(OperationId::PostgresDelete, |raw| {
                    raw.postgres_delete(&this.id)
                })
                .await?;
            Ok(())
        }
    }

    /// Deletes the cluster unless it is gone or going: `Ok(false)` when there was nothing to
    /// delete (404, or 410 once deletion has started), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move { crate::ensured::absent_ok(this.delete().await) }
    }

    /// Copies the cluster into a new one: `cluster.fork().name("orders-copy").await`.
    pub fn fork(&self) -> ClusterForkBuilder {
        self.clone().fork_builder()
    }

    #[builder(
        builder_type(name = ClusterForkBuilder, vis = "pub"),
        start_fn(name = fork_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_fork(
        self,
        /// The new cluster's name (Fly's default: this one's with `-fork`).
        name: Option<String>,
        /// Retry after a timeout or 5xx even though that may make two clusters.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresCluster> {
        self.check()?;
        let body = types::ForkPostgresClusterRequest { name };
        let answer = self
            .client
            .call_with(
                OperationId::PostgresFork,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.postgres_fork(&self.id, &body),
            )
            .await?;
        data(OperationId::PostgresFork, answer, |r| r.data)
    }

    /// Restores the cluster's data into a new cluster:
    /// `cluster.restore(RestorePoint::backup(id)).name("orders-restored").await`.
    pub fn restore(&self, from: RestorePoint) -> ClusterRestoreBuilder {
        self.clone().restore_builder(from)
    }

    #[builder(
        builder_type(name = ClusterRestoreBuilder, vis = "pub"),
        start_fn(name = restore_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_restore(
        self,
        #[builder(start_fn)] from: RestorePoint,
        /// The new cluster's name (Fly makes one up when unset).
        name: Option<String>,
        /// Retry after a timeout or 5xx even though that may make two clusters.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresCluster> {
        self.check()?;
        let (backup_id, pitr_time) = match from {
            RestorePoint::Backup(id) => {
                validate::resource_id("backup id", &id)?;
                (Some(id), None)
            }
            RestorePoint::Time(at) => (None, Some(super::time::rfc3339_utc("pitr time", at)?)),
        };
        let body = types::RestorePostgresClusterRequest {
            backup_id,
            name,
            pitr_time,
        };
        let answer = self
            .client
            .call_with(
                OperationId::PostgresRestore,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.postgres_restore(&self.id, &body),
            )
            .await?;
        data(OperationId::PostgresRestore, answer, |r| r.data)
    }

    /// Attaches an app, which gets the connection string as a secret.
    pub fn attach(
        &self,
        app: impl Into<String>,
    ) -> impl std::future::Future<Output = Result<types::PostgresAttachment>> + Send + 'static {
        let this = self.clone();
        let app: String = app.into();
        async move {
            this.check()?;
            let app_name = app;
            validate::app_name(&app_name)?;
            let body = types::CreatePostgresAttachmentRequest { app_name };
            let answer = this
                .client
                .call(OperationId::PostgresAttachmentsCreate, |raw| {
                    raw.postgres_attachments_create(&this.id, &body)
                })
                .await?;
            data(OperationId::PostgresAttachmentsCreate, answer, |r| r.data)
        }
    }

    /// Detaches an app.
    pub fn detach(
        &self,
        app: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let app = app.to_owned();
        async move {
            let app = app.as_str();
            this.check()?;
            validate::app_name(app)?;
            this.client
                .call(OperationId::PostgresAttachmentsDelete, |raw| {
                    raw.postgres_attachments_delete(&this.id, app)
                })
                .await?;
            Ok(())
        }
    }

    /// The queries running now in `database`.
    pub fn active_queries(
        &self,
        database: &str,
    ) -> impl std::future::Future<Output = Result<Vec<types::PostgresActiveQuery>>> + Send + 'static
    {
        let this = self.clone();
        let database = database.to_owned();
        async move {
            let database = database.as_str();
            this.check()?;
            let database: types::PostgresQueriesActiveDatabase = database
                .parse()
                .map_err(|_| Error::invalid_input("database", database, "a database name"))?;
            let answer = this
                .client
                .call(OperationId::PostgresQueriesActive, |raw| {
                    raw.postgres_queries_active(&this.id, &database)
                })
                .await?;
            Ok(list(answer, |r| r.data))
        }
    }

    /// The 20 queries with the most total execution time:
    /// `cluster.slow_queries().range(Duration::from_secs(86_400)).await`.
    pub fn slow_queries(&self) -> ClusterSlowQueriesBuilder {
        self.clone().slow_queries_builder()
    }

    #[builder(
        builder_type(name = ClusterSlowQueriesBuilder, vis = "pub"),
        start_fn(name = slow_queries_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_slow_queries(
        self,
        /// How far back to look for the latest statistics, 1 s to 7 days (Fly's default: 1 hour).
        range: Option<Duration>,
    ) -> Result<Vec<types::PostgresSlowQuery>> {
        self.check()?;
        let range = range
            .map(|d| units::whole_secs("slow query range", d, 1, MAX_SLOW_QUERY_RANGE_SECS))
            .transpose()?
            .and_then(std::num::NonZeroU64::new);
        let answer = self
            .client
            .call(OperationId::PostgresQueriesSlow, |raw| {
                raw.postgres_queries_slow(&self.id, range)
            })
            .await?;
        Ok(list(answer, |r| r.data))
    }

    /// The cluster's users: list and create.
    pub fn users(&self) -> Users {
        Users {
            cluster: self.clone(),
        }
    }

    /// One user by name.
    pub fn user(&self, name: impl Into<String>) -> User {
        User {
            cluster: self.clone(),
            name: Arc::from(name.into()),
        }
    }

    /// The cluster's databases: list and create.
    pub fn databases(&self) -> Databases {
        Databases {
            cluster: self.clone(),
        }
    }

    /// One database by name.
    pub fn database(&self, name: impl Into<String>) -> Database {
        Database {
            cluster: self.clone(),
            name: Arc::from(name.into()),
        }
    }

    /// The cluster's backups: list and create.
    pub fn backups(&self) -> Backups {
        Backups {
            cluster: self.clone(),
        }
    }
}
