//! The typed httpmock helpers: progenitor's mocks, fixed to match what our `Client` sends, and the
//! error answers Fly gives, generated per operation.
//!
//! Progenitor anchors every path matcher at the root (`^/apps/...`), but the API lives under a base
//! path (`/v1`), so none of its mocks would ever match a request from our client. [`rebase_paths`]
//! rewrites each matcher to accept any base path in front, and escapes the path values a test
//! pins (an id with a `.` must match only itself). [`error_answers`] says, for each operation,
//! which of Fly's error answers it can get; the httpmock crate turns that into trait impls.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;

use crate::generate::OperationFacts;
use crate::statuses::ErrorShape;

mod envelopes;
mod matchers;
mod names;
mod reference;

/// The httpmock crate's generated files: the mocks (progenitor's, rebased, renamed after the SDK's
/// handles, with answers in the client's types and typed body matchers) and their reference.
pub struct TypedMocks {
    pub mocks: TokenStream,
    pub reference: TokenStream,
}

/// Turns progenitor's httpmock code into our typed mocks. `types` is the generated client, whose
/// structs say what each envelope holds.
pub fn typed_mocks(
    progenitor: TokenStream,
    ops: &[OperationFacts],
    raw: &serde_json::Value,
    types: &syn::File,
) -> Result<TypedMocks, String> {
    let mut file: syn::File = syn::parse2(rebase_paths(progenitor)?)
        .map_err(|e| format!("rebased mocks do not parse: {e}"))?;
    names::rename(&mut file, ops)?;
    envelopes::unwrap_envelopes(&mut file, ops, types)?;
    let body_matchers = matchers::add_body_matchers(&mut file, raw)?;
    let reference = reference::reference(&mut file, ops, raw, &body_matchers)?;
    Ok(TypedMocks {
        mocks: quote!(#file),
        reference,
    })
}

/// The items of progenitor's `operations` module, which holds the `When`/`Then` wrappers.
fn operations_items(file: &mut syn::File) -> Result<&mut Vec<syn::Item>, String> {
    file.items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "operations" => m.content.as_mut().map(|(_, i)| i),
            _ => None,
        })
        .ok_or_else(|| "progenitor's mocks have no `operations` module".to_string())
}

/// `VolumesDeleteThen` for `impl VolumesDeleteThen { .. }`; `None` for a trait impl.
fn self_type_name(imp: &syn::ItemImpl) -> Option<String> {
    if imp.trait_.is_some() {
        return None;
    }
    match &*imp.self_ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
}

/// A type as compact text: `&types::Lease`, `::std::option::Option<Lease>`.
fn type_text(ty: &syn::Type) -> String {
    quote!(#ty).to_string().replace(' ', "")
}

/// The named fields of the client's struct `name`, with their types as [`type_text`].
fn struct_fields(types: &syn::File, name: &str) -> Option<Vec<(String, String)>> {
    fn find<'a>(items: &'a [syn::Item], name: &str) -> Option<&'a syn::ItemStruct> {
        items.iter().find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == name => Some(s),
            syn::Item::Mod(m) => m.content.as_ref().and_then(|(_, items)| find(items, name)),
            _ => None,
        })
    }
    let found = find(&types.items, name)?;
    let syn::Fields::Named(fields) = &found.fields else {
        return None;
    };
    Some(
        fields
            .named
            .iter()
            .filter_map(|f| Some((f.ident.as_ref()?.to_string(), type_text(&f.ty))))
            .collect(),
    )
}

/// What a matcher accepts in front of an operation's path: any number of whole segments (`/v1`,
/// `/proxy/v1`, or nothing).
pub const BASE_PATH_PATTERN: &str = "(?:/[^/]+)*";

/// Rewrites progenitor's httpmock code so that each path matcher accepts any base path in front
/// of the operation's path, and so that pinned path values are matched literally.
pub fn rebase_paths(tokens: TokenStream) -> Result<TokenStream, String> {
    let mut file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("progenitor's mocks do not parse: {e}"))?;
    let mut rebase = Rebase::default();
    rebase.visit_file_mut(&mut file);
    if let Some(problem) = rebase.problem {
        return Err(problem);
    }
    if rebase.templates == 0 || rebase.pinned == 0 {
        return Err(format!(
            "progenitor's mocks changed shape: found {} path matchers and {} pinned path values",
            rebase.templates, rebase.pinned
        ));
    }
    Ok(quote!(#file))
}

#[derive(Default)]
struct Rebase {
    /// `Regex::new("^/...")` literals rewritten.
    templates: usize,
    /// `format!("^/...", value)` calls rewritten.
    pinned: usize,
    problem: Option<String>,
}

impl Rebase {
    fn rebased(&mut self, pattern: &str) -> Option<String> {
        match pattern.strip_prefix("^/") {
            Some(rest) => Some(format!("^{BASE_PATH_PATTERN}/{rest}")),
            None => {
                self.problem = Some(format!(
                    "a path matcher `{pattern}` is not anchored at `^/`"
                ));
                None
            }
        }
    }
}

impl VisitMut for Rebase {
    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        let is_regex_new = matches!(&*call.func, syn::Expr::Path(p)
            if p.path.segments.len() >= 2
                && p.path.segments.iter().rev().nth(1).is_some_and(|s| s.ident == "Regex")
                && p.path.segments.last().is_some_and(|s| s.ident == "new"));
        if is_regex_new
            && let Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            })) = call.args.first_mut()
            && let Some(pattern) = self.rebased(&lit.value())
        {
            *lit = syn::LitStr::new(&pattern, lit.span());
            self.templates += 1;
        }
        syn::visit_mut::visit_expr_call_mut(self, call);
    }

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if mac.path.is_ident("format") {
            let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
            let Ok(mut args) = mac.parse_body_with(parser) else {
                self.problem = Some("a format! in progenitor's mocks does not parse".into());
                return;
            };
            let mut items = args.iter_mut();
            if let Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            })) = items.next()
                && lit.value().starts_with("^/")
                && let Some(pattern) = self.rebased(&lit.value())
            {
                *lit = syn::LitStr::new(&pattern, lit.span());
                for value in items {
                    *value = syn::parse_quote!(regex::escape(&#value));
                }
                self.pinned += 1;
                mac.tokens = quote!(#args);
            }
        }
        syn::visit_mut::visit_macro_mut(self, mac);
    }
}

/// The error answers one operation can get from Fly, beyond those every operation can get
/// (429 with `Retry-After`, 5xx, any status with Fly's error body). Read from the statuses the
/// operation declares in the document (which `regen` checks against the rule in
/// `statuses.rs`), so a mock offers exactly the errors the client is told to expect.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorAnswers {
    /// 404 declared: the operation names an app, machine, volume or other resource in its path.
    pub not_found: bool,
    /// 408 declared: a wait that ran out, or a host that missed its deadline.
    pub timeout: bool,
    /// 409 declared by a call that carries a lease nonce: another holder has the machine.
    pub lease_held: bool,
    /// 412 declared: a change to a machine whose state or version does not allow it.
    pub precondition_failed: bool,
    /// 422 declared with Fly's `{error, status}` body: the request body was refused.
    pub unprocessable: bool,
    /// Errors in the managed Postgres shape (`{error}`), including 503 with `Retry-After`.
    pub postgres: bool,
}

/// Which answers `op` can get, from the statuses it declares and the shape of its errors.
pub fn answers_for(op: &OperationFacts, raw: &serde_json::Value) -> ErrorAnswers {
    let entry = &raw["paths"][&op.path][op.method.to_ascii_lowercase()];
    let shape = ErrorShape::of(&op.path, entry);
    let declares = |status: &str| op.errors.iter().any(|e| e == status);
    ErrorAnswers {
        not_found: declares("404"),
        timeout: declares("408"),
        lease_held: declares("409") && op.lease_nonce,
        precondition_failed: declares("412"),
        unprocessable: declares("422") && shape == ErrorShape::Machines,
        postgres: shape == ErrorShape::Postgres,
    }
}

/// The generated file of the httpmock crate that says which error answers each operation's
/// `Then` offers, as impls of the crate's answer traits.
pub fn error_answers(ops: &[OperationFacts], raw: &serde_json::Value) -> TokenStream {
    let impls = ops.iter().map(|op| {
        let then = format_ident!(
            "{}",
            names::wrapper_type(op, "Then"),
            span = Span::call_site()
        );
        let answers = answers_for(op, raw);
        let doc = format!(" `{} {}`", op.method.to_ascii_uppercase(), op.path);
        let mut items = vec![quote! {
            #[doc = #doc]
            impl crate::FlyErrors for operations::#then {
                fn from_then(then: ::httpmock::Then) -> Self {
                    operations::#then::new(then)
                }
                fn into_then(self) -> ::httpmock::Then {
                    self.into_inner()
                }
            }
        }];
        for (wanted, name) in [
            (answers.not_found, "NotFound"),
            (answers.timeout, "RequestTimeout"),
            (answers.lease_held, "LeaseHeld"),
            (answers.precondition_failed, "PreconditionFailed"),
            (answers.unprocessable, "Unprocessable"),
            (answers.postgres, "PostgresErrors"),
            (op.sdk.places, "Capacity"),
        ] {
            if wanted {
                let answer = format_ident!("{name}");
                items.push(quote!(impl crate::#answer for operations::#then {}));
            }
        }
        quote!(#(#items)*)
    });
    quote! {
        use crate::generated::operations;
        #(#impls)*
    }
}

/// `machines_list` → `MachinesList`, as progenitor names the wrapper types.
pub(crate) fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebased(code: TokenStream) -> String {
        let file: syn::File = syn::parse2(rebase_paths(code).unwrap()).unwrap();
        prettyplease::unparse(&file)
    }

    #[test]
    fn matchers_accept_a_base_path_and_pinned_values_are_escaped() {
        let out = rebased(quote! {
            fn a(when: When) -> When { when.path_matches(regex::Regex::new("^/apps/[^/]*$").unwrap()) }
            fn b(value: &str) -> Regex {
                regex::Regex::new(&format!("^/apps/{}$", value.to_string())).unwrap()
            }
        });
        assert!(
            out.contains(r#"Regex::new("^(?:/[^/]+)*/apps/[^/]*$")"#),
            "{out}"
        );
        assert!(
            out.contains(r#"format!("^(?:/[^/]+)*/apps/{}$", regex::escape(& value.to_string()))"#)
                || out.contains(
                    r#"format!("^(?:/[^/]+)*/apps/{}$", regex::escape(&value.to_string()))"#
                ),
            "{out}"
        );
    }

    #[test]
    fn code_without_matchers_is_an_error() {
        let err = rebase_paths(quote!(
            fn a() {}
        ))
        .unwrap_err();
        assert!(err.contains("changed shape"), "{err}");
    }

    fn op(method: &str, path: &str) -> OperationFacts {
        OperationFacts {
            id: "X".into(),
            name: "x".into(),
            method: method.into(),
            path: path.into(),
            idempotent: false,
            rate_limit: "global".into(),
            lease_nonce: false,
            long_poll: None,
            errors: Vec::new(),
            sdk: Default::default(),
        }
    }

    fn declaring(mut op: OperationFacts, statuses: &[&str], lease_nonce: bool) -> OperationFacts {
        op.errors = statuses.iter().map(|s| s.to_string()).collect();
        op.lease_nonce = lease_nonce;
        op
    }

    #[test]
    fn answers_follow_the_declared_statuses() {
        let raw = serde_json::json!({"paths": {
            "/apps": {"get": {}},
            "/apps/{app_name}/machines/{machine_id}/start": {"post": {}},
            "/apps/{app_name}/machines/{machine_id}/wait": {"get": {}},
            "/postgres/{postgres_cluster_id}/databases": {"post": {}},
        }});
        let list = declaring(op("GET", "/apps"), &["401", "429", "5XX"], false);
        assert_eq!(answers_for(&list, &raw), ErrorAnswers::default());
        let start = op("POST", "/apps/{app_name}/machines/{machine_id}/start");
        let declared = ["404", "408", "409", "412"];
        assert_eq!(
            answers_for(&declaring(start, &declared, true), &raw),
            ErrorAnswers {
                not_found: true,
                timeout: true,
                lease_held: true,
                precondition_failed: true,
                ..Default::default()
            }
        );
        // A 409 without a lease nonce is some other conflict, not a held lease.
        let start = op("POST", "/apps/{app_name}/machines/{machine_id}/start");
        assert!(!answers_for(&declaring(start, &["409"], false), &raw).lease_held);
        // Nothing follows from the path alone: an undeclared 404 gives no NotFound.
        let wait = op("GET", "/apps/{app_name}/machines/{machine_id}/wait");
        assert_eq!(
            answers_for(&declaring(wait, &["408"], false), &raw),
            ErrorAnswers {
                timeout: true,
                ..Default::default()
            }
        );
        // Postgres errors carry no code, so they get their own answers, not Unprocessable.
        let create = op("POST", "/postgres/{postgres_cluster_id}/databases");
        assert_eq!(
            answers_for(&declaring(create, &["404", "422", "503"], false), &raw),
            ErrorAnswers {
                not_found: true,
                postgres: true,
                ..Default::default()
            }
        );
        assert_eq!(upper_camel("machines_list"), "MachinesList");
    }
}
