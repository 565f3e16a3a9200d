//! App secrets and secret keys, as versioned stores. Secret-key cryptography is simulated.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use fly_machines_api::types;
use rand::Rng;
use serde::Deserialize;

use crate::encoding::{b64, unb64};
use crate::errors::ApiError;
use crate::ids::{fnv64, stream_bytes};
use crate::reply::ok_json;
use crate::reply::{HandlerResult, Reply};
use crate::request::{ApiRequest, Env};
use crate::state::{App, Secret, SecretKey};
use crate::time::rfc3339;

fn valid_secret_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 256
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_secret_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid secret name {name:?}: use letters, digits and underscores, not starting with a digit"
        )))
    }
}

fn digest(value: &str) -> String {
    format!("{:016x}", fnv64(value.as_bytes()))
}

fn check_min_version(req: &ApiRequest, app: &App) -> Result<(), ApiError> {
    if let Some(v) = req.query_param("min_version").filter(|v| !v.is_empty()) {
        let min: i64 = v.parse().map_err(|_| {
            ApiError::bad_request(format!("min_version must be an integer, got {v:?}"))
        })?;
        if min > app.secrets_version {
            return Err(ApiError::precondition(format!(
                "secrets version {min} is not available yet (current version {})",
                app.secrets_version
            )));
        }
    }
    Ok(())
}

fn secret_view(name: &str, s: &Secret, show: bool) -> types::AppSecret {
    types::AppSecret {
        created_at: Some(rfc3339(s.created_ms)),
        digest: Some(digest(&s.value)),
        name: Some(name.to_string()),
        updated_at: Some(rfc3339(s.updated_ms)),
        value: show.then(|| s.value.clone()),
    }
}

pub(crate) fn list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let show = req.query_bool("show_secrets")?.unwrap_or(false);
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let secrets = app
        .secrets
        .iter()
        .map(|(n, s)| secret_view(n, s, show))
        .collect();
    ok_json(types::AppSecrets {
        secrets: Some(secrets),
    })
}

/// Bulk update body: values may be null (removal), which the generated type cannot hold.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkBody {
    values: Option<BTreeMap<String, Option<String>>>,
}

pub(crate) fn update(env: &mut Env<'_>, req: &ApiRequest, body: BulkBody) -> HandlerResult {
    let values = body.values.unwrap_or_default();
    for name in values.keys() {
        check_name(name)?;
    }
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    for (name, value) in values {
        match value {
            Some(v) => {
                let entry = app.secrets.entry(name).or_insert(Secret {
                    value: String::new(),
                    created_ms: now,
                    updated_ms: now,
                });
                entry.value = v;
                entry.updated_ms = now;
            }
            None => {
                app.secrets.remove(&name);
            }
        }
    }
    app.secrets_version += 1;
    let secrets = app
        .secrets
        .iter()
        .map(|(n, s)| secret_view(n, s, false))
        .collect();
    ok_json(types::AppSecretsUpdateResp {
        secrets: Some(secrets),
        version: Some(app.secrets_version),
    })
}

pub(crate) fn get(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let show = req.query_bool("show_secrets")?.unwrap_or(false);
    let name = req.path_param("secret_name");
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let s = app
        .secrets
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("secret {name} not found")))?;
    ok_json(secret_view(name, s, show))
}

pub(crate) fn set(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::SetAppSecretRequest,
) -> HandlerResult {
    let name = req.path_param("secret_name").to_string();
    check_name(&name)?;
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("value is required"))?;
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let entry = app.secrets.entry(name.clone()).or_insert(Secret {
        value: String::new(),
        created_ms: now,
        updated_ms: now,
    });
    entry.value = value;
    entry.updated_ms = now;
    let entry = entry.clone();
    app.secrets_version += 1;
    Ok(Reply::json(
        StatusCode::CREATED,
        types::SetAppSecretResponse {
            created_at: Some(rfc3339(entry.created_ms)),
            digest: Some(digest(&entry.value)),
            name: Some(name),
            updated_at: Some(rfc3339(entry.updated_ms)),
            value: None,
            version: Some(app.secrets_version),
        },
    ))
}

pub(crate) fn delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let name = req.path_param("secret_name");
    let app = env.world.app(req.path_param("app_name"))?;
    app.secrets
        .remove(name)
        .ok_or_else(|| ApiError::not_found(format!("secret {name} not found")))?;
    app.secrets_version += 1;
    ok_json(types::DeleteAppSecretResponse {
        version: Some(app.secrets_version),
    })
}

/// Key types that have a public half (signing and box keys).
fn has_public_key(kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    k.contains("sign") || k.contains("box") && !k.contains("secretbox") || k.contains("ed25519")
}

fn public_key(k: &SecretKey) -> Option<String> {
    has_public_key(&k.kind).then(|| b64(&stream_bytes(fnv64(&k.material) ^ 0x9b1c, 32)))
}

fn key_view(name: &str, k: &SecretKey) -> types::SecretKey {
    types::SecretKey {
        created_at: Some(rfc3339(k.created_ms)),
        name: Some(name.to_string()),
        public_key: public_key(k),
        type_: Some(k.kind.clone()),
        updated_at: Some(rfc3339(k.updated_ms)),
    }
}

fn key<'a>(app: &'a App, name: &str) -> Result<&'a SecretKey, ApiError> {
    app.secret_keys
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("secret key {name} not found")))
}

pub(crate) fn keys_list(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let types_filter = req.query_list("types");
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let keys = app
        .secret_keys
        .iter()
        .filter(|(_, k)| types_filter.is_empty() || types_filter.contains(&k.kind))
        .map(|(n, k)| key_view(n, k))
        .collect();
    ok_json(types::SecretKeys {
        secret_keys: Some(keys),
    })
}

pub(crate) fn key_get(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let name = req.path_param("secret_name");
    ok_json(key_view(name, key(app, name)?))
}

pub(crate) fn key_set(
    env: &mut Env<'_>,
    req: &ApiRequest,
    generate: bool,
    body: types::SetSecretkeyRequest,
) -> HandlerResult {
    let name = req.path_param("secret_name").to_string();
    check_name(&name)?;
    let kind = body
        .type_
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("type is required"))?;
    let material = match (generate, body.value.as_deref().filter(|v| !v.is_empty())) {
        (true, Some(_)) => {
            return Err(ApiError::bad_request(
                "value must be empty when generating a key",
            ));
        }
        (true, None) => {
            let mut bytes = vec![0u8; 32];
            env.world.rng.fill(&mut bytes[..]);
            bytes
        }
        (false, Some(v)) => unb64("value", v)?,
        (false, None) => return Err(ApiError::bad_request("value is required")),
    };
    let now = env.now;
    let app = env.world.app(req.path_param("app_name"))?;
    let created_ms = app.secret_keys.get(&name).map_or(now, |k| k.created_ms);
    let rec = SecretKey {
        kind,
        material,
        created_ms,
        updated_ms: now,
    };
    let resp = types::SetSecretkeyResponse {
        created_at: Some(rfc3339(rec.created_ms)),
        name: Some(name.clone()),
        public_key: public_key(&rec),
        type_: Some(rec.kind.clone()),
        updated_at: Some(rfc3339(now)),
        version: None,
    };
    app.secret_keys.insert(name, rec);
    app.secrets_version += 1;
    Ok(Reply::json(
        StatusCode::CREATED,
        types::SetSecretkeyResponse {
            version: Some(app.secrets_version),
            ..resp
        },
    ))
}

pub(crate) fn key_delete(env: &mut Env<'_>, req: &ApiRequest) -> HandlerResult {
    let name = req.path_param("secret_name");
    let app = env.world.app(req.path_param("app_name"))?;
    app.secret_keys
        .remove(name)
        .ok_or_else(|| ApiError::not_found(format!("secret key {name} not found")))?;
    app.secrets_version += 1;
    ok_json(types::DeleteSecretkeyResponse {
        version: Some(app.secrets_version),
    })
}

fn seal_seed(material: &[u8], associated: &[u8]) -> u64 {
    let mut buf = material.to_vec();
    buf.extend_from_slice(b"|ad|");
    buf.extend_from_slice(associated);
    fnv64(&buf)
}

fn xor(data: &[u8], seed: u64) -> Vec<u8> {
    let stream = stream_bytes(seed, data.len());
    data.iter().zip(stream).map(|(a, b)| a ^ b).collect()
}

fn opt_bytes(field: &str, v: Option<&str>) -> Result<Vec<u8>, ApiError> {
    v.filter(|v| !v.is_empty())
        .map_or(Ok(Vec::new()), |v| unb64(field, v))
}

pub(crate) fn key_encrypt(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::EncryptSecretkeyRequest,
) -> HandlerResult {
    let plaintext = opt_bytes("plaintext", body.plaintext.as_deref())?;
    let ad = opt_bytes("associated_data", body.associated_data.as_deref())?;
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let k = key(app, req.path_param("secret_name"))?;
    let seed = seal_seed(&k.material, &ad);
    let mut out = seed.to_be_bytes().to_vec();
    out.extend(xor(&plaintext, seed));
    ok_json(types::EncryptSecretkeyResponse {
        ciphertext: Some(b64(&out)),
    })
}

pub(crate) fn key_decrypt(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::DecryptSecretkeyRequest,
) -> HandlerResult {
    let ciphertext = opt_bytes("ciphertext", body.ciphertext.as_deref())?;
    let ad = opt_bytes("associated_data", body.associated_data.as_deref())?;
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let k = key(app, req.path_param("secret_name"))?;
    let seed = seal_seed(&k.material, &ad);
    if ciphertext.len() < 8 || ciphertext[..8] != seed.to_be_bytes() {
        return Err(ApiError::bad_request(
            "decryption failed: the ciphertext was not sealed with this key and associated data",
        ));
    }
    ok_json(types::DecryptSecretkeyResponse {
        plaintext: Some(b64(&xor(&ciphertext[8..], seed))),
    })
}

fn signature(material: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = material.to_vec();
    buf.extend_from_slice(b"|sig|");
    buf.extend_from_slice(plaintext);
    stream_bytes(fnv64(&buf), 64)
}

pub(crate) fn key_sign(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::SignSecretkeyRequest,
) -> HandlerResult {
    let plaintext = opt_bytes("plaintext", body.plaintext.as_deref())?;
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let k = key(app, req.path_param("secret_name"))?;
    ok_json(types::SignSecretkeyResponse {
        signature: Some(b64(&signature(&k.material, &plaintext))),
    })
}

pub(crate) fn key_verify(
    env: &mut Env<'_>,
    req: &ApiRequest,
    body: types::VerifySecretkeyRequest,
) -> HandlerResult {
    let plaintext = opt_bytes("plaintext", body.plaintext.as_deref())?;
    let sig = opt_bytes("signature", body.signature.as_deref())?;
    let app = env.world.app(req.path_param("app_name"))?;
    check_min_version(req, app)?;
    let k = key(app, req.path_param("secret_name"))?;
    if sig == signature(&k.material, &plaintext) {
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::bad_request("signature verification failed"))
    }
}
