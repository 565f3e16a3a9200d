//! Rust SDK for the Fly.io Machines API.
//!
//! See the README for a tour. The generated raw types are re-exported as [`types`].

pub mod guest;
mod machine_config;

pub use fly_machines_api::types;
pub use fly_machines_derive::MachineConfig;
pub use machine_config::MachineConfig;
