//! A request as handlers see it: the operation, path and query parameters, headers and body.

use std::collections::HashMap;

use axum::http::HeaderMap;
use bytes::Bytes;
use fly_machines_api::Operation;

use crate::errors::ApiError;

/// The header carrying a lease nonce.
pub const LEASE_NONCE_HEADER: &str = "fly-machine-lease-nonce";

/// The parameters of the path template the request matched.
#[derive(Debug, Default, Clone)]
pub(crate) struct PathParams(pub(crate) HashMap<String, String>);

impl PathParams {
    /// A parameter of the template (empty when the template has no such parameter).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A parsed request, as handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) op: &'static Operation,
    pub(crate) params: PathParams,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl ApiRequest {
    /// A path parameter (always present: the route matched).
    pub(crate) fn path_param(&self, name: &str) -> &str {
        self.params.get(name)
    }

    /// The last value of a query parameter.
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, comma-separated values split apart.
    pub(crate) fn query_list(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A boolean query parameter (`true`/`false`/`1`/`0`), 400 otherwise.
    pub(crate) fn query_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.query_param(name) {
            None | Some("") => Ok(None),
            Some("true" | "1" | "TRUE" | "True") => Ok(Some(true)),
            Some("false" | "0" | "FALSE" | "False") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(format!(
                "query parameter {name} must be true or false, got {v:?}"
            ))),
        }
    }

    /// An integer query parameter, 400 otherwise.
    pub(crate) fn query_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.query_param(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter {name} must be an integer, got {v:?}"
                ))
            }),
        }
    }

    /// The lease nonce header.
    pub(crate) fn nonce(&self) -> Option<&str> {
        self.headers
            .get(LEASE_NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The JSON body, which must be present.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(format!(
                "{} needs a JSON request body",
                self.op.id
            )));
        }
        self.parse_body()
    }

    /// The JSON body, or the default when the body is empty.
    pub(crate) fn json_or_default<T: serde::de::DeserializeOwned + Default>(
        &self,
    ) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.parse_body()
    }

    fn parse_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let invalid = |e: serde_json::Error| {
            ApiError::bad_request(format!("invalid request body for {}: {e}", self.op.id))
        };
        if crate::shapes::has_byte_fields(self.op.op) {
            // Go reads `[]byte` from base64 or from an array of numbers; so do we.
            let mut value: serde_json::Value =
                serde_json::from_slice(&self.body).map_err(invalid)?;
            crate::shapes::bytes_as_base64(self.op.op, &mut value);
            return serde_json::from_value(value).map_err(invalid);
        }
        serde_json::from_slice(&self.body).map_err(invalid)
    }
}

/// What a synchronous handler works on: the locked world, the time and the settings.
pub(crate) struct Env<'a> {
    pub(crate) world: &'a mut crate::state::World,
    pub(crate) now: u64,
    pub(crate) settings: &'a crate::emulator::Settings,
}
