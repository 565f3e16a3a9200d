//! Checks the OpenAPI `links` of our document: each one names an operation that exists, fills
//! only parameters that operation declares, and takes its values from runtime expressions
//! that point somewhere real (the source operation's own parameters, its request body or its
//! response body).
//!
//! Links tell a stateful test tool (schemathesis) which call uses what a create made: without
//! them it only ever sends made-up ids and never gets past a 404. They change no generated
//! code, so nothing else would notice a link to a renamed operation or parameter.

use serde_json::Value;

/// Every link problem in `raw`, one per line; `Ok` when there is none.
pub fn check(raw: &Value) -> Result<(), String> {
    let operations = operations(raw);
    let mut problems = Vec::new();
    let mut count = 0;
    for source in &operations {
        let Some(responses) = source.entry.get("responses").and_then(Value::as_object) else {
            continue;
        };
        for (status, response) in responses {
            let Some(links) = response.get("links").and_then(Value::as_object) else {
                continue;
            };
            for (name, link) in links {
                count += 1;
                let place = format!("{} {status} link `{name}`", source.id);
                check_link(&place, link, source, &operations, &mut problems);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {count} links are broken:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// How many links the document declares.
#[cfg(test)]
pub fn count(raw: &Value) -> usize {
    operations(raw)
        .iter()
        .filter_map(|op| op.entry.get("responses").and_then(Value::as_object))
        .flat_map(|responses| responses.values())
        .filter_map(|response| response.get("links").and_then(Value::as_object))
        .map(serde_json::Map::len)
        .sum()
}

/// One operation of the document, as links see it.
struct Op<'a> {
    id: &'a str,
    entry: &'a Value,
    /// (location, name) of each declared parameter.
    parameters: Vec<(&'a str, &'a str)>,
}

fn operations(raw: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for item in raw["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(entry) = item.get(method) else {
                continue;
            };
            let parameters = entry
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p.get("in")?.as_str()?, p.get("name")?.as_str()?)))
                .collect();
            out.push(Op {
                id: entry
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                entry,
                parameters,
            });
        }
    }
    out
}

fn check_link(
    place: &str,
    link: &Value,
    source: &Op<'_>,
    operations: &[Op<'_>],
    problems: &mut Vec<String>,
) {
    if link.get("operationRef").is_some() {
        problems.push(format!("{place}: use operationId, not operationRef"));
        return;
    }
    let Some(target_id) = link.get("operationId").and_then(Value::as_str) else {
        problems.push(format!("{place}: no operationId"));
        return;
    };
    let Some(target) = operations.iter().find(|op| op.id == target_id) else {
        problems.push(format!("{place}: operation {target_id:?} does not exist"));
        return;
    };
    let parameters = link.get("parameters").and_then(Value::as_object);
    if parameters.is_none_or(serde_json::Map::is_empty) {
        problems.push(format!("{place}: passes no parameter to {target_id}"));
    }
    for (key, expression) in parameters.into_iter().flatten() {
        let (location, name) = split_parameter(key);
        let declared = target
            .parameters
            .iter()
            .any(|(l, n)| *n == name && location.is_none_or(|location| location == *l));
        if !declared {
            problems.push(format!(
                "{place}: {target_id} has no parameter {key:?} (declared: {})",
                target
                    .parameters
                    .iter()
                    .map(|(l, n)| format!("{l}.{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match expression.as_str() {
            Some(expression) => {
                if let Err(why) = check_expression(expression, source) {
                    problems.push(format!("{place}: parameter {key:?}: {why}"));
                }
            }
            None => problems.push(format!(
                "{place}: parameter {key:?} is not a runtime expression string"
            )),
        }
    }
}

/// `path.app_name` → (Some("path"), "app_name"); `app_name` → (None, "app_name").
fn split_parameter(key: &str) -> (Option<&str>, &str) {
    match key.split_once('.') {
        Some((location @ ("path" | "query" | "header" | "cookie"), name)) => (Some(location), name),
        _ => (None, key),
    }
}

/// Whether `expression` can be evaluated on `source`'s exchange: its own path, query or header
/// parameters, or a JSON pointer into its request or response body.
fn check_expression(expression: &str, source: &Op<'_>) -> Result<(), String> {
    if let Some(rest) = expression.strip_prefix("$request.") {
        if let Some(pointer) = rest.strip_prefix("body") {
            return check_pointer(
                expression,
                pointer,
                source.entry.get("requestBody").is_some(),
            );
        }
        let Some((location, name)) = rest.split_once('.') else {
            return Err(format!("{expression:?} names no parameter"));
        };
        if !["path", "query", "header"].contains(&location) {
            return Err(format!("{expression:?}: unknown location {location:?}"));
        }
        if !source
            .parameters
            .iter()
            .any(|(l, n)| *l == location && *n == name)
        {
            return Err(format!(
                "{expression:?}: {} declares no {location} parameter {name:?}",
                source.id
            ));
        }
        return Ok(());
    }
    if let Some(pointer) = expression.strip_prefix("$response.body") {
        return check_pointer(expression, pointer, true);
    }
    if expression.starts_with("$response.header.") {
        return Ok(());
    }
    Err(format!(
        "{expression:?} is not a runtime expression this document uses \
         ($request.path|query|header.<name>, $request.body#/<pointer>, $response.body#/<pointer>)"
    ))
}

fn check_pointer(expression: &str, pointer: &str, has_body: bool) -> Result<(), String> {
    if !has_body {
        return Err(format!(
            "{expression:?}: the operation sends no request body"
        ));
    }
    if pointer.is_empty() || pointer.starts_with("#/") {
        Ok(())
    } else {
        Err(format!(
            "{expression:?}: a body is read with `#/<JSON pointer>`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(link: Value) -> Value {
        json!({"paths": {
            "/apps/{app_name}/machines": {"post": {
                "operationId": "Machines_create",
                "parameters": [{"in": "path", "name": "app_name"}],
                "requestBody": {},
                "responses": {"200": {"links": {"Machines_show": link}}}
            }},
            "/apps/{app_name}/machines/{machine_id}": {"get": {
                "operationId": "Machines_show",
                "parameters": [
                    {"in": "path", "name": "app_name"},
                    {"in": "path", "name": "machine_id"},
                    {"in": "header", "name": "fly-machine-lease-nonce"}
                ],
                "responses": {}
            }}
        }})
    }

    #[test]
    fn a_link_to_a_real_operation_and_parameters_passes() {
        let good = document(json!({
            "operationId": "Machines_show",
            "parameters": {
                "app_name": "$request.path.app_name",
                "machine_id": "$response.body#/id",
                "header.fly-machine-lease-nonce": "$response.body#/data/nonce"
            }
        }));
        assert_eq!(check(&good), Ok(()));
        assert_eq!(count(&good), 1);
    }

    #[test]
    fn broken_links_are_named() {
        let cases = [
            (
                json!({"operationId": "Machines_gone", "parameters": {"app_name": "$request.path.app_name"}}),
                "does not exist",
            ),
            (
                json!({"operationId": "Machines_show", "parameters": {"machine": "$response.body#/id"}}),
                "has no parameter \"machine\"",
            ),
            (
                json!({"operationId": "Machines_show", "parameters": {"query.app_name": "$request.path.app_name"}}),
                "has no parameter \"query.app_name\"",
            ),
            (
                json!({"operationId": "Machines_show", "parameters": {"app_name": "$request.path.app"}}),
                "declares no path parameter \"app\"",
            ),
            (
                json!({"operationId": "Machines_show", "parameters": {"machine_id": "$response.body/id"}}),
                "JSON pointer",
            ),
            (
                json!({"operationId": "Machines_show"}),
                "passes no parameter",
            ),
            (
                json!({"operationRef": "#/paths/x", "parameters": {"app_name": "$request.path.app_name"}}),
                "use operationId",
            ),
        ];
        for (link, expected) in cases {
            let problems = check(&document(link.clone())).expect_err(&link.to_string());
            assert!(problems.contains(expected), "{link}: {problems}");
        }
    }

    /// Our own document: every create links to the operations that use what it made, and
    /// every link names a real operation and real parameters.
    #[test]
    fn our_document_links_creates_to_what_uses_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let raw = crate::spec::read_json(&root.join(crate::spec::SPEC_PATH)).unwrap();
        check(&raw).unwrap();
        let linked_from = |id: &str| {
            operations(&raw)
                .into_iter()
                .find(|op| op.id == id)
                .and_then(|op| op.entry.get("responses").and_then(Value::as_object))
                .map(|responses| {
                    responses
                        .values()
                        .filter_map(|r| r.get("links").and_then(Value::as_object))
                        .flat_map(|links| links.keys().cloned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        for (create, uses) in [
            ("Apps_create", "Machines_create"),
            ("Apps_create", "Volumes_create"),
            ("Apps_create", "Secret_create"),
            ("Apps_create", "App_IPAssignments_create"),
            ("Machines_create", "Machines_start"),
            ("Machines_create", "Machines_create_lease"),
            ("Volumes_create", "Volume_delete"),
            ("Machines_create_lease", "Machines_release_lease"),
            ("Postgres_create", "Postgres_databases_create"),
            ("Postgres_databases_create", "Postgres_databases_delete"),
            ("App_IPAssignments_create", "App_IPAssignments_delete"),
        ] {
            assert!(
                linked_from(create).iter().any(|l| l == uses),
                "{create} has no link to {uses}"
            );
        }
        assert!(count(&raw) > 150, "{} links", count(&raw));
    }
}
