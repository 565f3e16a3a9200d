//! Database users: list, create, change role, delete, read and rotate credentials.

use fly_machines_api::OperationId;
use std::sync::Arc;

use super::clusters::wire;
use super::envelope::{create_in_envelope, data};
use super::{Cluster, PostgresRole};
use crate::context::CallContext;
use crate::ensured::{DEFAULT_GRACE, Plan, find_or_create};
use crate::{Ensured, Result, types, validate};

/// The roles Fly takes, for errors.
const ROLES: &str = "schema_admin, writer or reader";

/// Checks a user name before it goes into a path.
fn check_name(name: &str) -> Result<()> {
    validate::resource_id("postgres user name", name)
}

/// A cluster's users. Made by [`Cluster::users`].
#[derive(Debug, Clone)]
pub struct Users {
    pub(crate) cluster: Cluster,
}

impl Users {
    /// Lists the users.
    pub fn list(&self) -> impl Future<Output = Result<Vec<types::PostgresUser>>> + Send + 'static {
        super::envelope::cluster_list!(self, OperationId::PostgresUsersList, postgres_users_list)
    }
}

#[bon::bon]
impl Users {
    /// Creates a user: `cluster.users().create("orders_app").role(PostgresRole::Writer).await`.
    /// Read the password with [`User::credentials`].
    pub fn create(&self, name: impl Into<String>) -> UsersCreateBuilder {
        self.clone().create_builder(name)
    }

    #[builder(
        builder_type(name = UsersCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] name: String,
        /// What the user may do.
        #[builder(into)]
        role: PostgresRole,
        /// Retry after a timeout or 5xx even though the user may then exist already.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresUser> {
        self.cluster.check()?;
        check_name(&name)?;
        let body = types::CreatePostgresUserRequest {
            role: wire("role", role.as_str(), ROLES)?,
            username: name,
        };
        create_in_envelope!(
            self.cluster.client,
            OperationId::PostgresUsersCreate,
            retry_unsafe,
            |raw| { raw.postgres_users_create(&self.cluster.id, &body) }
        )
    }
}

impl Users {
    /// Makes sure the cluster has a user named `name`, creating it with `role` only when there
    /// is none: `cluster.users().ensure("app", PostgresRole::Writer).await?`.
    ///
    /// Safe to repeat, in this process or another: it lists first, and a create sent again
    /// after a lost answer is refused by the taken name (the user is then looked for again),
    /// so it never makes two. The role of a user found is not changed.
    pub fn ensure(
        &self,
        name: impl Into<String>,
        role: impl Into<PostgresRole>,
    ) -> impl std::future::Future<Output = Result<Ensured<types::PostgresUser>>> + Send + 'static
    {
        let this = self.clone();
        let name: String = name.into();
        let role: PostgresRole = role.into();
        async move {
            let (this, name, role) = (&this, &name, &role);
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
                    .find(|u| u.username() == name))
            };
            let create = || this.create(name.clone()).role(role.clone()).retry_unsafe();
            find_or_create(plan, find, create).await
        }
    }
}

/// One user. Made by [`Cluster::user`].
#[derive(Debug, Clone)]
pub struct User {
    pub(crate) cluster: Cluster,
    pub(crate) name: Arc<str>,
}

#[bon::bon]
impl User {
    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<()> {
        self.cluster.check()?;
        check_name(&self.name)
    }

    /// Changes what the user may do.
    pub fn set_role(
        &self,
        role: impl Into<PostgresRole>,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let role: PostgresRole = role.into();
        async move {
            this.check()?;
            let body = types::UpdatePostgresUserRoleRequest {
                role: wire("role", role.as_str(), ROLES)?,
            };
            this.cluster
                .client
                .call(OperationId::PostgresUsersUpdateRole, |raw| {
                    raw.postgres_users_update_role(&this.cluster.id, &this.name, &body)
                })
                .await?;
            Ok(())
        }
    }

    /// Deletes the user.
    pub fn delete(&self) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        async move {
            this.check()?;
            this.cluster
                .client
                .call(OperationId::PostgresUsersDelete, |raw| {
                    raw.postgres_users_delete(&this.cluster.id, &this.name)
                })
                .await?;
            Ok(())
        }
    }

    /// Deletes the user unless it is already gone: `Ok(false)` when there was nothing to
    /// delete (404), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move { crate::ensured::absent_ok(this.delete().await) }
    }

    /// The user's name and password (`Debug` never shows the password).
    pub fn credentials(
        &self,
    ) -> impl std::future::Future<Output = Result<types::PostgresUserCredentials>> + Send + 'static
    {
        let this = self.clone();
        async move {
            this.check()?;
            let answer = this
                .cluster
                .client
                .call(OperationId::PostgresUsersCredentials, |raw| {
                    raw.postgres_users_credentials(&this.cluster.id, &this.name)
                })
                .await?;
            data(OperationId::PostgresUsersCredentials, answer, |r| r.data)
        }
    }

    /// Gives the user a new password and returns it:
    /// `cluster.user("orders_app").rotate_password().kill_sessions().await`.
    pub fn rotate_password(&self) -> UserRotatePasswordBuilder {
        self.clone().rotate_password_builder()
    }

    #[builder(
        builder_type(name = UserRotatePasswordBuilder, vis = "pub"),
        start_fn(name = rotate_password_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_rotate_password(
        self,
        /// End the user's open sessions, so the old password stops working at once.
        #[builder(default, with = || true)]
        kill_sessions: bool,
        /// Retry after a timeout or 5xx even though the password may then change twice (the
        /// answer holds the last one).
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::PostgresUserCredentials> {
        self.check()?;
        let body = types::RotatePostgresPasswordRequest {
            kill_sessions: kill_sessions.then_some(true),
        };
        let answer = self
            .cluster
            .client
            .call_with(
                OperationId::PostgresUsersRotatePassword,
                CallContext::retrying_unsafe(retry_unsafe),
                |raw| raw.postgres_users_rotate_password(&self.cluster.id, &self.name, &body),
            )
            .await?;
        data(OperationId::PostgresUsersRotatePassword, answer, |r| r.data)
    }
}
