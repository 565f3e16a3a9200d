//! Real request and response documents (from Fly's docs and fly-go's tests, kept outside the
//! repository in `../shared/examples`) decoded into their generated types and encoded again.
//!
//! A document passes when nothing is lost: after dropping `null` members on both sides, the
//! re-encoded JSON equals the original, and every member is one our types know (found by walking
//! the type's JSON Schema). The only member left out on purpose is listed in [`LEFT_OUT`] with
//! the reason; any other unknown member fails the test, as does a document without a type.
//!
//! Where the folder does not exist (outside the maintainers' machines) the test says so and
//! passes without checking anything. The documents are never copied into this repository.

use std::collections::BTreeSet;
use std::path::PathBuf;

use fly_machines_api::types;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Decodes a document into one generated type and encodes it again.
type Check = fn(&Value) -> Outcome;

fn with<T: DeserializeOwned + Serialize + JsonSchema>() -> Check {
    round_trip::<T>
}

/// Members of real documents our document leaves out on purpose: file, JSON path, and why.
const LEFT_OUT: &[(&str, &str, &str)] = &[(
    "machine-config-containers-files.json",
    "containers[0].files[0].local_path",
    "a flyctl input, not an API field: flyctl reads that local file and sends its contents as \
     raw_value, so the API neither takes nor returns local_path, and a client that sent it would \
     send a value the server drops",
)];

/// The members of `file` our types are expected not to know.
fn left_out(file: &str) -> Vec<&'static str> {
    LEFT_OUT
        .iter()
        .filter(|(f, _, _)| *f == file)
        .map(|(_, path, _)| *path)
        .collect()
}

/// Every document and the generated type it is checked against.
fn catalogue() -> Vec<(&'static str, Check)> {
    use types::*;
    vec![
        ("app-create-request.json", with::<CreateAppRequest>()),
        ("app-create-response.json", with::<CreateAppResponse>()),
        ("app-get-response.json", with::<App>()),
        (
            "app-ip-assignment-create-request.json",
            with::<AssignIpRequest>(),
        ),
        ("app-list-response.json", with::<ListAppsResponse>()),
        (
            "certificate-detail-response.json",
            with::<CertificateDetail>(),
        ),
        (
            "certificate-list-response.json",
            with::<ListCertificatesResponse>(),
        ),
        ("error-response-app-not-found.json", with::<ErrorResponse>()),
        (
            "error-response-insufficient-capacity.json",
            with::<ErrorResponse>(),
        ),
        ("error-response-name-taken.json", with::<ErrorResponse>()),
        ("error-response-unauthorized.json", with::<ErrorResponse>()),
        (
            "machine-config-containers-files.json",
            with::<MachineConfig>(),
        ),
        ("machine-config-files-fragment.json", with::<Vec<File>>()),
        (
            "machine-config-multi-container.json",
            with::<MachineConfig>(),
        ),
        (
            "machine-config-restart-policy.json",
            with::<MachineConfig>(),
        ),
        (
            "machine-config-rootfs-fragment.json",
            with::<MachineConfig>(),
        ),
        (
            "machine-config-services-concurrency.json",
            with::<UpdateMachineRequest>(),
        ),
        (
            "machine-create-request-1.json",
            with::<CreateMachineRequest>(),
        ),
        (
            "machine-create-request-mount-extend.json",
            with::<CreateMachineRequest>(),
        ),
        (
            "machine-create-request-mounts-autostop.json",
            with::<CreateMachineRequest>(),
        ),
        ("machine-create-response-1.json", with::<Machine>()),
        ("machine-create-response-services.json", with::<Machine>()),
        ("machine-exec-request.json", with::<MachineExecRequest>()),
        ("machine-get-response-1.json", with::<Machine>()),
        (
            "machine-launch-request-1.json",
            with::<CreateMachineRequest>(),
        ),
        (
            "machine-lease-create-request.json",
            with::<CreateLeaseRequest>(),
        ),
        (
            "machine-lease-create-response.json",
            with::<LeaseEnvelope>(),
        ),
        ("machine-lease-error-response.json", with::<LeaseEnvelope>()),
        (
            "machine-lease-release-response.json",
            with::<LeaseReleaseEnvelope>(),
        ),
        ("machine-list-response-1.json", with::<Vec<Machine>>()),
        ("machine-list-response-2.json", with::<Vec<Machine>>()),
        (
            "machine-metadata-get-response.json",
            with::<std::collections::BTreeMap<String, String>>(),
        ),
        (
            "machine-metadata-upsert-request.json",
            with::<UpsertMetadataKeyRequest>(),
        ),
        (
            "machine-start-response.json",
            with::<StartMachineResponse>(),
        ),
        (
            "machine-update-request-1.json",
            with::<UpdateMachineRequest>(),
        ),
        ("machine-update-response-1.json", with::<Machine>()),
        (
            "volume-create-from-snapshot-response.json",
            with::<Volume>(),
        ),
        ("volume-create-request.json", with::<CreateVolumeRequest>()),
        ("volume-list-response.json", with::<Vec<Volume>>()),
        (
            "volume-snapshot-create-response.json",
            with::<CreateVolumeSnapshotResponse>(),
        ),
    ]
}

/// What checking one document found.
#[derive(Debug, Default)]
struct Outcome {
    /// Why the document did not decode.
    decode_error: Option<String>,
    /// Members dropped because the type does not know them (JSON paths).
    unknown: Vec<String>,
    /// Differences between the original and the re-encoded JSON (JSON paths).
    lost: Vec<String>,
}

fn round_trip<T: DeserializeOwned + Serialize + JsonSchema>(original: &Value) -> Outcome {
    let mut outcome = Outcome::default();
    let decoded: T = match serde_json::from_value(original.clone()) {
        Ok(decoded) => decoded,
        Err(e) => {
            outcome.decode_error = Some(e.to_string());
            return outcome;
        }
    };
    let mut reencoded = serde_json::to_value(&decoded).expect("generated types always encode");

    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut expected = original.clone();
    drop_nulls(&mut expected);
    drop_unknown(&mut expected, &schema, &defs, "", &mut outcome.unknown);
    drop_nulls(&mut reencoded);
    compare(&expected, &reencoded, "", &mut outcome.lost);
    outcome
}

/// Removes every object member whose value is `null`, at any depth.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Follows `$ref`, single `allOf` wrappers and nullable `anyOf`s to the schema that describes
/// `value`.
fn resolve<'s>(schema: &'s Value, defs: &'s Value, value: &Value) -> &'s Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return resolve(&defs[name], defs, value);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let fitting = branches
                .iter()
                .map(|branch| resolve(branch, defs, value))
                .find(|branch| fits(branch, value));
            if let Some(branch) = fitting {
                return branch;
            }
        }
    }
    schema
}

/// Whether the schema's `type` admits the JSON kind of `value` (no `type` admits anything).
fn fits(schema: &Value, value: &Value) -> bool {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let admits = |t: &Value| t == kind || (t == "number" && kind == "integer");
    match schema.get("type") {
        None => true,
        Some(Value::Array(types)) => types.iter().any(admits),
        Some(t) => admits(t),
    }
}

/// Removes the members of `value` that `schema` does not describe, recording their paths.
fn drop_unknown(
    value: &mut Value,
    schema: &Value,
    defs: &Value,
    path: &str,
    unknown: &mut Vec<String>,
) {
    let schema = resolve(schema, defs, value);
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let open_ended = properties.is_none() && additional.is_none();
            if open_ended {
                return; // an untyped JSON object keeps whatever it holds
            }
            let mut kept = Map::new();
            for (key, mut member) in std::mem::take(map) {
                let member_schema = properties
                    .and_then(|p| p.get(&key))
                    .or(additional.filter(|a| a.is_object()));
                match (member_schema, additional) {
                    (Some(member_schema), _) => {
                        drop_unknown(
                            &mut member,
                            member_schema,
                            defs,
                            &child(path, &key),
                            unknown,
                        );
                        kept.insert(key, member);
                    }
                    (None, Some(Value::Bool(true))) => {
                        kept.insert(key, member);
                    }
                    (None, _) => unknown.push(child(path, &key)),
                }
            }
            *map = kept;
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    drop_unknown(item, item_schema, defs, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Records every path where `expected` and `actual` differ.
fn compare(expected: &Value, actual: &Value, path: &str, differences: &mut Vec<String>) {
    let here = || {
        if path.is_empty() {
            "(root)".to_string()
        } else {
            path.to_string()
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for key in keys {
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => compare(ev, av, &child(path, key), differences),
                    (Some(ev), None) => {
                        differences.push(format!("{}: {ev} was dropped", child(path, key)))
                    }
                    (None, Some(av)) => {
                        differences.push(format!("{}: {av} was added", child(path, key)))
                    }
                    (None, None) => unreachable!(),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}[{i}]"), differences);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => differences.push(format!("{}: {e} became {a}", here())),
    }
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/examples")
}

#[test]
fn real_documents_decode_and_re_encode_without_loss() {
    let dir = examples_dir();
    if !dir.is_dir() {
        println!(
            "skipped: {} does not exist (the example documents live outside the repository)",
            dir.display()
        );
        return;
    }

    let catalogue = catalogue();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = catalogue.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        on_disk,
        listed,
        "the catalogue and {} disagree on which documents exist",
        dir.display()
    );
    assert_eq!(listed.len(), 40);

    let mut failures = Vec::new();
    let mut with_unknown = Vec::new();
    let mut checked = 0;
    for (file, check) in &catalogue {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let original: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        let expected_unknown = left_out(file);
        checked += 1;
        let outcome = check(&original);
        if let Some(e) = &outcome.decode_error {
            failures.push(format!("{file}: does not decode: {e}"));
            continue;
        }
        if !outcome.lost.is_empty() {
            failures.push(format!("{file}: values lost: {}", outcome.lost.join("; ")));
        }
        if outcome.unknown != expected_unknown {
            failures.push(format!(
                "{file}: members our types do not know: {:?} (left out on purpose: {:?})",
                outcome.unknown, expected_unknown
            ));
        }
        if outcome.unknown.is_empty() {
            println!("{file}: ok");
        } else {
            println!(
                "{file}: ok, unknown to our types: {}",
                outcome.unknown.join(", ")
            );
            with_unknown.push(*file);
        }
    }
    println!(
        "{checked} of {} documents checked against a type; with members left out on purpose: \
         {with_unknown:?}",
        catalogue.len()
    );
    for (file, path, why) in LEFT_OUT {
        println!("left out on purpose: {file} {path}: {why}");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(checked, 40, "every document is checked against a type");
}

// The checking machinery itself, on documents written here.

#[test]
fn a_known_field_that_does_not_survive_is_reported() {
    // `autostop` of the wrong JSON type is rejected outright ...
    let bad: Value = serde_json::json!({"services": [{"autostop": 7}]});
    assert!(
        round_trip::<types::MachineConfig>(&bad)
            .decode_error
            .is_some()
    );
    // ... and a value that changes form is reported as lost.
    let mut lost = Vec::new();
    compare(
        &serde_json::json!({"a": {"b": [1, 2]}, "c": "x"}),
        &serde_json::json!({"a": {"b": [1, 3]}, "d": true}),
        "",
        &mut lost,
    );
    assert_eq!(
        lost,
        vec![
            "a.b[1]: 2 became 3".to_string(),
            "c: \"x\" was dropped".to_string(),
            "d: true was added".to_string(),
        ]
    );
}

#[test]
fn unknown_members_are_found_at_any_depth() {
    let doc = serde_json::json!({
        "config": {
            "image": "nginx",
            "mystery": 1,
            "env": {"ANY_NAME": "is a map key, not a field"},
            "services": [{"internal_port": 80, "autostop": false, "extra": [true]}]
        },
        "events": null,
        "host_dedication_key": ""
    });
    let outcome = round_trip::<types::Machine>(&doc);
    assert_eq!(outcome.decode_error, None);
    assert_eq!(
        outcome.unknown,
        vec![
            "config.mystery",
            "config.services[0].extra",
            "host_dedication_key"
        ]
    );
    assert!(outcome.lost.is_empty(), "{:?}", outcome.lost);
}
