//! App secrets and secret keys.

use fly_machines_api::OperationId;
use std::collections::BTreeMap;

use crate::resources::apps::App;
use crate::{Result, types, validate};

/// An app's secrets: values exposed to its machines as environment variables.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub(crate) app: App,
}

#[bon::bon]
impl Secrets {
    /// Lists secrets (names and digests): `app.secrets().list().await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn list(
        &self,
        /// Include the values (needs a token allowed to read them).
        #[builder(default, with = || true)]
        show_values: bool,
    ) -> Result<types::AppSecrets> {
        let show_secrets = show_values.then_some(true);
        validate::app_name(&self.app.name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretsList, |raw| {
                raw.secrets_list(&self.app.name, None, show_secrets)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Sets several secrets at once.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn update(
        &self,
        #[builder(start_fn)] values: BTreeMap<String, String>,
    ) -> Result<types::AppSecretsUpdateResp> {
        validate::app_name(&self.app.name)?;
        for name in values.keys() {
            validate::key("secret name", name)?;
        }
        let body = types::AppSecretsUpdateRequest {
            values: Some(values),
        };
        let r = self
            .app
            .client
            .call(OperationId::SecretsUpdate, |raw| {
                raw.secrets_update(&self.app.name, &body)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// One secret: `app.secrets().get("DATABASE_URL").show_value().await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn get(
        &self,
        #[builder(start_fn)] name: &str,
        /// Include the value (needs a token allowed to read it).
        #[builder(default, with = || true)]
        show_value: bool,
    ) -> Result<types::AppSecret> {
        let show_secrets = show_value.then_some(true);
        validate::app_name(&self.app.name)?;
        validate::key("secret name", name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretGet, |raw| {
                raw.secret_get(&self.app.name, name, None, show_secrets)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Sets one secret.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn set(
        &self,
        #[builder(start_fn)] name: &str,
        #[builder(start_fn)] value: &str,
    ) -> Result<types::SetAppSecretResponse> {
        validate::app_name(&self.app.name)?;
        validate::key("secret name", name)?;
        let body = types::SetAppSecretRequest {
            value: Some(value.to_string()),
        };
        let r = self
            .app
            .client
            .call(OperationId::SecretCreate, |raw| {
                raw.secret_create(&self.app.name, name, &body)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Removes one secret.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn delete(
        &self,
        #[builder(start_fn)] name: &str,
    ) -> Result<types::DeleteAppSecretResponse> {
        validate::app_name(&self.app.name)?;
        validate::key("secret name", name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretDelete, |raw| {
                raw.secret_delete(&self.app.name, name)
            })
            .await?;
        Ok(r.into_inner())
    }
}

/// An app's secret keys: keys Fly holds to sign, verify, encrypt and decrypt for the app.
/// Byte fields are base64 strings.
#[derive(Debug, Clone)]
pub struct SecretKeys {
    pub(crate) app: App,
}

#[bon::bon]
impl SecretKeys {
    fn check(&self, name: &str) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::key("secret key name", name)
    }

    /// Lists the keys: `app.secret_keys().list().types("signing").await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn list(
        &self,
        /// Only keys of these types (comma-separated).
        types: Option<&str>,
    ) -> Result<types::SecretKeys> {
        let types_filter = types;
        validate::app_name(&self.app.name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeysList, |raw| {
                raw.secretkeys_list(&self.app.name, None, types_filter)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// One key (public part only).
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn get(&self, #[builder(start_fn)] name: &str) -> Result<types::SecretKey> {
        self.check(name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeyGet, |raw| {
                raw.secretkey_get(&self.app.name, name, None)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Stores key material you provide:
    /// `keys.set("signing", "ed25519").value(base64_key).await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)), on(String, into))]
    pub async fn set(
        &self,
        #[builder(start_fn)] name: &str,
        /// The key type, as Fly names it (for example `ed25519`, `hmac`, `nacl_box`).
        #[builder(start_fn)]
        key_type: &str,
        /// The raw key material, base64-encoded.
        value: String,
    ) -> Result<types::SetSecretkeyResponse> {
        self.check(name)?;
        validate::key("secret key type", key_type)?;
        let request = types::SetSecretkeyRequest {
            type_: Some(key_type.to_string()),
            value: Some(value),
        };
        let r = self
            .app
            .client
            .call(OperationId::SecretkeySet, |raw| {
                raw.secretkey_set(&self.app.name, name, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Has Fly generate a key of `key_type`; its material never leaves Fly:
    /// `keys.generate("signing", "ed25519").await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn generate(
        &self,
        #[builder(start_fn)] name: &str,
        /// The key type, as Fly names it (for example `ed25519`, `hmac`, `nacl_box`).
        #[builder(start_fn)]
        key_type: &str,
    ) -> Result<types::SetSecretkeyResponse> {
        self.check(name)?;
        validate::key("secret key type", key_type)?;
        let request = types::SetSecretkeyRequest {
            type_: Some(key_type.to_string()),
            value: None,
        };
        let r = self
            .app
            .client
            .call(OperationId::SecretkeyGenerate, |raw| {
                raw.secretkey_generate(&self.app.name, name, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Deletes a key.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn delete(
        &self,
        #[builder(start_fn)] name: &str,
    ) -> Result<types::DeleteSecretkeyResponse> {
        self.check(name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeyDelete, |raw| {
                raw.secretkey_delete(&self.app.name, name)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Encrypts with the key.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn encrypt(
        &self,
        #[builder(start_fn)] name: &str,
        #[builder(start_fn)] request: types::EncryptSecretkeyRequest,
    ) -> Result<types::EncryptSecretkeyResponse> {
        self.check(name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeyEncrypt, |raw| {
                raw.secretkey_encrypt(&self.app.name, name, None, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Decrypts with the key.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn decrypt(
        &self,
        #[builder(start_fn)] name: &str,
        #[builder(start_fn)] request: types::DecryptSecretkeyRequest,
    ) -> Result<types::DecryptSecretkeyResponse> {
        self.check(name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeyDecrypt, |raw| {
                raw.secretkey_decrypt(&self.app.name, name, None, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Signs with the key.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn sign(
        &self,
        #[builder(start_fn)] name: &str,
        #[builder(start_fn)] request: types::SignSecretkeyRequest,
    ) -> Result<types::SignSecretkeyResponse> {
        self.check(name)?;
        let r = self
            .app
            .client
            .call(OperationId::SecretkeySign, |raw| {
                raw.secretkey_sign(&self.app.name, name, None, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Verifies a signature; an invalid signature is an API error.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn verify(
        &self,
        #[builder(start_fn)] name: &str,
        #[builder(start_fn)] request: types::VerifySecretkeyRequest,
    ) -> Result<()> {
        self.check(name)?;
        self.app
            .client
            .call(OperationId::SecretkeyVerify, |raw| {
                raw.secretkey_verify(&self.app.name, name, None, &request)
            })
            .await?;
        Ok(())
    }
}
