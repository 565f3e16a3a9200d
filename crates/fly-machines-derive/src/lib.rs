//! `#[derive(MachineConfig)]`: a Fly machine config from a Rust type, checked at compile time.
//!
//! Use it through the `fly-machines` crate, which re-exports it next to the trait it implements
//! (`fly_machines::MachineConfig`) and documents the attribute language. This crate only holds the
//! macro: [`derive_machine_config`] hands the tokens to `expand::expand`, which reads the
//! attributes with darling, checks them against the rule table in `fly-machines-rules` (shared
//! with `fly_machines::guest`) and writes the impl.

mod attrs;
mod codegen;
mod expand;
// The rule table lives in its own crate, shared with `fly_machines` and the emulator.
use fly_machines_rules as rules;
mod sections;
mod values;

#[cfg(test)]
mod tests;

/// Derives `fly_machines::MachineConfig` from `#[machine(...)]` attributes; see the
/// `fly_machines::MachineConfig` docs for the attribute reference.
#[proc_macro_derive(MachineConfig, attributes(machine))]
pub fn derive_machine_config(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).into()
}
