//! The `x-sdk` extension: where each operation sits in the `fly-machines` handles.
//!
//! Each operation of our document says which resource it belongs to, the call a user writes to
//! reach it (`app.volume(id).delete()`), which field of the answer the client hands back when it
//! is not the whole answer (`data` of a lease envelope, `apps` of a page), and whether the call
//! places a machine or volume on a host (so Fly may answer that a region has no room). The typed
//! mocks take their names, their answer types, their capacity answers and their reference
//! tables from this one place.

use serde_json::Value;

/// The resources of the SDK, in the order the reference lists them, each with what it covers.
pub const RESOURCES: [(&str, &str); 16] = [
    ("apps", "Apps: `client.apps()`, `client.app(name)`"),
    ("machines", "Machines: `app.machines()`, `app.machine(id)`"),
    ("metadata", "Machine metadata: `app.machine(id).metadata()`"),
    ("volumes", "Volumes: `app.volumes()`, `app.volume(id)`"),
    ("secrets", "Secrets: `app.secrets()`"),
    ("secret_keys", "Secret keys: `app.secret_keys()`"),
    ("certificates", "TLS certificates: `app.certificates()`"),
    ("ip_assignments", "IP assignments: `app.ip_assignments()`"),
    ("orgs", "Organizations: `client.org(slug)`"),
    ("platform", "Platform: `client.platform()`"),
    ("tokens", "Tokens: `client.tokens()`"),
    (
        "postgres",
        "Managed Postgres clusters: `client.postgres().clusters()`, `client.postgres().cluster(id)`",
    ),
    (
        "postgres_databases",
        "Postgres databases: `cluster.databases()`, `cluster.database(name)`",
    ),
    (
        "postgres_users",
        "Postgres users: `cluster.users()`, `cluster.user(name)`",
    ),
    ("postgres_backups", "Postgres backups: `cluster.backups()`"),
    (
        "postgres_extensions",
        "Postgres extensions: `cluster.database(name).extensions()`",
    ),
];

/// What `x-sdk` says about one operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdkFacts {
    /// One of [`RESOURCES`].
    pub resource: String,
    /// The call as a user writes it, e.g. `app.volume(id).delete()`.
    pub call: String,
    /// The method the call ends in (`delete`).
    pub method: String,
    /// The field of the answer the client returns instead of the whole answer.
    pub unwrap: Option<String>,
    /// The call places a machine or a volume on a host.
    pub places: bool,
}

impl SdkFacts {
    /// The name of the operation's typed mock: `{resource}_{method}` (`volumes_delete`).
    pub fn mock_name(&self) -> String {
        format!("{}_{}", self.resource, self.method)
    }
}

/// Reads and checks `x-sdk` of the operation `id`.
pub fn read(id: &str, op: &Value) -> Result<SdkFacts, String> {
    let sdk = op
        .get("x-sdk")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{id}: `x-sdk` must be an object with `resource` and `call`"))?;
    if let Some(unknown) = sdk
        .keys()
        .find(|k| !["resource", "call", "unwrap", "places"].contains(&k.as_str()))
    {
        return Err(format!(
            "{id}: `x-sdk` has an unknown key `{unknown}` (expected resource, call, unwrap, places)"
        ));
    }
    let text = |key: &str| sdk.get(key).and_then(Value::as_str);
    let resource = text("resource")
        .filter(|r| RESOURCES.iter().any(|(name, _)| name == r))
        .ok_or_else(|| {
            let names: Vec<_> = RESOURCES.iter().map(|(name, _)| *name).collect();
            format!("{id}: `x-sdk.resource` must be one of {names:?}")
        })?;
    let call = text("call").ok_or_else(|| {
        format!("{id}: `x-sdk.call` must be the SDK call, e.g. `app.volume(id).delete()`")
    })?;
    let method = final_method(call).ok_or_else(|| {
        format!("{id}: `x-sdk.call` `{call}` does not end in a method call like `.delete()`")
    })?;
    let unwrap = match sdk.get("unwrap") {
        None => None,
        Some(Value::String(field)) if !field.is_empty() => Some(field.clone()),
        Some(other) => {
            return Err(format!(
                "{id}: `x-sdk.unwrap` must name a field, not {other}"
            ));
        }
    };
    let places = match sdk.get("places") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "{id}: `x-sdk.places` must be true or false, not {other}"
            ));
        }
    };
    Ok(SdkFacts {
        resource: resource.to_string(),
        call: call.to_string(),
        method,
        unwrap,
        places,
    })
}

/// `app.machine(id).metadata().merge(changes)` → `merge`: the last `.name(...)` of the call.
fn final_method(call: &str) -> Option<String> {
    let body = call.strip_suffix(')')?;
    let open = body.rfind('(')?;
    let head = &body[..open];
    let name = &head[head.rfind('.')? + 1..];
    let is_ident = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    is_ident.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Rust files under `dir`, recursively.
    fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }

    /// Each `x-sdk.call` names a public method of `fly-machines` defined in a file that makes the
    /// operation's call, so the reference cannot point users at a call that does not exist.
    #[test]
    fn every_call_names_a_method_of_the_sdk_next_to_its_operation() {
        let root = crate::workspace_root();
        let raw = crate::spec::read_json(&root.join(crate::spec::SPEC_PATH)).unwrap();
        let ops = crate::generate::read_operations(&raw, std::path::Path::new("spec")).unwrap();
        let sources: Vec<String> = rust_files(&root.join("crates/fly-machines/src"))
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        for op in &ops {
            let variant = format!("OperationId::{}", crate::mocks::upper_camel(&op.name));
            let method = &op.sdk.method;
            let defines = |src: &str| {
                [
                    format!("pub fn {method}("),
                    format!("pub async fn {method}("),
                ]
                .iter()
                .any(|def| src.contains(def.as_str()))
            };
            assert!(
                sources
                    .iter()
                    .any(|src| src.contains(&variant) && defines(src)),
                "{}: `{}` names `{method}`, but no file of fly-machines both defines it and \
                 calls {variant}",
                op.id,
                op.sdk.call
            );
        }
    }

    #[test]
    fn the_mock_is_named_after_the_resource_and_the_method() {
        let op = json!({"x-sdk": {"resource": "volumes", "call": "app.volume(id).delete()"}});
        let facts = read("Volume_delete", &op).unwrap();
        assert_eq!(facts.mock_name(), "volumes_delete");
        assert_eq!(facts.unwrap, None);
        assert!(!facts.places);
        let op = json!({"x-sdk": {"resource": "metadata",
            "call": "app.machine(id).metadata().merge(changes)", "unwrap": "value", "places": true}});
        let facts = read("X", &op).unwrap();
        assert_eq!(facts.mock_name(), "metadata_merge");
        assert_eq!(facts.unwrap.as_deref(), Some("value"));
        assert!(facts.places);
    }

    #[test]
    fn mistakes_name_the_operation_and_the_key() {
        let cases = [
            (json!({}), "`x-sdk` must be an object"),
            (
                json!({"x-sdk": {"resource": "boats", "call": "a.b()"}}),
                "x-sdk.resource",
            ),
            (json!({"x-sdk": {"resource": "apps"}}), "x-sdk.call"),
            (
                json!({"x-sdk": {"resource": "apps", "call": "app.get"}}),
                "does not end",
            ),
            (
                json!({"x-sdk": {"resource": "apps", "call": "a.B()"}}),
                "does not end",
            ),
            (
                json!({"x-sdk": {"resource": "apps", "call": "a.b()", "unwrap": 3}}),
                "unwrap",
            ),
            (
                json!({"x-sdk": {"resource": "apps", "call": "a.b()", "places": "y"}}),
                "places",
            ),
            (
                json!({"x-sdk": {"resource": "apps", "call": "a.b()", "extra": 1}}),
                "`extra`",
            ),
        ];
        for (op, wanted) in cases {
            let err = read("Apps_show", &op).unwrap_err();
            assert!(err.contains("Apps_show") && err.contains(wanted), "{err}");
        }
    }
}
