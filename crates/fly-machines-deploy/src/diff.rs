//! Comparing a group's config with what a machine runs.
//!
//! Fly fills in settings nobody asked for (a default restart policy, a guest size, its own
//! metadata), so a plain equality would see drift everywhere. The comparison is one of subsets:
//! every value the group sets must be what the machine runs, and what the server added is
//! ignored. Two exceptions, where a key nobody set is a real difference: the maps whose keys are
//! the user's own data, `env` and `checks`. Nulls, empty maps and empty lists count as absent.
//! Mounts are left to the volume comparison (their volume ids differ per machine), and the
//! deployer's own marks are never compared.

use serde_json::{Map, Value};

use crate::marks;
use crate::plan::{Change, ChangeKind};

/// Top-level keys whose keys are user data: an extra key on the machine is a difference.
const USER_MAPS: [&str; 2] = ["env", "checks"];

/// JSON text with every object's keys sorted, whatever order the maps were filled in.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&map[k]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json may keep insertion order (its `preserve_order` feature, switched on by any
    // crate in the build), so the keys are sorted here and written in that order.
    let mut out = String::new();
    write_sorted(&sorted(value), &mut out);
    out
}

fn write_sorted(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Drops nulls, empty maps and empty lists, recursively: the forms of "not set".
fn prune(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let map: Map<String, Value> = map
                .into_iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k, v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Value::Array(items) => {
            // Elements keep their places (a null element stays a null), so indexes still
            // match between the two sides.
            let items: Vec<Value> = items
                .into_iter()
                .map(|v| prune(v).unwrap_or(Value::Null))
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => Some(other),
    }
}

/// A config as a pruned JSON object, without mounts and without the deployer's marks.
fn comparable(config: &fly_machines::types::MachineConfig) -> Map<String, Value> {
    let value = serde_json::to_value(config).unwrap_or_default();
    let Some(Value::Object(mut map)) = prune(value) else {
        return Map::new();
    };
    map.remove("mounts");
    if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
        metadata.retain(|k, _| !marks::is_mark(k));
        if metadata.is_empty() {
            map.remove("metadata");
        }
    }
    map
}

/// What differs between the group's config (`desired`) and the machine's (`observed`), in a
/// stable order (keys sorted, list elements in order).
pub(crate) fn config_changes(
    desired: &fly_machines::types::MachineConfig,
    observed: &fly_machines::types::MachineConfig,
) -> Vec<Change> {
    let (desired, observed) = (comparable(desired), comparable(observed));
    let mut changes = Vec::new();
    let mut keys: Vec<&String> = desired.keys().collect();
    for key in USER_MAPS {
        if observed.contains_key(key) && !desired.contains_key(key) {
            keys.push(observed.keys().find(|k| *k == key).expect("present"));
        }
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        let strict = USER_MAPS.contains(&key.as_str());
        compare(
            key,
            desired.get(key),
            observed.get(key),
            strict,
            &mut changes,
        );
    }
    changes
}

/// Compares one value. `strict` makes keys only the machine has count (inside a user map, at
/// its first level).
fn compare(
    path: &str,
    desired: Option<&Value>,
    observed: Option<&Value>,
    strict: bool,
    changes: &mut Vec<Change>,
) {
    match (desired, observed) {
        (None, None) => {}
        (Some(d), None) => changes.push(Change::new(path, ChangeKind::Added, None, Some(d))),
        (None, Some(o)) => changes.push(Change::new(path, ChangeKind::Removed, Some(o), None)),
        (Some(Value::Object(d)), Some(Value::Object(o))) => {
            let mut keys: Vec<&String> = d.keys().collect();
            if strict {
                keys.extend(o.keys().filter(|k| !d.contains_key(*k)));
            }
            keys.sort();
            for key in keys {
                compare(
                    &format!("{path}.{key}"),
                    d.get(key),
                    o.get(key),
                    false,
                    changes,
                );
            }
        }
        (Some(Value::Array(d)), Some(Value::Array(o))) if d.len() == o.len() => {
            for (i, (d, o)) in d.iter().zip(o).enumerate() {
                compare(&format!("{path}[{i}]"), Some(d), Some(o), false, changes);
            }
        }
        (Some(d), Some(o)) => {
            if d != o {
                changes.push(Change::new(path, ChangeKind::Changed, Some(o), Some(d)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fly_machines::types::MachineConfig;

    fn config(json: Value) -> MachineConfig {
        serde_json::from_value(json).expect("a config")
    }

    #[test]
    fn server_defaults_are_not_differences() {
        let desired = config(serde_json::json!({"image": "a:1", "guest": {"cpus": 1}}));
        let observed = config(serde_json::json!({
            "image": "a:1",
            "guest": {"cpus": 1, "cpu_kind": "shared", "memory_mb": 256},
            "restart": {"policy": "on-failure"},
            "metadata": {"fly_platform_version": "v2", "fly_deploy_fleet": "f"},
            "env": {},
        }));
        assert!(config_changes(&desired, &observed).is_empty());
    }

    #[test]
    fn user_maps_count_extra_keys() {
        let desired = config(serde_json::json!({"image": "a:1", "env": {"A": "1"}}));
        let observed = config(serde_json::json!({"image": "a:2", "env": {"A": "1", "B": "2"}}));
        let changes: Vec<String> = config_changes(&desired, &observed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(changes, ["- env.B = \"2\"", "~ image: \"a:2\" -> \"a:1\""]);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let a = serde_json::json!({"b": 1, "a": {"d": 2, "c": 3}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":3,"d":2},"b":1}"#);
    }
}
