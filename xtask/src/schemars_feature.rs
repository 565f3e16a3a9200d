//! JSON Schema support becomes an opt-in feature of the raw client crate.
//!
//! progenitor derives `schemars::JsonSchema` on every type (we ask it to: our tests compare
//! each real document with its type's schema). A service that only calls the API never uses
//! those impls, yet every first build would compile schemars and its derive macro for them. So
//! each derive is moved into `#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]`.

use syn::visit_mut::VisitMut;

/// Moves every `schemars::JsonSchema` derive in `file` behind the `schemars` feature; returns
/// how many it moved. None found means progenitor's output changed, which is an error.
pub fn behind_feature(file: &mut syn::File) -> Result<usize, String> {
    let mut mover = Mover {
        moved: 0,
        error: None,
    };
    mover.visit_file_mut(file);
    if let Some(error) = mover.error {
        return Err(error);
    }
    if mover.moved == 0 {
        return Err(
            "expected progenitor to derive schemars::JsonSchema on the generated types: update \
             xtask/src/schemars_feature.rs"
                .into(),
        );
    }
    Ok(mover.moved)
}

struct Mover {
    moved: usize,
    error: Option<String>,
}

impl Mover {
    fn move_derive(&mut self, attrs: &mut Vec<syn::Attribute>) {
        let mut found = false;
        for attr in attrs.iter_mut() {
            if !attr.path().is_ident("derive") {
                continue;
            }
            let derives = match attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) {
                Ok(derives) => derives,
                Err(e) => {
                    self.error = Some(format!("unreadable derive in the generated client: {e}"));
                    return;
                }
            };
            let kept: Vec<_> = derives.iter().filter(|p| !is_json_schema(p)).collect();
            if kept.len() != derives.len() {
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
                found = true;
            }
        }
        if found {
            attrs.push(syn::parse_quote!(
                #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
            ));
            self.moved += 1;
        }
    }
}

impl VisitMut for Mover {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        self.move_derive(&mut item.attrs);
    }

    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        self.move_derive(&mut item.attrs);
    }
}

/// `schemars::JsonSchema` or `::schemars::JsonSchema`.
fn is_json_schema(path: &syn::Path) -> bool {
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    names == ["schemars", "JsonSchema"]
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    #[test]
    fn the_derive_moves_behind_the_feature_and_the_others_stay() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug, schemars::JsonSchema)]
                #[serde(transparent)]
                pub struct Name(pub String);
                #[derive(Clone, ::schemars::JsonSchema, PartialEq)]
                pub enum State { Started }
                #[derive(Clone)]
                pub struct Builder;
            }
        };
        assert_eq!(behind_feature(&mut file).unwrap(), 2);
        let text = quote!(#file).to_string();
        assert!(!text.contains("derive (Clone , Debug , schemars"), "{text}");
        assert_eq!(
            text.matches("cfg_attr (feature = \"schemars\" , derive (schemars :: JsonSchema))")
                .count(),
            2,
            "{text}"
        );
        assert!(text.contains("derive (Clone , PartialEq)"), "{text}");
    }

    #[test]
    fn a_client_without_the_derive_is_refused() {
        let mut file: syn::File = syn::parse_quote! {
            #[derive(Clone)]
            pub struct Name;
        };
        assert!(behind_feature(&mut file).unwrap_err().contains("schemars"));
    }
}
