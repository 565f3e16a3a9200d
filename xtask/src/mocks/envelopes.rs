//! Success answers in the types the client returns, not in the wire's envelopes.
//!
//! Where `x-sdk.unwrap` says the client hands back one field of the answer (the lease in a lease
//! envelope's `data`, the apps of a page), the `Then` wrapper's success answer takes that field's
//! type and wraps it the way Fly does; the envelope itself stays available as `<answer>_envelope`.
//! A page's answer also gets `<answer>_page(items, next_cursor)`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{operations_items, self_type_name, struct_fields, type_text};
use crate::generate::OperationFacts;

/// progenitor's names for the 2xx answers that carry a body.
const SUCCESS_ANSWERS: [&str; 3] = ["ok", "created", "accepted"];

/// The answer parameter's type and how to put a value of it into the envelope field.
struct Inner {
    param: TokenStream,
    into_field: TokenStream,
}

fn inner_of(field_type: &str) -> Result<Inner, String> {
    let inner = field_type
        .strip_prefix("::std::option::Option<")
        .and_then(|t| t.strip_suffix('>'))
        .ok_or_else(|| format!("the field's type `{field_type}` is not an Option"))?;
    let plain = |name: &str| {
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| format_ident!("{name}"))
    };
    if let Some(element) = inner
        .strip_prefix("::std::vec::Vec<")
        .and_then(|t| t.strip_suffix('>'))
        .and_then(plain)
    {
        return Ok(Inner {
            param: quote!(&[types::#element]),
            into_field: quote!(Some(value.to_vec())),
        });
    }
    if inner == "::std::string::String" {
        return Ok(Inner {
            param: quote!(&str),
            into_field: quote!(Some(value.to_owned())),
        });
    }
    let name = plain(inner).ok_or_else(|| format!("cannot answer with a `{inner}`"))?;
    Ok(Inner {
        param: quote!(&types::#name),
        into_field: quote!(Some(value.clone())),
    })
}

/// Adds the unwrapped success answers to every operation whose `x-sdk` names an `unwrap` field.
pub fn unwrap_envelopes(
    file: &mut syn::File,
    ops: &[OperationFacts],
    types: &syn::File,
) -> Result<(), String> {
    for op in ops {
        let Some(field) = &op.sdk.unwrap else {
            continue;
        };
        let then = super::names::wrapper_type(op, "Then");
        let at = |msg: String| format!("{} (`x-sdk.unwrap` = `{field}`): {msg}", op.id);
        let imp = operations_items(file)?
            .iter_mut()
            .find_map(|item| match item {
                syn::Item::Impl(i) if self_type_name(i).as_deref() == Some(then.as_str()) => {
                    Some(i)
                }
                _ => None,
            })
            .ok_or_else(|| at(format!("no `{then}` in progenitor's mocks")))?;
        let mut added = Vec::new();
        for item in &mut imp.items {
            let syn::ImplItem::Fn(f) = item else { continue };
            // Only success answers carry what the client returns; errors keep the wire's shape.
            if !SUCCESS_ANSWERS.iter().any(|name| f.sig.ident == name) {
                continue;
            }
            let Some(envelope) = answer_type(f) else {
                continue;
            };
            let fields = struct_fields(types, &envelope)
                .ok_or_else(|| at(format!("no struct `{envelope}` in the client")))?;
            let Some((_, field_type)) = fields.iter().find(|(name, _)| name == field) else {
                continue;
            };
            let inner = inner_of(field_type).map_err(at)?;
            let answer = f.sig.ident.clone();
            let wire = format_ident!("{answer}_envelope");
            f.sig.ident = wire.clone();
            let doc = " The whole answer as it goes on the wire; the answer without `_envelope` \
                       takes what the client returns instead.";
            f.attrs.push(syn::parse_quote!(#[doc = #doc]));
            let envelope_ty = format_ident!("{envelope}");
            let field_ident = format_ident!("{field}");
            let paged = fields.iter().any(|(name, _)| name == "next_cursor");
            let Inner { param, into_field } = inner;
            if paged {
                let page = format_ident!("{answer}_page");
                let doc = " One page: `items` (what the client returns), and the cursor of the \
                           next page, if any, in `next_cursor`.";
                added.push(quote! {
                    #[doc = #doc]
                    pub fn #page(self, items: #param, next_cursor: Option<&str>) -> Self {
                        let value = items;
                        self.#wire(&types::#envelope_ty {
                            #field_ident: #into_field,
                            next_cursor: next_cursor.map(str::to_owned),
                            ..Default::default()
                        })
                    }
                    /// The last (or only) page: `items` as the client returns them.
                    pub fn #answer(self, items: #param) -> Self {
                        self.#page(items, None)
                    }
                });
            } else {
                let doc = format!(
                    " Answers `value` the way the client returns it, inside the answer's \
                     `{field}` as Fly sends it."
                );
                added.push(quote! {
                    #[doc = #doc]
                    pub fn #answer(self, value: #param) -> Self {
                        self.#wire(&types::#envelope_ty {
                            #field_ident: #into_field,
                            ..Default::default()
                        })
                    }
                });
            }
        }
        if added.is_empty() {
            return Err(at(format!(
                "no success answer of `{then}` carries the field `{field}`"
            )));
        }
        for tokens in added {
            let block: syn::ItemImpl = syn::parse2(quote!(impl X { #tokens }))
                .map_err(|e| at(format!("generated answers do not parse: {e}")))?;
            imp.items.extend(block.items);
        }
    }
    Ok(())
}

/// `X` of an answer method `fn ok(self, value: &types::X) -> Self`.
fn answer_type(f: &syn::ImplItemFn) -> Option<String> {
    if f.sig.inputs.len() != 2 {
        return None;
    }
    let syn::FnArg::Typed(arg) = f.sig.inputs.iter().nth(1)? else {
        return None;
    };
    type_text(&arg.ty)
        .strip_prefix("&types::")
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_types_follow_the_field() {
        let list = inner_of("::std::option::Option<::std::vec::Vec<App>>").unwrap();
        assert_eq!(list.param.to_string(), quote!(&[types::App]).to_string());
        let text = inner_of("::std::option::Option<::std::string::String>").unwrap();
        assert_eq!(text.param.to_string(), quote!(&str).to_string());
        let one = inner_of("::std::option::Option<Lease>").unwrap();
        assert_eq!(one.param.to_string(), quote!(&types::Lease).to_string());
        assert!(inner_of("Lease").is_err());
        assert!(
            inner_of("::std::option::Option<::std::collections::BTreeMap<String, String>>")
                .is_err()
        );
    }
}
