//! Secret fields stay out of `Debug`.
//!
//! A property marked `"x-secret": true` in our document (a lease nonce, a token, a secret's
//! value, a private key) is printed as `<redacted>` by the generated type's `Debug`, so a
//! `{:?}` in a user's log line never leaks it. progenitor derives `Debug` on every type; for the
//! types holding a secret, the derive is taken off and a redacting impl is written instead.

use std::collections::{BTreeMap, BTreeSet};

use quote::quote;

/// Schema name -> its secret properties, read from the document's `x-secret` marks.
pub fn secret_fields(
    raw: &serde_json::Value,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let schemas = raw
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten();
    for (schema, body) in schemas {
        let properties = body
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten();
        for (property, spec) in properties {
            match spec.get("x-secret") {
                None => {}
                Some(serde_json::Value::Bool(true)) => {
                    secrets
                        .entry(schema.clone())
                        .or_default()
                        .insert(property.clone());
                }
                Some(serde_json::Value::Bool(false)) => {}
                Some(other) => {
                    return Err(format!(
                        "{schema}.{property}: `x-secret` must be true or false, not {other}"
                    ));
                }
            }
        }
    }
    Ok(secrets)
}

/// Rewrites the generated `types` module so that every struct with secret fields has a
/// redacting `Debug`. Every marked schema must be found, with every marked field.
pub fn redact_debug(
    file: &mut syn::File,
    secrets: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), String> {
    let types = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => m.content.as_mut(),
            _ => None,
        })
        .ok_or("the generated client has no `types` module")?;
    let mut impls = Vec::new();
    let mut found = BTreeSet::new();
    for item in types.1.iter_mut() {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        let Some(fields) = secrets.get(&item.ident.to_string()) else {
            continue;
        };
        found.insert(item.ident.to_string());
        drop_debug_derive(item)?;
        impls.push(redacting_debug(item, fields)?);
    }
    if let Some(missing) = secrets.keys().find(|name| !found.contains(*name)) {
        return Err(format!(
            "`x-secret` marks a property of {missing}, but no generated struct has that name"
        ));
    }
    for tokens in impls {
        types
            .1
            .push(syn::parse2(tokens).map_err(|e| format!("redacting Debug: {e}"))?);
    }
    Ok(())
}

fn drop_debug_derive(item: &mut syn::ItemStruct) -> Result<(), String> {
    let name = item.ident.to_string();
    for attr in &mut item.attrs {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let derives = attr
            .parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .map_err(|e| format!("{name}: unreadable derive: {e}"))?;
        let kept: Vec<_> = derives
            .iter()
            .filter(|path| !path.is_ident("Debug"))
            .collect();
        if kept.len() != derives.len() {
            *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            return Ok(());
        }
    }
    Err(format!("{name}: expected progenitor to derive Debug"))
}

fn redacting_debug(
    item: &syn::ItemStruct,
    secret: &BTreeSet<String>,
) -> Result<proc_macro2::TokenStream, String> {
    let name = &item.ident;
    let syn::Fields::Named(named) = &item.fields else {
        return Err(format!(
            "{name}: secret fields need a struct with named fields"
        ));
    };
    let mut seen = BTreeSet::new();
    let entries = named.named.iter().map(|field| {
        let ident = field.ident.as_ref().expect("named field");
        let wire_name = wire_name(field).unwrap_or_else(|| ident.to_string());
        let label = ident.to_string();
        if secret.contains(&wire_name) {
            seen.insert(wire_name);
            if is_option(&field.ty) {
                quote!(.field(#label, &self.#ident.as_ref().map(|_| "<redacted>")))
            } else {
                quote!(.field(#label, &"<redacted>"))
            }
        } else {
            quote!(.field(#label, &self.#ident))
        }
    });
    let entries: Vec<_> = entries.collect();
    if let Some(missing) = secret.iter().find(|s| !seen.contains(*s)) {
        return Err(format!(
            "`x-secret` marks {name}.{missing}, but the generated struct has no such field"
        ));
    }
    let label = name.to_string();
    Ok(quote! {
        impl ::std::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#label) #(#entries)* .finish()
            }
        }
    })
}

/// The JSON name of a field: its `#[serde(rename = "..")]`, if any.
fn wire_name(field: &syn::Field) -> Option<String> {
    field
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .find_map(|attr| {
            let mut renamed = None;
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    renamed = Some(value.value());
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            })
            .ok()?;
            renamed
        })
}

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_must_be_booleans() {
        let doc = serde_json::json!({"components": {"schemas": {
            "Lease": {"properties": {"nonce": {"type": "string", "x-secret": "yes"}}}
        }}});
        let err = secret_fields(&doc).unwrap_err();
        assert!(
            err.contains("Lease.nonce") && err.contains("x-secret"),
            "{err}"
        );
    }

    #[test]
    fn a_mark_on_a_missing_field_is_an_error() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug)]
                pub struct Lease { pub owner: Option<String> }
            }
        };
        let secrets =
            BTreeMap::from([("Lease".to_string(), BTreeSet::from(["nonce".to_string()]))]);
        let err = redact_debug(&mut file, &secrets).unwrap_err();
        assert!(err.contains("Lease.nonce"), "{err}");
    }

    #[test]
    fn secret_fields_print_redacted() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug, Default)]
                pub struct Lease {
                    pub nonce: Option<String>,
                    #[serde(rename = "type")]
                    pub type_: String,
                    pub owner: Option<String>,
                }
            }
        };
        let secrets = BTreeMap::from([(
            "Lease".to_string(),
            BTreeSet::from(["nonce".to_string(), "type".to_string()]),
        )]);
        redact_debug(&mut file, &secrets).unwrap();
        let text = quote!(#file).to_string();
        assert!(text.contains("derive (Clone , Default)"), "{text}");
        assert!(
            text.contains("impl :: std :: fmt :: Debug for Lease"),
            "{text}"
        );
        assert!(text.contains("\"<redacted>\""), "{text}");
        assert!(
            text.contains(". field (\"owner\" , & self . owner)"),
            "{text}"
        );
    }
}
