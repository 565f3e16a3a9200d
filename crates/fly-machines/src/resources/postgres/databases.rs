//! Databases and their extensions.

use fly_machines_api::OperationId;
use std::sync::Arc;

use super::Cluster;
use super::envelope::{create_in_envelope, data, list};
use crate::context::CallContext;
use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::{Ensured, Result, types, validate};

/// Checks a database or extension name before it goes into a path.
fn check_name(what: &'static str, name: &str) -> Result<()> {
    validate::resource_id(what, name)
}

/// A cluster's databases. Made by [`Cluster::databases`].
#[derive(Debug, Clone)]
pub struct Databases {
    pub(crate) cluster: Cluster,
}

impl Databases {
    /// Lists the databases.
    pub fn list(
        &self,
    ) -> impl Future<Output = Result<Vec<types::PostgresDatabase>>> + Send + 'static {
        super::envelope::cluster_list!(
            self,
            OperationId::PostgresDatabasesList,
            postgres_databases_list
        )
    }
}

#[bon::bon]
impl Databases {
    /// Creates a database: `cluster.databases().create("orders").await`.
    pub fn create(&self, name: impl Into<String>) -> DatabasesCreateBuilder {
        self.clone().create_builder(name)
    }

    #[builder(
        builder_type(name = DatabasesCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] name: String,
        /// Retry after a timeout or 5xx even though the database may then exist already.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresDatabase> {
        self.cluster.check()?;
        check_name("database name", &name)?;
        let body = types::CreatePostgresDatabaseRequest { name };
        create_in_envelope!(
            self.cluster.client,
            OperationId::PostgresDatabasesCreate,
            retry_unsafe,
            |raw| { raw.postgres_databases_create(&self.cluster.id, &body) }
        )
    }
}

impl Databases {
    /// Makes sure the cluster has a database named `name`, creating it only when there is
    /// none: `cluster.databases().ensure("orders").await?`.
    ///
    /// Safe to repeat, in this process or another: it lists first, and a create sent again
    /// after a lost answer is refused by the taken name (the database is then looked for
    /// again), so it never makes two.
    pub fn ensure(
        &self,
        name: impl Into<String>,
    ) -> impl std::future::Future<Output = Result<Ensured<types::PostgresDatabase>>> + Send + 'static
    {
        let this = self.clone();
        let name: String = name.into();
        async move {
            let this = &this;
            let name = &name;
            let plan = Plan {
                clock: this.cluster.client.clock(),
                grace: DEFAULT_GRACE,
                unique_name: true,
                attempts: this.cluster.client.max_attempts(),
            };
            let find = || async move {
                Ok(this
                    .list()
                    .await?
                    .into_iter()
                    .find(|d| d.name.as_deref() == Some(name.as_str())))
            };
            let create = || this.create(name.clone()).retry_unsafe();
            find_or_create(plan, find, create).await
        }
    }
}

/// One database. Made by [`Cluster::database`].
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) cluster: Cluster,
    pub(crate) name: Arc<str>,
}

impl Database {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<()> {
        self.cluster.check()?;
        check_name("database name", &self.name)
    }

    /// Drops the database and returns what it was.
    pub fn delete(
        &self,
    ) -> impl std::future::Future<Output = Result<types::PostgresDatabase>> + Send + 'static {
        let this = self.clone();
        async move {
            this.check()?;
            let answer = this
                .cluster
                .client
                .call(OperationId::PostgresDatabasesDelete, |raw| {
                    raw.postgres_databases_delete(&this.cluster.id, &this.name)
                })
                .await?;
            data(OperationId::PostgresDatabasesDelete, answer, |r| r.data)
        }
    }

    /// Drops the database unless it is already gone: `Ok(false)` when there was nothing to
    /// drop (404), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move { crate::ensured::absent_ok(this.delete().await) }
    }

    /// The database's extensions: list and enable.
    pub fn extensions(&self) -> Extensions {
        Extensions {
            database: self.clone(),
        }
    }

    /// One extension by name.
    pub fn extension(&self, name: impl Into<String>) -> Extension {
        Extension {
            database: self.clone(),
            name: Arc::from(name.into()),
        }
    }
}

/// A database's extensions. Made by [`Database::extensions`].
#[derive(Debug, Clone)]
pub struct Extensions {
    database: Database,
}

#[bon::bon]
impl Extensions {
    /// Lists the extensions available, with those installed marked.
    pub fn list(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<types::PostgresExtension>>> + Send + 'static
    {
        let this = self.clone();
        async move {
            this.database.check()?;
            let db = &this.database;
            let answer = db
                .cluster
                .client
                .call(OperationId::PostgresExtensionsList, |raw| {
                    raw.postgres_extensions_list(&db.cluster.id, &db.name)
                })
                .await?;
            Ok(list(answer, |r| r.data))
        }
    }

    /// Enables an extension: `db.extensions().enable("citext").schema("util").create_schema().await`.
    pub fn enable(&self, name: impl Into<String>) -> ExtensionsEnableBuilder {
        self.clone().enable_builder(name)
    }

    #[builder(
        builder_type(name = ExtensionsEnableBuilder, vis = "pub"),
        start_fn(name = enable_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_enable(
        self,
        #[builder(start_fn)] name: String,
        /// The schema to install it into (the database's default when unset).
        schema: Option<String>,
        /// Create the schema first when it does not exist.
        #[builder(default, with = || true)]
        create_schema: bool,
        /// Retry after a timeout or 5xx (a second enable of the same extension may fail with
        /// 409 where the first went through).
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<()> {
        self.database.check()?;
        check_name("extension name", &name)?;
        let db = &self.database;
        let body = types::EnablePostgresExtensionRequest {
            create_schema: create_schema.then_some(true),
            name,
            schema,
        };
        db.cluster
            .client
            .call_with(
                OperationId::PostgresExtensionsEnable,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.postgres_extensions_enable(&db.cluster.id, &db.name, &body),
            )
            .await?;
        Ok(())
    }
}

/// One extension of a database. Made by [`Database::extension`].
#[derive(Debug, Clone)]
pub struct Extension {
    database: Database,
    name: Arc<str>,
}

#[bon::bon]
impl Extension {
    /// The extension name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Disables the extension: `db.extension("citext").disable().force().await`.
    pub fn disable(&self) -> ExtensionDisableBuilder {
        self.clone().disable_builder()
    }

    #[builder(
        builder_type(name = ExtensionDisableBuilder, vis = "pub"),
        start_fn(name = disable_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_disable(
        self,
        /// Drop what depends on the extension too.
        #[builder(default, with = || true)]
        force: bool,
    ) -> Result<()> {
        self.database.check()?;
        check_name("extension name", &self.name)?;
        let db = &self.database;
        db.cluster
            .client
            .call(OperationId::PostgresExtensionsDisable, |raw| {
                raw.postgres_extensions_disable(
                    &db.cluster.id,
                    &db.name,
                    &self.name,
                    force.then_some(true),
                )
            })
            .await?;
        Ok(())
    }
}
