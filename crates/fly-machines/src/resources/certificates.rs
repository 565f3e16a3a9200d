//! TLS certificates of an app's hostnames.

use crate::resources::apps::App;
use crate::{Result, types, validate};
use fly_machines_api::OperationId;

/// An app's certificates.
#[derive(Debug, Clone)]
pub struct Certificates {
    pub(crate) app: App,
}

#[bon::bon]
impl Certificates {
    fn check(&self, hostname: &str) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::host("hostname", hostname)
    }

    /// Lists certificates: `app.certificates().list().filter("example.com").limit(50).await`.
    pub fn list(&self) -> CertificatesListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = CertificatesListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_list(
        self,
        /// Only hostnames matching this.
        filter: Option<String>,
        /// Continue after this cursor (from the previous page).
        cursor: Option<String>,
        /// Page size.
        limit: Option<u32>,
    ) -> Result<types::ListCertificatesResponse> {
        validate::app_name(&self.app.name)?;
        answer!(self.app.client, OperationId::AppCertificatesList, |raw| {
            raw.app_certificates_list(
                &self.app.name,
                cursor.as_deref(),
                filter.as_deref(),
                limit.map(i64::from),
            )
        })
    }

    /// Requests a certificate from Let's Encrypt for `hostname`.
    pub fn request_acme(&self, hostname: impl Into<String>) -> CertificatesRequestAcmeBuilder {
        self.clone().request_acme_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesRequestAcmeBuilder, vis = "pub"),
        start_fn(name = request_acme_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_request_acme(
        self,
        #[builder(start_fn)] hostname: String,
    ) -> Result<types::CertificateDetail> {
        self.check(&hostname)?;
        let body = types::CreateAcmeCertificateRequest {
            hostname: Some(hostname),
        };
        answer!(
            self.app.client,
            OperationId::AppCertificatesAcmeCreate,
            |raw| raw.app_certificates_acme_create(&self.app.name, &body)
        )
    }

    /// Uploads your own certificate (PEM chain and key).
    pub fn import_custom(
        &self,
        hostname: impl Into<String>,
        fullchain: impl Into<String>,
        private_key: impl Into<String>,
    ) -> CertificatesImportCustomBuilder {
        self.clone()
            .import_custom_builder(hostname, fullchain, private_key)
    }

    #[builder(
        builder_type(name = CertificatesImportCustomBuilder, vis = "pub"),
        start_fn(name = import_custom_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_import_custom(
        self,
        #[builder(start_fn)] hostname: String,
        #[builder(start_fn)] fullchain: String,
        #[builder(start_fn)] private_key: String,
    ) -> Result<types::CertificateDetail> {
        self.check(&hostname)?;
        let body = types::CreateCustomCertificateRequest {
            hostname: Some(hostname),
            fullchain: Some(fullchain),
            private_key: Some(private_key),
        };
        answer!(
            self.app.client,
            OperationId::AppCertificatesCustomCreate,
            |raw| raw.app_certificates_custom_create(&self.app.name, &body)
        )
    }

    /// The certificate details of one hostname.
    pub fn get(&self, hostname: impl Into<String>) -> CertificatesGetBuilder {
        self.clone().get_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_get(
        self,
        #[builder(start_fn)] hostname: String,
    ) -> Result<types::CertificateDetail> {
        self.check(&hostname)?;
        answer!(self.app.client, OperationId::AppCertificatesShow, |raw| {
            raw.app_certificates_show(&self.app.name, &hostname)
        })
    }

    /// Removes the hostname and all its certificates.
    pub fn delete(&self, hostname: impl Into<String>) -> CertificatesDeleteBuilder {
        self.clone().delete_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_delete(self, #[builder(start_fn)] hostname: String) -> Result<()> {
        self.check(&hostname)?;
        answer!(self.app.client, OperationId::AppCertificatesDelete, |raw| {
            raw.app_certificates_delete(&self.app.name, &hostname)
        })
    }

    /// Removes the hostname unless it is already gone: `Ok(false)` when there was nothing to
    /// remove (404).
    pub fn ensure_absent(
        &self,
        hostname: &str,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        let hostname = hostname.to_owned();
        async move {
            let hostname = hostname.as_str();
            crate::ensured::absent_ok(this.delete(hostname).send().await)
        }
    }

    /// Removes only the ACME-issued certificate.
    pub fn delete_acme(&self, hostname: impl Into<String>) -> CertificatesDeleteAcmeBuilder {
        self.clone().delete_acme_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesDeleteAcmeBuilder, vis = "pub"),
        start_fn(name = delete_acme_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_delete_acme(
        self,
        #[builder(start_fn)] hostname: String,
    ) -> Result<types::CertificateDetail> {
        self.check(&hostname)?;
        answer!(
            self.app.client,
            OperationId::AppCertificatesAcmeDelete,
            |raw| raw.app_certificates_acme_delete(&self.app.name, &hostname)
        )
    }

    /// Removes only the custom certificate.
    pub fn delete_custom(&self, hostname: impl Into<String>) -> CertificatesDeleteCustomBuilder {
        self.clone().delete_custom_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesDeleteCustomBuilder, vis = "pub"),
        start_fn(name = delete_custom_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_delete_custom(
        self,
        #[builder(start_fn)] hostname: String,
    ) -> Result<types::DestroyCustomCertificateResponse> {
        self.check(&hostname)?;
        answer!(
            self.app.client,
            OperationId::AppCertificatesCustomDelete,
            |raw| raw.app_certificates_custom_delete(&self.app.name, &hostname)
        )
    }

    /// Re-checks DNS and issuance for the hostname.
    pub fn check_dns(&self, hostname: impl Into<String>) -> CertificatesCheckDnsBuilder {
        self.clone().check_dns_builder(hostname)
    }

    #[builder(
        builder_type(name = CertificatesCheckDnsBuilder, vis = "pub"),
        start_fn(name = check_dns_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_check_dns(
        self,
        #[builder(start_fn)] hostname: String,
    ) -> Result<types::CertificateCheckResponse> {
        self.check(&hostname)?;
        answer!(self.app.client, OperationId::AppCertificatesCheck, |raw| {
            raw.app_certificates_check(&self.app.name, &hostname)
        })
    }
}
