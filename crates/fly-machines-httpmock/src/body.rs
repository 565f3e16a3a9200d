//! The matching behind the typed body matchers (`when.region("ord")`): each checks one field of
//! the request's JSON body and leaves the rest of the body free.

use httpmock::When;
use serde_json::{Map, Value};

/// `value` wrapped in objects along `path`: `["config", "image"]`, `"nginx"` →
/// `{"config": {"image": "nginx"}}`.
fn nested(path: &[&str], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, key| {
        let mut object = Map::new();
        object.insert((*key).to_owned(), inner);
        Value::Object(object)
    })
}

/// The value at `path` of the request's JSON body; `None` when the body is not JSON or the path
/// is missing.
fn at(body: &[u8], path: &[&str]) -> Option<Value> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    for key in path {
        value = value.get_mut(*key)?.take();
    }
    Some(value)
}

/// The field at `path` equals `value` (httpmock's partial JSON match, so a mismatch shows a diff).
pub(crate) fn field_is(when: When, path: &[&str], value: Value) -> When {
    when.json_body_includes(nested(path, value).to_string())
}

/// The map at `path` holds `key` with the string `value`.
pub(crate) fn entry_is(when: When, path: &[&str], key: &str, value: &str) -> When {
    let mut full = path.to_vec();
    full.push(key);
    field_is(when, &full, Value::from(value))
}

/// The map at `path` holds `key`, with any value.
pub(crate) fn has_key(when: When, path: &[&str], key: &str) -> When {
    let (path, key) = (owned(path), key.to_owned());
    when.is_true(move |req| {
        at(req.body_ref(), &borrowed(&path)).is_some_and(|map| map.get(&key).is_some())
    })
}

/// Some item of the array at `path` has `key` equal to the string `value` (in any position,
/// which a partial JSON match of an array cannot say).
pub(crate) fn any_item_has(when: When, path: &[&str], key: &str, value: &str) -> When {
    let (path, key, value) = (owned(path), key.to_owned(), value.to_owned());
    when.is_true(move |req| {
        at(req.body_ref(), &borrowed(&path)).is_some_and(|items| {
            items.as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.get(&key).and_then(Value::as_str) == Some(value.as_str()))
            })
        })
    })
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

fn borrowed(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_nest_and_read_back() {
        assert_eq!(
            nested(&["config", "image"], json!("nginx")),
            json!({"config": {"image": "nginx"}})
        );
        let body = br#"{"config": {"mounts": [{"volume": "vol_1"}]}}"#;
        assert_eq!(
            at(body, &["config", "mounts"]),
            Some(json!([{"volume": "vol_1"}]))
        );
        assert_eq!(at(body, &["config", "image"]), None);
        assert_eq!(at(b"not json", &["config"]), None);
    }
}
