//! Typed matchers on the request body's common fields (`when.region("ord")`), added to the `When`
//! wrapper of every operation whose body has the schema the matcher is written for.
//!
//! Each matcher names the path of its field in the schema; `regen` checks that the field is there
//! with the JSON type the matcher takes, so a change to the document cannot leave a matcher that
//! never matches. The matching itself is in the httpmock crate's `body` module.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::{operations_items, self_type_name, type_text};

/// What a matcher checks at its path.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// The string at the path equals the value.
    Text,
    /// The integer at the path equals the value.
    Integer,
    /// Some item of the array at the path has `key` equal to the value.
    AnyItem { key: &'static str },
    /// The map at the path holds the key with the value.
    Entry,
    /// The map at the path holds the key.
    Key,
}

/// One typed matcher: the `When` method, the field's path in the body, the check, and its doc.
pub struct BodyMatcher {
    method: &'static str,
    path: &'static [&'static str],
    check: Check,
    doc: &'static str,
}

const fn m(
    method: &'static str,
    path: &'static [&'static str],
    check: Check,
    doc: &'static str,
) -> BodyMatcher {
    BodyMatcher {
        method,
        path,
        check,
        doc,
    }
}

const MACHINE: &[BodyMatcher] = &[
    m("region", &["region"], Check::Text, "The machine's region."),
    m("name", &["name"], Check::Text, "The machine's name."),
    m(
        "image",
        &["config", "image"],
        Check::Text,
        "The image in the machine's config.",
    ),
    m(
        "mounts_volume",
        &["config", "mounts"],
        Check::AnyItem { key: "volume" },
        "A mount of the config attaches this volume id.",
    ),
    m(
        "metadata",
        &["config", "metadata"],
        Check::Entry,
        "The config's metadata holds `key` = `value`.",
    ),
];

const VOLUME: &[BodyMatcher] = &[
    m("name", &["name"], Check::Text, "The volume's name."),
    m("region", &["region"], Check::Text, "The volume's region."),
    m(
        "size_gb",
        &["size_gb"],
        Check::Integer,
        "The volume's size in GB.",
    ),
];

const APP: &[BodyMatcher] = &[
    m("name", &["name"], Check::Text, "The app's name."),
    m(
        "org_slug",
        &["org_slug"],
        Check::Text,
        "The organization the app is made in.",
    ),
];

const SECRETS: &[BodyMatcher] = &[m(
    "secret_name",
    &["values"],
    Check::Key,
    "The request sets (or unsets) the secret of this name.",
)];

/// Which matchers each request body schema gets.
pub const BODY_MATCHERS: [(&str, &[BodyMatcher]); 5] = [
    ("CreateMachineRequest", MACHINE),
    ("UpdateMachineRequest", MACHINE),
    ("CreateVolumeRequest", VOLUME),
    ("CreateAppRequest", APP),
    ("AppSecretsUpdateRequest", SECRETS),
];

/// The schema of `path` inside `schema`, following `$ref`s; `None` when a step is missing.
fn schema_at<'a>(raw: &'a Value, mut schema: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let resolve = |s: &'a Value| -> Option<&'a Value> {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => raw.pointer(r.strip_prefix('#')?),
            None => Some(s),
        }
    };
    schema = resolve(schema)?;
    for step in path {
        schema = resolve(schema.get("properties")?.get(step)?)?;
    }
    Some(schema)
}

fn check_schema(raw: &Value, body: &str, matcher: &BodyMatcher) -> Result<(), String> {
    let root = raw
        .pointer(&format!("/components/schemas/{body}"))
        .ok_or_else(|| format!("no schema `{body}` in the document"))?;
    let at = matcher.path.join(".");
    let field = schema_at(raw, root, matcher.path).ok_or_else(|| {
        format!(
            "`{body}` has no field `{at}` for the matcher `{}`",
            matcher.method
        )
    })?;
    let json_type = field.get("type").and_then(Value::as_str);
    let fits = match matcher.check {
        Check::Text => json_type == Some("string"),
        Check::Integer => json_type == Some("integer"),
        Check::AnyItem { key } => {
            json_type == Some("array")
                && field.get("items").and_then(|items| {
                    schema_at(raw, items, &[key])
                        .and_then(|s| s.get("type"))
                        .and_then(Value::as_str)
                }) == Some("string")
        }
        Check::Entry | Check::Key => {
            json_type == Some("object") && field.get("additionalProperties").is_some()
        }
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "the matcher `{}` expects `{body}.{at}` to be {:?}, the document says {field}",
            matcher.method, matcher.check
        ))
    }
}

fn method(matcher: &BodyMatcher) -> TokenStream {
    let name = format_ident!("{}", matcher.method);
    let doc = format!(" {}", matcher.doc);
    let path = matcher.path;
    let (params, call) = match matcher.check {
        Check::Text => (
            quote!(value: &str),
            quote!(crate::body::field_is(self.0, &[#(#path),*], value.into())),
        ),
        Check::Integer => (
            quote!(value: i64),
            quote!(crate::body::field_is(self.0, &[#(#path),*], value.into())),
        ),
        Check::AnyItem { key } => (
            quote!(value: &str),
            quote!(crate::body::any_item_has(self.0, &[#(#path),*], #key, value)),
        ),
        Check::Entry => (
            quote!(key: &str, value: &str),
            quote!(crate::body::entry_is(self.0, &[#(#path),*], key, value)),
        ),
        Check::Key => (
            quote!(key: &str),
            quote!(crate::body::has_key(self.0, &[#(#path),*], key)),
        ),
    };
    quote! {
        #[doc = #doc]
        pub fn #name(self, #params) -> Self {
            Self(#call)
        }
    }
}

/// The typed matchers each `When` wrapper gets, by wrapper name (for the reference).
pub type Added = Vec<(String, Vec<&'static str>)>;

/// Adds the typed body matchers to every `When` whose `body` takes a schema of [`BODY_MATCHERS`].
pub fn add_body_matchers(file: &mut syn::File, raw: &Value) -> Result<Added, String> {
    for (body, matchers) in BODY_MATCHERS {
        for matcher in matchers {
            check_schema(raw, body, matcher)?;
        }
    }
    let mut added = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for item in operations_items(file)? {
        let syn::Item::Impl(imp) = item else { continue };
        let Some(wrapper) = self_type_name(imp).filter(|n| n.ends_with("When")) else {
            continue;
        };
        let body = imp.items.iter().find_map(|item| match item {
            syn::ImplItem::Fn(f) if f.sig.ident == "body" => f.sig.inputs.iter().nth(1),
            _ => None,
        });
        let Some(syn::FnArg::Typed(arg)) = body else {
            continue;
        };
        let schema = type_text(&arg.ty);
        let Some((name, matchers)) = BODY_MATCHERS
            .iter()
            .find(|(name, _)| schema.strip_prefix("&types::") == Some(name))
        else {
            continue;
        };
        used.insert(*name);
        let existing: Vec<String> = imp
            .items
            .iter()
            .filter_map(|item| match item {
                syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect();
        if let Some(clash) = matchers
            .iter()
            .find(|m| existing.iter().any(|e| e == m.method))
        {
            return Err(format!(
                "the body matcher `{}` of `{name}` clashes with `{wrapper}::{}`",
                clash.method, clash.method
            ));
        }
        let methods = matchers.iter().map(method);
        let block: syn::ItemImpl = syn::parse2(quote!(impl X { #(#methods)* }))
            .map_err(|e| format!("generated matchers do not parse: {e}"))?;
        imp.items.extend(block.items);
        added.push((wrapper, matchers.iter().map(|m| m.method).collect()));
    }
    if let Some((unused, _)) = BODY_MATCHERS.iter().find(|(name, _)| !used.contains(name)) {
        return Err(format!(
            "no operation's body is `{unused}`, yet it has typed matchers in xtask/src/mocks/matchers.rs"
        ));
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "Req": {"properties": {
                "region": {"type": "string"},
                "config": {"$ref": "#/components/schemas/Config"}
            }},
            "Config": {"properties": {
                "mounts": {"type": "array", "items": {"$ref": "#/components/schemas/Mount"}},
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}}
            }},
            "Mount": {"properties": {"volume": {"type": "string"}}}
        }}})
    }

    #[test]
    fn matchers_are_checked_against_the_schema() {
        let raw = doc();
        for ok in [
            m("region", &["region"], Check::Text, ""),
            m(
                "v",
                &["config", "mounts"],
                Check::AnyItem { key: "volume" },
                "",
            ),
            m("md", &["config", "metadata"], Check::Entry, ""),
        ] {
            check_schema(&raw, "Req", &ok).unwrap();
        }
        let err =
            check_schema(&raw, "Req", &m("size", &["size_gb"], Check::Integer, "")).unwrap_err();
        assert!(err.contains("no field `size_gb`"), "{err}");
        let err =
            check_schema(&raw, "Req", &m("region", &["region"], Check::Integer, "")).unwrap_err();
        assert!(err.contains("Req.region"), "{err}");
        let err = check_schema(&raw, "Nope", &m("r", &["region"], Check::Text, "")).unwrap_err();
        assert!(err.contains("no schema `Nope`"), "{err}");
    }
}
