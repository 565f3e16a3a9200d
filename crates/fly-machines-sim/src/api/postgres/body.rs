//! Request bodies of the Postgres operations, read field by field so that a wrong type gets
//! the status Fly documents for that field (mostly 422) instead of a generic decoding error.

use serde_json::{Map, Value};

use super::unprocessable;
use crate::errors::ApiError;
use crate::request::ApiRequest;

/// A JSON object body.
#[derive(Debug, Default)]
pub(crate) struct Fields(Map<String, Value>);

impl Fields {
    /// The body, which must be a JSON object.
    pub(crate) fn required(req: &ApiRequest) -> Result<Fields, ApiError> {
        Self::object(req.json::<Value>())
    }

    /// The body, or no fields when it is empty.
    pub(crate) fn optional(req: &ApiRequest) -> Result<Fields, ApiError> {
        Self::object(req.json_or_default::<Value>())
    }

    fn object(parsed: Result<Value, ApiError>) -> Result<Fields, ApiError> {
        match parsed.map_err(ApiError::in_postgres_shape)? {
            Value::Object(map) => Ok(Fields(map)),
            Value::Null => Ok(Fields::default()),
            other => Err(ApiError::bad_request(format!(
                "the request body must be a JSON object, got {}",
                kind(&other)
            ))
            .in_postgres_shape()),
        }
    }

    /// A string field (absent or null: `None`); any other type is 422.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(unprocessable(format!(
                "{name} must be a string, got {}",
                kind(other)
            ))),
        }
    }

    /// A boolean field; any other type is 422.
    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(unprocessable(format!(
                "{name} must be true or false, got {}",
                kind(other)
            ))),
        }
    }

    /// An integer field; any other type (or a fraction) is 422.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(unprocessable(format!(
                "{name} must be an integer, got {}",
                kind(other)
            ))),
        }
    }
}

/// A JSON value's type, for error messages (never the value: it may be a secret).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
