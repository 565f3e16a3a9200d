//! Apps: list, create, get, delete, and the way to everything inside an app.

use crate::resources::certificates::Certificates;
use crate::resources::ips::IpAssignments;
use crate::resources::machines::{Machine, Machines};
use crate::resources::secrets::{SecretKeys, Secrets};
use crate::resources::volumes::{Volume, Volumes};
use crate::{Client, Result, types, validate};
use fly_machines_api::OperationId;

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
            name: name.into(),
        }
    }
}

/// Listing and creating apps.
#[derive(Debug, Clone)]
pub struct Apps {
    client: Client,
}

#[bon::bon]
impl Apps {
    /// Lists the apps of an organization (`personal` for your personal org).
    pub async fn list(&self, org_slug: &str) -> Result<types::ListAppsResponse> {
        self.list_with_role(org_slug, None).await
    }

    /// Lists the apps of an organization, filtered by app role when given.
    pub async fn list_with_role(
        &self,
        org_slug: &str,
        app_role: Option<&str>,
    ) -> Result<types::ListAppsResponse> {
        validate::key("organization slug", org_slug)?;
        let r = self
            .client
            .call(OperationId::AppsList, |raw| {
                raw.apps_list(app_role, org_slug)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Creates an app: `client.apps().create("my-app", "personal").send().await`.
    #[builder(finish_fn = send)]
    pub async fn create(
        &self,
        #[builder(start_fn, into)] name: String,
        #[builder(start_fn, into)] org_slug: String,
        /// Name of a custom private network to put the app in.
        #[builder(into)]
        network: Option<String>,
        /// Whether to enable subdomains for the app's machines.
        enable_subdomains: Option<bool>,
    ) -> Result<types::CreateAppResponse> {
        validate::app_name(&name)?;
        validate::key("organization slug", &org_slug)?;
        let body = types::CreateAppRequest {
            name: Some(name),
            org_slug: Some(org_slug),
            network,
            enable_subdomains,
            idempotency_key: None,
            app_name: None,
        };
        let r = self
            .client
            .call(OperationId::AppsCreate, |raw| raw.apps_create(&body))
            .await?;
        Ok(r.into_inner())
    }
}

/// One app.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) client: Client,
    pub(crate) name: String,
}

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
    pub async fn get(&self) -> Result<types::App> {
        validate::app_name(&self.name)?;
        let r = self
            .client
            .call(OperationId::AppsShow, |raw| raw.apps_show(&self.name))
            .await?;
        Ok(r.into_inner())
    }

    /// Deletes the app and everything in it.
    pub async fn delete(&self) -> Result<()> {
        validate::app_name(&self.name)?;
        self.client
            .call(OperationId::AppsDelete, |raw| raw.apps_delete(&self.name))
            .await?;
        Ok(())
    }

    /// Creates a deploy token for this app; `expiry` is a Go duration such as `"720h"`.
    pub async fn create_deploy_token(
        &self,
        expiry: Option<&str>,
    ) -> Result<types::CreateAppDeployTokenResponse> {
        validate::app_name(&self.name)?;
        let body = types::CreateAppDeployTokenRequest {
            expiry: expiry.map(str::to_string),
        };
        let r = self
            .client
            .call(OperationId::AppCreateDeployToken, |raw| {
                raw.app_create_deploy_token(&self.name, &body)
            })
            .await?;
        Ok(r.into_inner())
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
            id: id.into(),
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
