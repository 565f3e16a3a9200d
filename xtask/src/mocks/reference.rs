//! The reference of the typed mocks: per resource, a table of mock method → SDK call → Fly
//! operation → matchers and answers, generated from the same table that names the mocks.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{ErrorAnswers, operations_items, self_type_name};
use crate::generate::OperationFacts;
use crate::sdk::RESOURCES;

/// The public methods of each wrapper (`VolumesDeleteWhen` → `app_name`, `volume_id`, ...).
fn wrapper_methods(file: &mut syn::File) -> Result<Vec<(String, Vec<String>)>, String> {
    Ok(operations_items(file)?
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(imp) => Some((
                self_type_name(imp)?,
                imp.items
                    .iter()
                    .filter_map(|item| match item {
                        syn::ImplItem::Fn(f)
                            if !matches!(
                                f.sig.ident.to_string().as_str(),
                                "new" | "into_inner"
                            ) =>
                        {
                            Some(f.sig.ident.to_string())
                        }
                        _ => None,
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect())
}

/// The error answer traits an operation's `Then` implements, beyond [`FlyErrors`].
fn error_traits(answers: &ErrorAnswers, places: bool) -> Vec<&'static str> {
    [
        (answers.not_found, "NotFound"),
        (answers.timeout, "RequestTimeout"),
        (answers.lease_held, "LeaseHeld"),
        (answers.precondition_failed, "PreconditionFailed"),
        (answers.unprocessable, "Unprocessable"),
        (answers.postgres, "PostgresErrors"),
        (places, "Capacity"),
    ]
    .into_iter()
    .filter_map(|(wanted, name)| wanted.then_some(name))
    .collect()
}

fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The generated `reference` module: one documented submodule per resource.
pub fn reference(
    file: &mut syn::File,
    ops: &[OperationFacts],
    raw: &serde_json::Value,
    body_matchers: &super::matchers::Added,
) -> Result<TokenStream, String> {
    let methods = wrapper_methods(file)?;
    let of = |wrapper: &str| -> Result<&Vec<String>, String> {
        methods
            .iter()
            .find(|(name, _)| name == wrapper)
            .map(|(_, m)| m)
            .ok_or_else(|| format!("no `{wrapper}` in the generated mocks"))
    };
    let mut modules = Vec::new();
    for (resource, title) in RESOURCES {
        let mut rows = Vec::new();
        let mut members: Vec<&OperationFacts> = ops
            .iter()
            .filter(|op| op.sdk.resource == resource)
            .collect();
        members.sort_by_key(|op| op.sdk.mock_name());
        for op in members {
            let mock = op.sdk.mock_name();
            let when = super::names::wrapper_type(op, "When");
            let typed: &[&str] = body_matchers
                .iter()
                .find(|(w, _)| *w == when)
                .map_or(&[], |(_, m)| m.as_slice());
            let matchers: Vec<String> = of(&when)?
                .iter()
                .map(|m| {
                    if typed.contains(&m.as_str()) {
                        format!("{m}*")
                    } else {
                        m.clone()
                    }
                })
                .collect();
            let answers = super::answers_for(op, raw);
            let mut then = code_list(of(&super::names::wrapper_type(op, "Then"))?);
            for name in error_traits(&answers, op.sdk.places) {
                then.push_str(&format!(", [`{name}`](crate::{name})"));
            }
            rows.push(format!(
                "| [`{mock}`](crate::MockServerExt::{mock}) | `{}` | `{}`<br>`{} {}` | {} | {then} |",
                op.sdk.call,
                op.id,
                op.method,
                op.path,
                code_list(&matchers).replace("*`", "`\\*")
            ));
        }
        if rows.is_empty() {
            return Err(format!("the resource `{resource}` has no operation"));
        }
        let doc = format!(
            "{title}.\n\n\
             | Mock | SDK call | Fly operation | `When` matchers | `Then` answers |\n\
             |---|---|---|---|---|\n{}\n\n\
             Matchers marked \\* check one field of the JSON body. Every `Then` also offers \
             [`FlyErrors`](crate::FlyErrors) (429, 5xx, `invalid_argument`, `unknown`, any status).",
            rows.join("\n")
        );
        let name = format_ident!("{resource}");
        modules.push(quote! {
            #[doc = #doc]
            pub mod #name {}
        });
    }
    Ok(quote! {
        #![doc = " Which typed mock stands for which SDK call, per resource: the mock method, the \
                   `fly-machines` call it answers, Fly's operation id (also a doc alias of the \
                   method) and path, what its `When` can match and what its `Then` can answer."]
        #(#modules)*
    })
}
