//! The error statuses every operation must declare: one rule, checked on every `regen`.
//!
//! Fly's own document declares an error response for about a third of the operations, so a
//! generated client would hand most error bodies back untyped. Our document declares, for every
//! operation, each error status the API really answers it with (see
//! `../shared/notes/api-behavior-and-peer-clients.md` §2.3, §4 to §6). [`required`] says which
//! those are; `regen` refuses a document that leaves one out, naming the operation, the status
//! and the shared response to point at. The typed mocks read the same declared statuses, so a
//! mock can give exactly the errors the client is told to expect.
//!
//! Every operation also declares server errors as the range `5XX`, with its shape's body (and
//! Postgres its 503 with `Retry-After` on its own). They often come from Fly's proxy rather than
//! the API, with a plain-text or empty body; the hand-written client keeps such a body as text
//! and still reports the real status, so declaring the range costs nothing when the body is not
//! JSON and gives every generated client the shape when it is.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::generate::OperationFacts;

/// The shape of an operation's error bodies, decided by where it lives in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error", "status"}` (`ErrorResponse`): the Machines API.
    Machines,
    /// The lease endpoints' `{status, code, message}` envelope (`LeaseEnvelope`).
    Lease,
    /// `{"error"}` (`PostgresErrorResponse`): the managed Postgres API.
    Postgres,
    /// A plain-text message: the token endpoints that answer text.
    Text,
}

impl ErrorShape {
    /// The shape the operation at `path` answers errors in; `entry` is its object in the document.
    pub fn of(path: &str, entry: &Value) -> ErrorShape {
        let answers_text = entry
            .pointer("/responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(code, _)| code.starts_with('2'))
            .any(|(_, r)| r.pointer("/content/text~1plain").is_some());
        if path.starts_with("/postgres") {
            ErrorShape::Postgres
        } else if path.ends_with("/lease") {
            ErrorShape::Lease
        } else if answers_text {
            ErrorShape::Text
        } else {
            ErrorShape::Machines
        }
    }

    /// Prefix of the shared responses (`components/responses`) in this shape.
    pub fn prefix(self) -> &'static str {
        match self {
            ErrorShape::Machines => "",
            ErrorShape::Lease => "Lease",
            ErrorShape::Postgres => "Postgres",
            ErrorShape::Text => "Text",
        }
    }

    /// How the body of an error answer in this shape reads, as `spec-diff` writes it.
    pub fn content(self) -> &'static str {
        match self {
            ErrorShape::Machines => "application/json ErrorResponse",
            ErrorShape::Lease => "application/json LeaseEnvelope",
            ErrorShape::Postgres => "application/json PostgresErrorResponse",
            ErrorShape::Text => "text/plain string",
        }
    }
}

/// One error status an operation must declare, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Required {
    /// The response key, such as `"404"`.
    pub status: &'static str,
    /// One line: when the API answers it.
    pub why: &'static str,
}

/// Name of the shared response for `status` in `shape` (`components/responses/<name>`).
pub fn response_name(shape: ErrorShape, status: &str) -> String {
    let reason = match status {
        "400" => "BadRequest",
        "401" => "Unauthorized",
        "404" => "NotFound",
        "408" => "RequestTimeout",
        "409" => "Conflict",
        "410" => "Gone",
        "412" => "PreconditionFailed",
        "422" => "UnprocessableEntity",
        "429" => "TooManyRequests",
        "503" => "Unavailable",
        "5XX" => "ServerError",
        other => other,
    };
    format!("{}{reason}", shape.prefix())
}

/// The error statuses the API answers `op` with: the rule, in one place.
pub fn required(op: &OperationFacts, entry: &Value) -> Vec<Required> {
    let shape = ErrorShape::of(&op.path, entry);
    let has_body = entry.get("requestBody").is_some();
    let has_query = parameter_places(entry).contains("query");
    let has_input = has_body || !parameter_places(entry).is_empty();
    let mutating = op.method != "GET";
    let names_resource = op.path.contains('{');
    let mut out = Vec::new();
    let mut want = |wanted: bool, status: &'static str, why: &'static str| {
        if wanted {
            out.push(Required { status, why });
        }
    };
    if shape == ErrorShape::Postgres {
        want(
            has_body || has_query,
            "400",
            "a missing or malformed parameter",
        );
        want(true, "401", "no token, or one without access");
        want(true, "404", "the organization, cluster or app is unknown");
        want(
            has_body || has_query,
            "422",
            "the body or parameters are refused",
        );
        want(true, "429", "over the rate limit");
        want(
            true,
            "503",
            "the cluster cannot be reached right now; Retry-After says when to try again",
        );
        want(true, "5XX", SERVER_ERROR);
        return out;
    }
    want(has_input, "400", "a malformed parameter or body");
    want(true, "401", "no token, or one without access");
    want(
        names_resource,
        "404",
        "the app, machine, volume or other named resource does not exist (yet, or any more)",
    );
    want(
        op.long_poll.is_some() || op.path.starts_with("/apps/{app_name}/machines"),
        "408",
        "the wait ran out, or the machine's host missed its deadline (ambiguous for creates)",
    );
    want(
        op.lease_nonce
            || (op.method == "POST"
                && (op.path.ends_with("/machines") || op.path.ends_with("/volumes"))),
        "409",
        "another holder's lease, a version conflict, or no capacity on the host",
    );
    want(
        mutating && op.path.contains("/machines"),
        "412",
        "the machine's state or version does not allow the change",
    );
    want(
        mutating && has_body,
        "422",
        "the body is refused (a name taken, a limit reached, a bad config)",
    );
    want(true, "429", "over the rate limit");
    want(true, "5XX", SERVER_ERROR);
    out
}

/// Why every operation declares `5XX`.
const SERVER_ERROR: &str = "a server or proxy error, whose body may not be JSON";

/// Where the operation's parameters sit (`path`, `query`, `header`).
fn parameter_places(entry: &Value) -> BTreeSet<&str> {
    entry
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("in").and_then(Value::as_str))
        .collect()
}

/// The error statuses `entry` declares (`4xx`, `5xx` and ranges such as `5XX`), sorted.
pub fn declared(entry: &Value) -> Vec<String> {
    entry
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(code, _)| code.clone())
        .filter(|code| code.starts_with('4') || code.starts_with('5'))
        .collect()
}

/// Checks every operation against the rule, and that all error responses of an operation have
/// the body of its shape (progenitor needs one error type per operation). Lists every problem.
pub fn check(raw: &Value, ops: &[OperationFacts]) -> Result<(), String> {
    let mut problems = Vec::new();
    for op in ops {
        let entry = &raw["paths"][&op.path][op.method.to_ascii_lowercase()];
        let shape = ErrorShape::of(&op.path, entry);
        let declared = declared(entry);
        for need in required(op, entry) {
            if !declared.iter().any(|d| d == need.status) {
                problems.push(format!(
                    "{} ({} {}) must declare {} ({}): add \"{}\": {{\"$ref\": \
                     \"#/components/responses/{}\"}}",
                    op.id,
                    op.method,
                    op.path,
                    need.status,
                    need.why,
                    need.status,
                    response_name(shape, need.status)
                ));
            }
        }
        for status in &declared {
            let response = resolve_response(raw, &entry["responses"][status.as_str()]);
            let content = response.and_then(|r| r.get("content"));
            let body = content_signature(content);
            if body != shape.content() {
                problems.push(format!(
                    "{} ({} {}) response {status}: the body is `{body}`, but every error of \
                     this operation must be `{}`",
                    op.id,
                    op.method,
                    op.path,
                    shape.content()
                ));
            }
            if shape == ErrorShape::Postgres
                && status == "503"
                && response
                    .and_then(|r| r.pointer("/headers/Retry-After"))
                    .is_none()
            {
                problems.push(format!(
                    "{} ({} {}) response 503 must declare the Retry-After header",
                    op.id, op.method, op.path
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} error status problem(s) in the document (rule: xtask/src/statuses.rs):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// Follows a `#/components/responses/...` reference; `None` when it leads nowhere.
pub fn resolve_response<'a>(raw: &'a Value, response: &'a Value) -> Option<&'a Value> {
    match response.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| raw.pointer(pointer)),
        None => (!response.is_null()).then_some(response),
    }
}

/// `"<media type> <schema>"` for a response's content, as [`ErrorShape::content`] writes it.
fn content_signature(content: Option<&Value>) -> String {
    let Some(map) = content.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "no body".into();
    };
    map.iter()
        .map(|(media, m)| {
            let schema = m.get("schema").unwrap_or(&Value::Null);
            let name = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .or_else(|| schema.get("type").and_then(Value::as_str))
                .unwrap_or("any");
            format!("{media} {name}")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str) -> OperationFacts {
        OperationFacts {
            id: "X".into(),
            name: "x".into(),
            method: method.into(),
            path: path.into(),
            idempotent: false,
            rate_limit: "global".into(),
            lease_nonce: false,
            long_poll: None,
            errors: Vec::new(),
            sdk: Default::default(),
        }
    }

    fn statuses(op: &OperationFacts, entry: Value) -> Vec<&'static str> {
        required(op, &entry).into_iter().map(|r| r.status).collect()
    }

    #[test]
    fn the_rule_follows_method_path_and_inputs() {
        let path_param = serde_json::json!({"parameters": [{"in": "path", "name": "app_name"}]});
        assert_eq!(
            statuses(&op("GET", "/apps/{app_name}"), path_param.clone()),
            ["400", "401", "404", "429", "5XX"]
        );
        assert_eq!(
            statuses(&op("GET", "/tokens/current"), serde_json::json!({})),
            ["401", "429", "5XX"]
        );
        let mut start = op("POST", "/apps/{app_name}/machines/{machine_id}/start");
        start.lease_nonce = true;
        assert_eq!(
            statuses(&start, path_param.clone()),
            ["400", "401", "404", "408", "409", "412", "429", "5XX"]
        );
        let create = serde_json::json!({"parameters": [{"in": "path"}], "requestBody": {}});
        assert_eq!(
            statuses(&op("POST", "/apps/{app_name}/machines"), create),
            [
                "400", "401", "404", "408", "409", "412", "422", "429", "5XX"
            ]
        );
        assert_eq!(
            statuses(&op("DELETE", "/postgres/{postgres_cluster_id}"), path_param),
            ["401", "404", "429", "503", "5XX"]
        );
    }

    #[test]
    fn shapes_follow_the_path_and_the_success_media_type() {
        let json = serde_json::json!({"responses": {"200": {"content": {"application/json": {}}}}});
        let text = serde_json::json!({"responses": {"200": {"content": {"text/plain": {}}}}});
        assert_eq!(ErrorShape::of("/postgres", &json), ErrorShape::Postgres);
        assert_eq!(
            ErrorShape::of("/apps/{a}/machines/{m}/lease", &json),
            ErrorShape::Lease
        );
        assert_eq!(ErrorShape::of("/tokens/kms", &text), ErrorShape::Text);
        assert_eq!(ErrorShape::of("/apps", &json), ErrorShape::Machines);
        assert_eq!(
            response_name(ErrorShape::Postgres, "503"),
            "PostgresUnavailable"
        );
        assert_eq!(response_name(ErrorShape::Machines, "5XX"), "ServerError");
    }

    #[test]
    fn a_missing_status_and_a_foreign_body_are_both_named() {
        let raw = serde_json::json!({
            "components": {"responses": {"NotFound": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/PostgresErrorResponse"}}}}}},
            "paths": {"/apps/{app_name}": {"get": {
                "parameters": [{"in": "path", "name": "app_name"}],
                "responses": {"404": {"$ref": "#/components/responses/NotFound"}}
            }}}
        });
        let err = check(&raw, &[op("GET", "/apps/{app_name}")]).unwrap_err();
        assert!(
            err.contains("must declare 401") && err.contains("#/components/responses/Unauthorized"),
            "{err}"
        );
        assert!(
            err.contains("response 404") && err.contains("PostgresErrorResponse"),
            "{err}"
        );
    }
}
