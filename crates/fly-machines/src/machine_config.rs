//! The trait behind `#[derive(MachineConfig)]`.

use crate::types;

/// A type that describes a kind of machine: each value yields a complete [`types::MachineConfig`].
///
/// Usually derived with `#[derive(MachineConfig)]`; implement it by hand when a config needs
/// logic the attributes cannot express.
pub trait MachineConfig {
    /// The machine config for this value.
    fn machine_config(&self) -> types::MachineConfig;
}
