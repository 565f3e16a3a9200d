//! Names the typed mocks after the SDK's handles (`volumes_delete` for `app.volume(id).delete()`)
//! instead of Fly's operation ids, which stay findable as doc aliases.

use std::collections::HashMap;

use quote::format_ident;
use syn::visit_mut::VisitMut;

use super::{operations_items, self_type_name, upper_camel};
use crate::generate::OperationFacts;

/// The name progenitor gives an operation's `When`/`Then` wrappers (`VolumeDeleteWhen`).
pub fn progenitor_type(op: &OperationFacts, suffix: &str) -> String {
    format!("{}{suffix}", upper_camel(&op.name))
}

/// Our name for an operation's `When`/`Then` wrappers (`VolumesDeleteWhen`).
pub fn wrapper_type(op: &OperationFacts, suffix: &str) -> String {
    format!("{}{suffix}", upper_camel(&op.sdk.mock_name()))
}

/// Renames each mock method of `MockServerExt` and its wrapper types, and documents them with the
/// SDK call they stand for and Fly's operation id.
pub fn rename(file: &mut syn::File, ops: &[OperationFacts]) -> Result<(), String> {
    let by_progenitor_name: HashMap<&str, &OperationFacts> =
        ops.iter().map(|op| (op.name.as_str(), op)).collect();
    let mut renamed = 0;
    let mut rename_fn = |ident: &mut syn::Ident, attrs: Option<&mut Vec<syn::Attribute>>| {
        let op = by_progenitor_name
            .get(ident.to_string().as_str())
            .ok_or_else(|| {
                format!("progenitor made a mock `{ident}` that no operation of the table has")
            })?;
        *ident = format_ident!("{}", op.sdk.mock_name());
        if let Some(attrs) = attrs {
            attrs.extend(method_docs(op));
        }
        renamed += 1;
        Ok::<_, String>(())
    };
    for item in &mut file.items {
        match item {
            syn::Item::Trait(t) if t.ident == "MockServerExt" => {
                let doc = " One typed mock per operation, named after the SDK call it stands for \
                           (`volumes_delete` for `app.volume(id).delete()`); see [`crate::reference`].";
                t.attrs.push(syn::parse_quote!(#[doc = #doc]));
                for item in &mut t.items {
                    if let syn::TraitItem::Fn(f) = item {
                        rename_fn(&mut f.sig.ident, Some(&mut f.attrs))?;
                    }
                }
            }
            syn::Item::Impl(i)
                if i.trait_.as_ref().is_some_and(|(path, _)| {
                    path.segments
                        .last()
                        .is_some_and(|s| s.ident == "MockServerExt")
                }) =>
            {
                for item in &mut i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        rename_fn(&mut f.sig.ident, None)?;
                    }
                }
            }
            _ => {}
        }
    }
    if renamed != 2 * ops.len() {
        return Err(format!(
            "expected {} mock methods in progenitor's MockServerExt (trait and impl), found {renamed}",
            2 * ops.len()
        ));
    }

    let mut types = RenameTypes {
        map: ops
            .iter()
            .flat_map(|op| ["When", "Then"].map(|s| (progenitor_type(op, s), wrapper_type(op, s))))
            .collect(),
        renamed: 0,
    };
    types.visit_file_mut(file);
    if types.renamed == 0 {
        return Err("progenitor's mocks have no When/Then wrappers to rename".into());
    }
    document_wrappers(file, ops)
}

struct RenameTypes {
    map: HashMap<String, String>,
    renamed: usize,
}

impl VisitMut for RenameTypes {
    fn visit_ident_mut(&mut self, ident: &mut syn::Ident) {
        if let Some(new) = self.map.get(&ident.to_string()) {
            *ident = syn::Ident::new(new, ident.span());
            self.renamed += 1;
        }
    }
}

fn method_docs(op: &OperationFacts) -> Vec<syn::Attribute> {
    let summary = format!(
        " Mocks `{}`: Fly's `{}`, `{} {}`.",
        op.sdk.call, op.id, op.method, op.path
    );
    let table = format!(
        " Matchers and answers: [`reference::{}`](crate::reference::{}).",
        op.sdk.resource, op.sdk.resource
    );
    let id = &op.id;
    let mut attrs: Vec<syn::Attribute> = vec![
        syn::parse_quote!(#[doc = #summary]),
        syn::parse_quote!(#[doc = ""]),
        syn::parse_quote!(#[doc = #table]),
        syn::parse_quote!(#[doc(alias = #id)]),
    ];
    if op.name != op.sdk.mock_name() {
        let old = &op.name;
        attrs.push(syn::parse_quote!(#[doc(alias = #old)]));
    }
    attrs
}

/// Says on each wrapper which mock and SDK call it belongs to.
fn document_wrappers(file: &mut syn::File, ops: &[OperationFacts]) -> Result<(), String> {
    let mut docs: HashMap<String, String> = HashMap::new();
    for op in ops {
        let mock = op.sdk.mock_name();
        docs.insert(
            wrapper_type(op, "When"),
            format!(
                " What a [`{mock}`](crate::MockServerExt::{mock}) mock matches (`{}`): path \
                 and query values, and typed fields of the body where the operation has any.",
                op.sdk.call
            ),
        );
        docs.insert(
            wrapper_type(op, "Then"),
            format!(
                " How a [`{mock}`](crate::MockServerExt::{mock}) mock answers (`{}`): in the \
                 types the client returns, and with Fly's error answers (see [`crate::FlyErrors`]).",
                op.sdk.call
            ),
        );
    }
    for item in operations_items(file)? {
        if let syn::Item::Struct(s) = item
            && let Some(doc) = docs.get(&s.ident.to_string())
        {
            s.attrs.push(syn::parse_quote!(#[doc = #doc]));
        }
        if let syn::Item::Impl(i) = item
            && self_type_name(i).is_none()
        {
            return Err("an impl in progenitor's mocks has an unexpected self type".into());
        }
    }
    Ok(())
}
