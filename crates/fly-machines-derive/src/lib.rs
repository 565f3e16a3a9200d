//! `#[derive(MachineConfig)]` (placeholder until the derive lands).
use proc_macro::TokenStream;

/// Derives `fly_machines::MachineConfig`.
#[proc_macro_derive(MachineConfig, attributes(machine))]
pub fn derive_machine_config(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
