//! App secrets and secret keys.

use fly_machines_api::OperationId;
use std::collections::BTreeMap;

use crate::context::CallContext;
use crate::resources::apps::App;
use crate::{Ensured, Result, types, validate};

/// An app's secrets: values exposed to its machines as environment variables.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub(crate) app: App,
}

#[bon::bon]
impl Secrets {
    /// Lists secrets (names and digests): `app.secrets().list().await`.
    pub fn list(&self) -> SecretsListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = SecretsListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_list(
        self,
        /// Include the values (needs a token allowed to read them).
        #[builder(default, with = || true)]
        show_values: bool,
    ) -> Result<types::AppSecrets> {
        let show_secrets = show_values.then_some(true);
        validate::app_name(&self.app.name)?;
        answer!(self.app.client, OperationId::SecretsList, |raw| {
            raw.secrets_list(&self.app.name, None, show_secrets)
        })
    }

    /// Sets several secrets at once.
    pub fn update(&self, values: BTreeMap<String, String>) -> SecretsUpdateBuilder {
        self.clone().update_builder(values)
    }

    #[builder(
        builder_type(name = SecretsUpdateBuilder, vis = "pub"),
        start_fn(name = update_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_update(
        self,
        #[builder(start_fn)] values: BTreeMap<String, String>,
        /// Retry after a timeout or 5xx: the values end the same, but the app's secrets
        /// version may go up twice.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::AppSecretsUpdateResp> {
        validate::app_name(&self.app.name)?;
        for name in values.keys() {
            validate::key("secret name", name)?;
        }
        let body = types::AppSecretsUpdateRequest {
            values: Some(values),
        };
        answer!(
            self.app.client,
            OperationId::SecretsUpdate,
            CallContext::retrying_unsafe(retry_unsafe),
            |raw| { raw.secrets_update(&self.app.name, &body) }
        )
    }

    /// One secret: `app.secrets().get("DATABASE_URL").show_value().await`.
    pub fn get(&self, name: impl Into<String>) -> SecretsGetBuilder {
        self.clone().get_builder(name)
    }

    #[builder(
        builder_type(name = SecretsGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_get(
        self,
        #[builder(start_fn)] name: String,
        /// Include the value (needs a token allowed to read it).
        #[builder(default, with = || true)]
        show_value: bool,
    ) -> Result<types::AppSecret> {
        let show_secrets = show_value.then_some(true);
        validate::app_name(&self.app.name)?;
        validate::key("secret name", &name)?;
        answer!(self.app.client, OperationId::SecretGet, |raw| {
            raw.secret_get(&self.app.name, &name, None, show_secrets)
        })
    }

    /// Sets one secret: `app.secrets().set("API_KEY", value).retry_unsafe().await`.
    pub fn set(&self, name: impl Into<String>, value: impl Into<String>) -> SecretsSetBuilder {
        self.clone().set_builder(name, value)
    }

    #[builder(
        builder_type(name = SecretsSetBuilder, vis = "pub"),
        start_fn(name = set_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_set(
        self,
        #[builder(start_fn)] name: String,
        #[builder(start_fn)] value: String,
        /// Retry after a timeout or 5xx: the value ends the same, but the app's secrets
        /// version may go up twice.
        #[builder(default, with = || true)]
        retry_unsafe: bool,
    ) -> Result<types::SetAppSecretResponse> {
        validate::app_name(&self.app.name)?;
        validate::key("secret name", &name)?;
        let body = types::SetAppSecretRequest { value: Some(value) };
        answer!(
            self.app.client,
            OperationId::SecretCreate,
            CallContext::retrying_unsafe(retry_unsafe),
            |raw| { raw.secret_create(&self.app.name, &name, &body) }
        )
    }

    /// Sets the secret only when the app has no secret of that name, and never changes one
    /// that is there: `app.secrets().set_if_absent("DATABASE_URL", url).await?`.
    ///
    /// Safe to repeat, in this process or another: the secret is read first, and a set whose
    /// answer was lost is sent again (it writes the same value). [`Ensured::was_created`] says
    /// whether this call set it. Two processes racing with different values may both set; the
    /// last one wins, as with any set.
    pub fn set_if_absent(
        &self,
        name: &str,
        value: &str,
    ) -> impl std::future::Future<Output = Result<Ensured<()>>> + Send + 'static {
        let this = self.clone();
        let name = name.to_owned();
        let value = value.to_owned();
        async move {
            let name = name.as_str();
            let value = value.as_str();
            match this.get(name).send().await {
                Ok(_) => return Ok(Ensured::found(())),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            this.set(name, value).retry_unsafe().send().await?;
            Ok(Ensured::created(()))
        }
    }

    /// Removes one secret unless it is already gone: `Ok(false)` when there was none (404).
    pub fn ensure_absent(
        &self,
        name: &str,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        let name = name.to_owned();
        async move {
            let name = name.as_str();
            crate::ensured::absent_ok(this.delete(name).send().await)
        }
    }

    /// Removes one secret.
    pub fn delete(&self, name: impl Into<String>) -> SecretsDeleteBuilder {
        self.clone().delete_builder(name)
    }

    #[builder(
        builder_type(name = SecretsDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_delete(
        self,
        #[builder(start_fn)] name: String,
    ) -> Result<types::DeleteAppSecretResponse> {
        validate::app_name(&self.app.name)?;
        validate::key("secret name", &name)?;
        answer!(self.app.client, OperationId::SecretDelete, |raw| {
            raw.secret_delete(&self.app.name, &name)
        })
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
    pub fn list(&self) -> SecretKeysListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = SecretKeysListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_list(
        self,
        /// Only keys of these types (comma-separated).
        types: Option<String>,
    ) -> Result<types::SecretKeys> {
        let types_filter = types;
        validate::app_name(&self.app.name)?;
        answer!(self.app.client, OperationId::SecretkeysList, |raw| {
            raw.secretkeys_list(&self.app.name, None, types_filter.as_deref())
        })
    }

    /// One key (public part only).
    pub fn get(&self, name: impl Into<String>) -> SecretKeysGetBuilder {
        self.clone().get_builder(name)
    }

    #[builder(
        builder_type(name = SecretKeysGetBuilder, vis = "pub"),
        start_fn(name = get_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_get(self, #[builder(start_fn)] name: String) -> Result<types::SecretKey> {
        self.check(&name)?;
        answer!(self.app.client, OperationId::SecretkeyGet, |raw| {
            raw.secretkey_get(&self.app.name, &name, None)
        })
    }

    /// Stores key material you provide:
    /// `keys.set("signing", "ed25519").value(base64_key).await`.
    pub fn set(
        &self,
        name: impl Into<String>,
        key_type: impl Into<String>,
    ) -> SecretKeysSetBuilder {
        self.clone().set_builder(name, key_type)
    }

    #[builder(
        builder_type(name = SecretKeysSetBuilder, vis = "pub"),
        start_fn(name = set_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_set(
        self,
        #[builder(start_fn)] name: String,
        /// The key type, as Fly names it (for example `ed25519`, `hmac`, `nacl_box`).
        #[builder(start_fn)]
        key_type: String,
        /// The raw key material, base64-encoded.
        value: String,
    ) -> Result<types::SetSecretkeyResponse> {
        self.check(&name)?;
        validate::key("secret key type", &key_type)?;
        let request = types::SetSecretkeyRequest {
            type_: Some(key_type),
            value: Some(value),
        };
        answer!(self.app.client, OperationId::SecretkeySet, |raw| {
            raw.secretkey_set(&self.app.name, &name, &request)
        })
    }

    /// Has Fly generate a key of `key_type`; its material never leaves Fly:
    /// `keys.generate("signing", "ed25519").await`.
    pub fn generate(
        &self,
        name: impl Into<String>,
        key_type: impl Into<String>,
    ) -> SecretKeysGenerateBuilder {
        self.clone().generate_builder(name, key_type)
    }

    #[builder(
        builder_type(name = SecretKeysGenerateBuilder, vis = "pub"),
        start_fn(name = generate_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_generate(
        self,
        #[builder(start_fn)] name: String,
        /// The key type, as Fly names it (for example `ed25519`, `hmac`, `nacl_box`).
        #[builder(start_fn)]
        key_type: String,
    ) -> Result<types::SetSecretkeyResponse> {
        self.check(&name)?;
        validate::key("secret key type", &key_type)?;
        let request = types::SetSecretkeyRequest {
            type_: Some(key_type),
            value: None,
        };
        answer!(self.app.client, OperationId::SecretkeyGenerate, |raw| {
            raw.secretkey_generate(&self.app.name, &name, &request)
        })
    }

    /// Deletes a key.
    pub fn delete(&self, name: impl Into<String>) -> SecretKeysDeleteBuilder {
        self.clone().delete_builder(name)
    }

    #[builder(
        builder_type(name = SecretKeysDeleteBuilder, vis = "pub"),
        start_fn(name = delete_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_delete(
        self,
        #[builder(start_fn)] name: String,
    ) -> Result<types::DeleteSecretkeyResponse> {
        self.check(&name)?;
        answer!(self.app.client, OperationId::SecretkeyDelete, |raw| {
            raw.secretkey_delete(&self.app.name, &name)
        })
    }

    /// Encrypts base64 `plaintext` with the key:
    /// `keys.encrypt("box", b64).associated_data(ad_b64).await`.
    pub fn encrypt(
        &self,
        name: impl Into<String>,
        plaintext: impl Into<String>,
    ) -> SecretKeysEncryptBuilder {
        self.clone().encrypt_builder(name, plaintext)
    }

    #[builder(
        builder_type(name = SecretKeysEncryptBuilder, vis = "pub"),
        start_fn(name = encrypt_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_encrypt(
        self,
        #[builder(start_fn)] name: String,
        /// The data to encrypt, base64-encoded.
        #[builder(start_fn)]
        plaintext: String,
        /// Data authenticated but not encrypted (base64); decrypting needs it again.
        associated_data: Option<String>,
        /// Use a key version at least this new (the app's secrets version).
        min_version: Option<String>,
    ) -> Result<types::EncryptSecretkeyResponse> {
        self.check(&name)?;
        let request = types::EncryptSecretkeyRequest {
            associated_data,
            plaintext: Some(plaintext),
        };
        answer!(self.app.client, OperationId::SecretkeyEncrypt, |raw| {
            raw.secretkey_encrypt(&self.app.name, &name, min_version.as_deref(), &request)
        })
    }

    /// Decrypts base64 `ciphertext` with the key:
    /// `keys.decrypt("box", sealed).associated_data(ad_b64).await`.
    pub fn decrypt(
        &self,
        name: impl Into<String>,
        ciphertext: impl Into<String>,
    ) -> SecretKeysDecryptBuilder {
        self.clone().decrypt_builder(name, ciphertext)
    }

    #[builder(
        builder_type(name = SecretKeysDecryptBuilder, vis = "pub"),
        start_fn(name = decrypt_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_decrypt(
        self,
        #[builder(start_fn)] name: String,
        /// The data to decrypt, base64-encoded, as `encrypt` returned it.
        #[builder(start_fn)]
        ciphertext: String,
        /// The associated data given to `encrypt` (base64).
        associated_data: Option<String>,
        /// Use a key version at least this new (the app's secrets version).
        min_version: Option<String>,
    ) -> Result<types::DecryptSecretkeyResponse> {
        self.check(&name)?;
        let request = types::DecryptSecretkeyRequest {
            associated_data,
            ciphertext: Some(ciphertext),
        };
        answer!(self.app.client, OperationId::SecretkeyDecrypt, |raw| {
            raw.secretkey_decrypt(&self.app.name, &name, min_version.as_deref(), &request)
        })
    }

    /// Signs base64 `plaintext` with the key: `keys.sign("signing", b64).await`.
    pub fn sign(
        &self,
        name: impl Into<String>,
        plaintext: impl Into<String>,
    ) -> SecretKeysSignBuilder {
        self.clone().sign_builder(name, plaintext)
    }

    #[builder(
        builder_type(name = SecretKeysSignBuilder, vis = "pub"),
        start_fn(name = sign_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_sign(
        self,
        #[builder(start_fn)] name: String,
        /// The data to sign, base64-encoded.
        #[builder(start_fn)]
        plaintext: String,
        /// Use a key version at least this new (the app's secrets version).
        min_version: Option<String>,
    ) -> Result<types::SignSecretkeyResponse> {
        self.check(&name)?;
        let request = types::SignSecretkeyRequest {
            plaintext: Some(plaintext),
        };
        answer!(self.app.client, OperationId::SecretkeySign, |raw| {
            raw.secretkey_sign(&self.app.name, &name, min_version.as_deref(), &request)
        })
    }

    /// Checks a base64 `signature` of base64 `plaintext`; an invalid one is an API error:
    /// `keys.verify("signing", b64, signature).await`.
    pub fn verify(
        &self,
        name: impl Into<String>,
        plaintext: impl Into<String>,
        signature: impl Into<String>,
    ) -> SecretKeysVerifyBuilder {
        self.clone().verify_builder(name, plaintext, signature)
    }

    #[builder(
        builder_type(name = SecretKeysVerifyBuilder, vis = "pub"),
        start_fn(name = verify_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_verify(
        self,
        #[builder(start_fn)] name: String,
        /// The signed data, base64-encoded.
        #[builder(start_fn)]
        plaintext: String,
        /// The signature, base64-encoded, as `sign` returned it.
        #[builder(start_fn)]
        signature: String,
        /// Use a key version at least this new (the app's secrets version).
        min_version: Option<String>,
    ) -> Result<()> {
        self.check(&name)?;
        let request = types::VerifySecretkeyRequest {
            plaintext: Some(plaintext),
            signature: Some(signature),
        };
        answer!(self.app.client, OperationId::SecretkeyVerify, |raw| {
            raw.secretkey_verify(&self.app.name, &name, min_version.as_deref(), &request)
        })
    }
}
