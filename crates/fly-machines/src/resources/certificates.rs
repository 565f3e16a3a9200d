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
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn list(
        &self,
        /// Only hostnames matching this.
        filter: Option<&str>,
        /// Continue after this cursor (from the previous page).
        cursor: Option<&str>,
        /// Page size.
        limit: Option<u32>,
    ) -> Result<types::ListCertificatesResponse> {
        validate::app_name(&self.app.name)?;
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesList, |raw| {
                raw.app_certificates_list(&self.app.name, cursor, filter, limit.map(i64::from))
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Requests a certificate from Let's Encrypt for `hostname`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn request_acme(
        &self,
        #[builder(start_fn)] hostname: &str,
    ) -> Result<types::CertificateDetail> {
        self.check(hostname)?;
        let body = types::CreateAcmeCertificateRequest {
            hostname: Some(hostname.to_string()),
        };
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesAcmeCreate, |raw| {
                raw.app_certificates_acme_create(&self.app.name, &body)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Uploads your own certificate (PEM chain and key).
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn import_custom(
        &self,
        #[builder(start_fn)] hostname: &str,
        #[builder(start_fn)] fullchain: &str,
        #[builder(start_fn)] private_key: &str,
    ) -> Result<types::CertificateDetail> {
        self.check(hostname)?;
        let body = types::CreateCustomCertificateRequest {
            hostname: Some(hostname.to_string()),
            fullchain: Some(fullchain.to_string()),
            private_key: Some(private_key.to_string()),
        };
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesCustomCreate, |raw| {
                raw.app_certificates_custom_create(&self.app.name, &body)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// The certificate details of one hostname.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn get(
        &self,
        #[builder(start_fn)] hostname: &str,
    ) -> Result<types::CertificateDetail> {
        self.check(hostname)?;
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesShow, |raw| {
                raw.app_certificates_show(&self.app.name, hostname)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Removes the hostname and all its certificates.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn delete(&self, #[builder(start_fn)] hostname: &str) -> Result<()> {
        self.check(hostname)?;
        self.app
            .client
            .call(OperationId::AppCertificatesDelete, |raw| {
                raw.app_certificates_delete(&self.app.name, hostname)
            })
            .await?;
        Ok(())
    }

    /// Removes the hostname unless it is already gone: `Ok(false)` when there was nothing to
    /// remove (404).
    pub async fn ensure_absent(&self, hostname: &str) -> Result<bool> {
        crate::ensured::absent_ok(self.delete(hostname).send().await)
    }

    /// Removes only the ACME-issued certificate.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn delete_acme(
        &self,
        #[builder(start_fn)] hostname: &str,
    ) -> Result<types::CertificateDetail> {
        self.check(hostname)?;
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesAcmeDelete, |raw| {
                raw.app_certificates_acme_delete(&self.app.name, hostname)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Removes only the custom certificate.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn delete_custom(
        &self,
        #[builder(start_fn)] hostname: &str,
    ) -> Result<types::DestroyCustomCertificateResponse> {
        self.check(hostname)?;
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesCustomDelete, |raw| {
                raw.app_certificates_custom_delete(&self.app.name, hostname)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Re-checks DNS and issuance for the hostname.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn check_dns(
        &self,
        #[builder(start_fn)] hostname: &str,
    ) -> Result<types::CertificateCheckResponse> {
        self.check(hostname)?;
        let r = self
            .app
            .client
            .call(OperationId::AppCertificatesCheck, |raw| {
                raw.app_certificates_check(&self.app.name, hostname)
            })
            .await?;
        Ok(r.into_inner())
    }
}
