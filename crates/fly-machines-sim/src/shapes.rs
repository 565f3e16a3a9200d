//! Machines written as Fly's Go server writes them, and `[]byte` fields read as it reads them.
//!
//! Our generated types leave absent fields out, but Fly's server writes some as `null` (`env`,
//! `metadata`, `init.exec`/`entrypoint`/`cmd`) and writes `autostop` `off` and `stop` as the
//! booleans `false` and `true` (see `shared/examples/machine-get-response-1.json` and the
//! spec notes, D-6). A client must decode those; an emulator that spared it would hide the bugs.
//! Go's `encoding/json` reads a `[]byte` field from a base64 string or from an array of numbers,
//! so the emulator accepts both as well.

use base64::Engine as _;
use fly_machines_api::{OperationId, types};
use serde_json::{Map, Value};

use crate::reply::{HandlerResult, Reply};

/// A machine as Fly's server writes it.
pub(crate) fn machine(m: &types::Machine) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Some(config) = v.get_mut("config").and_then(Value::as_object_mut) {
        config_as_fly_writes(config);
    }
    v
}

/// `ok_json` of one machine, as Fly writes it.
pub(crate) fn ok_machine(m: &types::Machine) -> HandlerResult {
    Ok(Reply::ok(machine(m)))
}

/// A list of machines, as Fly writes them, converted only when it is encoded (after the world
/// lock is released).
struct MachinesAsFlyWrites(Vec<types::Machine>);

impl serde::Serialize for MachinesAsFlyWrites {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(machine))
    }
}

/// An answer with a list of machines as Fly writes them, converted and encoded after the world
/// lock is released.
pub(crate) fn ok_machines_deferred(ms: Vec<types::Machine>) -> Reply {
    Reply::ok(MachinesAsFlyWrites(ms))
}

fn config_as_fly_writes(config: &mut Map<String, Value>) {
    config.entry("env").or_insert(Value::Null);
    config.entry("metadata").or_insert(Value::Null);
    let init = config
        .entry("init")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(init) = init.as_object_mut() {
        for key in ["exec", "entrypoint", "cmd"] {
            init.entry(key).or_insert(Value::Null);
        }
        init.entry("tty").or_insert(Value::Bool(false));
    }
    for service in config
        .get_mut("services")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(autostop) = service.get_mut("autostop") {
            match autostop.as_str() {
                Some("off") => *autostop = Value::Bool(false),
                Some("stop") => *autostop = Value::Bool(true),
                _ => {}
            }
        }
    }
}

/// The `[]byte` fields of the request bodies that have them, by operation id.
const BYTE_FIELDS: &[(OperationId, &[&str])] = &[
    (OperationId::SecretkeySet, &["value"]),
    (
        OperationId::SecretkeyEncrypt,
        &["plaintext", "associated_data"],
    ),
    (
        OperationId::SecretkeyDecrypt,
        &["ciphertext", "associated_data"],
    ),
    (OperationId::SecretkeySign, &["plaintext"]),
    (OperationId::SecretkeyVerify, &["plaintext", "signature"]),
];

/// Whether the operation's request body has `[]byte` fields.
pub(crate) fn has_byte_fields(op: OperationId) -> bool {
    BYTE_FIELDS.iter().any(|(id, _)| *id == op)
}

/// Rewrites `[]byte` fields sent as arrays of numbers (0 to 255) into the base64 strings our
/// types read; anything else is left for the decoder to judge.
pub(crate) fn bytes_as_base64(op: OperationId, body: &mut Value) {
    let Some((_, fields)) = BYTE_FIELDS.iter().find(|(id, _)| *id == op) else {
        return;
    };
    let Some(object) = body.as_object_mut() else {
        return;
    };
    for field in *fields {
        let Some(Value::Array(items)) = object.get(*field) else {
            continue;
        };
        let bytes: Option<Vec<u8>> = items
            .iter()
            .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect();
        if let Some(bytes) = bytes {
            let text = base64::engine::general_purpose::STANDARD.encode(bytes);
            object.insert((*field).to_string(), Value::String(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_null_and_autostop_off_stop_are_booleans() {
        let m = types::Machine {
            config: Some(types::MachineConfig {
                image: Some("nginx".into()),
                services: Some(vec![
                    serde_json::from_value(serde_json::json!({"autostop": "off"})).unwrap(),
                    serde_json::from_value(serde_json::json!({"autostop": "stop"})).unwrap(),
                    serde_json::from_value(serde_json::json!({"autostop": "suspend"})).unwrap(),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = machine(&m);
        assert_eq!(v["config"]["env"], Value::Null);
        assert!(v["config"].as_object().unwrap().contains_key("metadata"));
        assert_eq!(v["config"]["init"]["cmd"], Value::Null);
        assert_eq!(v["config"]["services"][0]["autostop"], Value::Bool(false));
        assert_eq!(v["config"]["services"][1]["autostop"], Value::Bool(true));
        assert_eq!(v["config"]["services"][2]["autostop"], "suspend");
        // And the client's type still reads it.
        let back: types::Machine = serde_json::from_value(v).unwrap();
        assert_eq!(back.config.unwrap().image.as_deref(), Some("nginx"));
    }

    #[test]
    fn byte_arrays_become_base64() {
        let mut body = serde_json::json!({"plaintext": [104, 105], "associated_data": "aGk="});
        bytes_as_base64(OperationId::SecretkeyEncrypt, &mut body);
        assert_eq!(body["plaintext"], "aGk=");
        assert_eq!(body["associated_data"], "aGk=");
        let mut bad = serde_json::json!({"plaintext": [300]});
        bytes_as_base64(OperationId::SecretkeyEncrypt, &mut bad);
        assert_eq!(bad["plaintext"], serde_json::json!([300]));
    }
}
