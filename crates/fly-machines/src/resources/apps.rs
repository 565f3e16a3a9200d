//! Apps: list, create, get, delete, and the way to everything inside an app.

use crate::context::CallContext;
use crate::paging::{self, Paged};
use crate::resources::certificates::Certificates;
use crate::resources::ips::IpAssignments;
use crate::resources::machines::{Machine, Machines};
use crate::resources::secrets::{SecretKeys, Secrets};
use crate::resources::volumes::{Volume, Volumes};
use crate::{Client, Error, Result, types, validate};
use fly_machines_api::OperationId;
use std::sync::Arc;

impl Client {
    /// Apps across an organization: list and create.
    pub fn apps(&self) -> Apps {
        Apps {
            client: self.clone(),
        }
    }

    /// One app by name.
    pub fn app(&self, name: impl Into<String>) -> App {
        App {
            client: self.clone(),
            name: Arc::from(name.into()),
        }
    }
}

/// Listing and creating apps.
#[derive(Debug, Clone)]
pub struct Apps {
    client: Client,
}

/// Fly's largest app page.
const MAX_APP_PAGE: u32 = 5000;

crate::paging::read_all_pages!(AppsListBuilder, apps_list_builder, types::App, "apps");

#[bon::bon]
impl Apps {
    /// Lists the apps of an organization (`personal` for your personal org), following Fly's
    /// cursors: `client.apps().list("personal").await` for a `Vec`, or
    /// `.page_size(1000).stream()` for a [`Stream`](futures::Stream).
    ///
    /// With a page size (1 to 5,000) Fly answers one page at a time with `next_cursor` in the
    /// body; the listing ends on the answer without one. Without it the first answer holds every
    /// app. Repeated cursors, endless paging and expired cursors are errors
    /// ([`PagingError`](crate::paging::PagingError)).
    pub fn list(&self, org_slug: impl Into<String>) -> AppsListBuilder {
        self.clone().list_builder(org_slug)
    }

    #[builder(
        builder_type(name = AppsListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = stream,
        on(String, into),
    )]
    fn run_list(
        self,
        #[builder(start_fn)] org_slug: String,
        /// Only apps with this role.
        role: Option<String>,
        /// Apps asked for per page (1 to 5,000).
        page_size: Option<u32>,
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> Paged<types::App> {
        let checked = validate::key("organization slug", &org_slug)
            .and_then(|()| paging::page_limit("app page size", page_size, MAX_APP_PAGE));
        let limit = match checked {
            Ok(limit) => limit,
            Err(e) => return paging::failed(e),
        };
        let client = self.client.clone();
        Paged::new(paging::paginate(
            OperationId::AppsList,
            max_pages,
            move |page: paging::PageRequest| {
                let (client, org_slug, role) = (client.clone(), org_slug.clone(), role.clone());
                async move {
                    let r = client
                        .call(OperationId::AppsList, |raw| {
                            raw.apps_list(role.as_deref(), page.cursor.as_deref(), limit, &org_slug)
                        })
                        .await?
                        .into_inner();
                    Ok(paging::Page {
                        items: r.apps.unwrap_or_default(),
                        next: r.next_cursor,
                    })
                }
            },
        ))
    }

    /// Creates an app: `client.apps().create("my-app", "personal").await`.
    ///
    /// With `.idempotency_key(..)`, Fly answers a repeat of the same create (same key, same
    /// name) with the app the first one made, so the call is retried after a timeout or 5xx like
    /// an idempotent one. Without a key it is sent once, unless `.retry_unsafe()` says otherwise.
    pub fn create(
        &self,
        name: impl Into<String>,
        org_slug: impl Into<String>,
    ) -> AppsCreateBuilder {
        self.clone().create_builder(name, org_slug)
    }

    #[builder(
        builder_type(name = AppsCreateBuilder, vis = "pub"),
        start_fn(name = create_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_create(
        self,
        #[builder(start_fn)] name: String,
        #[builder(start_fn)] org_slug: String,
        /// Name of a custom private network to put the app in.
        network: Option<String>,
        /// Enable subdomains for the app's machines.
        #[builder(default, with = || true)]
        enable_subdomains: bool,
        /// Makes repeats of this create return the same app (see above).
        idempotency_key: Option<String>,
        /// Without a key, retry after a timeout or 5xx anyway (a repeat may then fail with
        /// `name_taken` although the first attempt made the app).
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::CreateAppResponse> {
        validate::app_name(&name)?;
        validate::key("organization slug", &org_slug)?;
        if let Some(key) = &idempotency_key {
            validate::key("idempotency key", key)?;
        }
        let repeatable = retry_unsafe || idempotency_key.is_some();
        // Both spellings of the name: `app_name` is the one Fly's documentation sends (and
        // servers that follow it require), `name` the newer one; Fly takes either.
        let body = types::CreateAppRequest {
            app_name: Some(name.clone()),
            name: Some(name),
            org_slug: Some(org_slug),
            network,
            enable_subdomains: enable_subdomains.then_some(true),
            idempotency_key,
        };
        answer!(
            self.client,
            OperationId::AppsCreate,
            CallContext::retrying_unsafe(repeatable),
            |raw| { raw.apps_create(&body) }
        )
    }

    /// Makes sure the app exists in the organization and returns it, creating it if needed:
    /// `client.apps().ensure("my-app", "personal").await?`.
    ///
    /// It looks for the app first (an app of that name in the organization is found, not
    /// created). The create carries an idempotency key (by default one derived from the organization and
    /// name, so every process that ensures the same app uses the same key), so repeats and
    /// retries never fail on the app a previous attempt made. An app of that name made
    /// otherwise is accepted when it belongs to the organization; in another organization it is
    /// a `name_taken` error.
    pub fn ensure(
        &self,
        name: impl Into<String>,
        org_slug: impl Into<String>,
    ) -> AppsEnsureBuilder {
        self.clone().ensure_builder(name, org_slug)
    }

    #[builder(
        builder_type(name = AppsEnsureBuilder, vis = "pub"),
        start_fn(name = ensure_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_ensure(
        self,
        #[builder(start_fn)] name: String,
        #[builder(start_fn)] org_slug: String,
        /// The create's idempotency key, instead of the one derived from org and name.
        idempotency_key: Option<String>,
        /// Name of a custom private network for a new app.
        network: Option<String>,
    ) -> Result<EnsuredApp> {
        let key =
            idempotency_key.unwrap_or_else(|| format!("{ENSURE_KEY_PREFIX}{org_slug}.{name}"));
        validate::app_name(&name)?;
        let handle = self.client.app(name.clone());
        // Look first: an app already there (an earlier run's) is found, not created.
        match handle.get().send().await {
            Ok(existing) if existing.org_slug().is_none_or(|org| org == org_slug) => {
                return Ok(EnsuredApp {
                    id: existing.id().to_string(),
                    handle,
                    created: false,
                });
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        // The key makes every repeat answer with the app the first create made, so a create
        // whose answer was lost is simply sent again (after the client's own retries, a few
        // rounds more).
        let mut created = Err(Error::config("app create not sent"));
        for _ in 0..ENSURE_ROUNDS {
            created = self
                .create(name.clone(), org_slug.clone())
                .idempotency_key(key.clone())
                .maybe_network(network.clone())
                .send()
                .await;
            if !created.as_ref().is_err_and(Error::is_ambiguous) {
                break;
            }
        }
        match created {
            Ok(answer) => Ok(EnsuredApp {
                handle,
                id: answer.id().to_string(),
                created: true,
            }),
            Err(e) if e.is_name_taken() => {
                let existing = handle.get().send().await?;
                if existing.org_slug().is_some_and(|org| org != org_slug) {
                    return Err(e);
                }
                Ok(EnsuredApp {
                    id: existing.id().to_string(),
                    handle,
                    created: false,
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// How many rounds of the client's retries [`Apps::ensure`] gives a create whose answers are
/// lost.
const ENSURE_ROUNDS: u32 = 4;

/// What the derived idempotency key of [`Apps::ensure`] starts with.
const ENSURE_KEY_PREFIX: &str = "fly-machines-ensure.";

/// The app [`Apps::ensure`] made sure of.
#[derive(Debug, Clone)]
pub struct EnsuredApp {
    handle: App,
    id: String,
    created: bool,
}

impl EnsuredApp {
    /// The app's handle.
    pub fn app(&self) -> &App {
        &self.handle
    }

    /// The app's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this ensure's create made the app (or a repeat of it answered with the app it
    /// made), rather than finding one made otherwise.
    pub fn created(&self) -> bool {
        self.created
    }
}

/// One app.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) client: Client,
    pub(crate) name: Arc<str>,
}

#[bon::bon]
impl App {
    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this handle uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetches the app.
    pub fn get(&self) -> AppGetBuilder {
        self.clone().get_builder()
    }

    #[builder(
        builder_type(name = AppGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_get(self) -> Result<types::App> {
        validate::app_name(&self.name)?;
        answer!(self.client, OperationId::AppsShow, |raw| {
            raw.apps_show(&self.name)
        })
    }

    /// Deletes the app and everything in it.
    pub fn delete(&self) -> AppDeleteBuilder {
        self.clone().delete_builder()
    }

    #[builder(
        builder_type(name = AppDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_delete(self) -> Result<()> {
        validate::app_name(&self.name)?;
        self.client
            .call(OperationId::AppsDelete, |raw| raw.apps_delete(&self.name))
            .await?;
        Ok(())
    }

    /// Deletes the app unless it is already gone: `Ok(false)` when there was no app to delete
    /// (404), so a teardown can run again.
    pub fn ensure_absent(
        &self,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        async move { crate::ensured::absent_ok(this.delete().send().await) }
    }

    /// Creates a deploy token for this app:
    /// `app.create_deploy_token().expiry(Duration::from_secs(30 * 86_400)).await`.
    pub fn create_deploy_token(&self) -> AppCreateDeployTokenBuilder {
        self.clone().create_deploy_token_builder()
    }

    #[builder(
        builder_type(name = AppCreateDeployTokenBuilder, vis = "pub"),
        start_fn(name = create_deploy_token_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_create_deploy_token(
        self,
        /// How long the token is valid (Fly's default when unset).
        expiry: Option<std::time::Duration>,
    ) -> Result<types::CreateAppDeployTokenResponse> {
        validate::app_name(&self.name)?;
        let body = types::CreateAppDeployTokenRequest {
            expiry: expiry
                .map(|d| crate::units::go_duration("deploy token expiry", d))
                .transpose()?,
        };
        answer!(self.client, OperationId::AppCreateDeployToken, |raw| {
            raw.app_create_deploy_token(&self.name, &body)
        })
    }

    /// The app's machines: list and create.
    pub fn machines(&self) -> Machines {
        Machines { app: self.clone() }
    }

    /// One machine by id.
    pub fn machine(&self, id: impl Into<String>) -> Machine {
        Machine::new(self.clone(), id.into())
    }

    /// The app's volumes: list and create.
    pub fn volumes(&self) -> Volumes {
        Volumes { app: self.clone() }
    }

    /// One volume by id.
    pub fn volume(&self, id: impl Into<String>) -> Volume {
        Volume {
            app: self.clone(),
            id: Arc::from(id.into()),
        }
    }

    /// The app's secrets (environment values set on machines).
    pub fn secrets(&self) -> Secrets {
        Secrets { app: self.clone() }
    }

    /// The app's secret keys (keys held by Fly for signing and encryption).
    pub fn secret_keys(&self) -> SecretKeys {
        SecretKeys { app: self.clone() }
    }

    /// The app's TLS certificates.
    pub fn certificates(&self) -> Certificates {
        Certificates { app: self.clone() }
    }

    /// The app's IP addresses.
    pub fn ip_assignments(&self) -> IpAssignments {
        IpAssignments { app: self.clone() }
    }
}
