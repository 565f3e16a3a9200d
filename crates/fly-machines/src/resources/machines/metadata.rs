//! A machine's metadata: read, set and remove keys, or replace and merge them all at once.

use fly_machines_api::OperationId;
use std::collections::BTreeMap;

use super::Machine;
use crate::{Result, types, validate};

/// A machine's metadata (string keys and values). Holds a clone of its machine handle, so
/// its builders own everything they need.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub(super) machine: Machine,
}

impl Metadata {
    /// All keys and values.
    pub fn all(
        &self,
    ) -> impl std::future::Future<Output = Result<BTreeMap<String, String>>> + Send + 'static {
        let this = self.clone();
        async move {
            let m = &this.machine;
            m.check()?;
            answer!(m.app.client, OperationId::MachinesShowMetadata, |raw| {
                raw.machines_show_metadata(&m.app.name, &m.id)
            })
        }
    }

    /// One value; `Ok(None)` when the key is not set.
    pub fn get(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Option<String>>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        async move {
            let key = key.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            match m
                .app
                .client
                .call(OperationId::MachinesGetMetadataKey, |raw| {
                    raw.machines_get_metadata_key(&m.app.name, &m.id, key)
                })
                .await
            {
                Ok(r) => Ok(r.into_inner().value),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// Sets one key.
    pub fn set(
        &self,
        key: &str,
        value: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        let value = value.to_owned();
        async move {
            let key = key.as_str();
            let value = value.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            let body = types::UpsertMetadataKeyRequest {
                value: Some(value.to_string()),
                updated_at: None,
            };
            answer!(m.app.client, OperationId::MachinesUpsertMetadata, |raw| {
                raw.machines_upsert_metadata(
                    &m.app.name,
                    &m.id,
                    key,
                    m.lease_nonce.as_deref(),
                    &body,
                )
            })
        }
    }

    /// Removes one key.
    pub fn delete(
        &self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let key = key.to_owned();
        async move {
            let key = key.as_str();
            let m = &this.machine;
            m.check()?;
            validate::metadata_key(key)?;
            answer!(m.app.client, OperationId::MachinesDeleteMetadata, |raw| {
                raw.machines_delete_metadata(&m.app.name, &m.id, key, m.lease_nonce.as_deref())
            })
        }
    }
}

/// Metadata keys and values for [`Metadata::replace`] and [`Metadata::merge`], from any
/// iterator of pairs: `[("role", "web")]`, a `BTreeMap`, a `Vec<(String, String)>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataEntries(BTreeMap<String, String>);

impl<I, K, V> From<I> for MetadataEntries
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    fn from(entries: I) -> Self {
        MetadataEntries(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[bon::bon]
impl Metadata {
    /// Replaces all metadata with `entries` (PUT):
    /// `machine.metadata().replace([("role", "web")]).if_version(v).await`.
    pub fn replace(&self, entries: impl Into<MetadataEntries>) -> MetadataReplaceBuilder {
        self.clone().replace_builder(entries)
    }

    #[builder(
        builder_type(name = MetadataReplaceBuilder, vis = "pub"),
        start_fn(name = replace_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_replace(
        self,
        #[builder(start_fn, into)] entries: MetadataEntries,
        /// Apply only while the machine is at this version (`instance_id`); else 412.
        if_version: Option<String>,
        /// Apply only while the metadata was last updated at this time, as read; else 412.
        if_updated_at: Option<String>,
    ) -> Result<()> {
        let m = &self.machine;
        let request = self.request(entries, if_version, if_updated_at)?;
        answer!(m.app.client, OperationId::MachinesUpdateMetadata, |raw| {
            raw.machines_update_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
        })
    }

    /// Sets the keys of `entries`, keeping the others; an empty value removes its key (PATCH):
    /// `machine.metadata().merge([("role", "web"), ("canary", "")]).await`.
    pub fn merge(&self, entries: impl Into<MetadataEntries>) -> MetadataMergeBuilder {
        self.clone().merge_builder(entries)
    }

    #[builder(
        builder_type(name = MetadataMergeBuilder, vis = "pub"),
        start_fn(name = merge_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_merge(
        self,
        #[builder(start_fn, into)] entries: MetadataEntries,
        /// Apply only while the machine is at this version (`instance_id`); else 412.
        if_version: Option<String>,
        /// Apply only while the metadata was last updated at this time, as read; else 412.
        if_updated_at: Option<String>,
    ) -> Result<()> {
        let m = &self.machine;
        let request = self.request(entries, if_version, if_updated_at)?;
        answer!(m.app.client, OperationId::MachinesPatchMetadata, |raw| {
            raw.machines_patch_metadata(&m.app.name, &m.id, m.lease_nonce.as_deref(), &request)
        })
    }
}

impl Metadata {
    /// The body of a PUT or PATCH, after checking the machine and every key.
    fn request(
        &self,
        entries: MetadataEntries,
        if_version: Option<String>,
        if_updated_at: Option<String>,
    ) -> Result<types::UpdateMetadataRequest> {
        self.machine.check()?;
        for key in entries.0.keys() {
            validate::metadata_key(key)?;
        }
        Ok(types::UpdateMetadataRequest {
            machine_version: if_version,
            metadata: Some(entries.0),
            updated_at: if_updated_at,
        })
    }
}
