//! The derive as a plain function from tokens to tokens, so that it can be tested without the
//! compiler.

use proc_macro2::TokenStream;

use crate::attrs::Model;
use crate::codegen;

/// Expands `#[derive(MachineConfig)]` on `input`: the `impl fly_machines::MachineConfig`, or
/// `compile_error!`s for every problem found in the input.
pub fn expand(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match Model::from_input(&input) {
        Ok(model) => codegen::generate(&model),
        Err(errors) => errors.write_errors(),
    }
}
