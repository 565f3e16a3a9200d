//! The rules a Fly machine config must follow, written once.
//!
//! A plain library (its one dependency is `base64`), read by three users: the
//! `fly-machines-derive` proc-macro crate, where `#[derive(MachineConfig)]` uses it to reject bad
//! attribute values at compile time; the `fly-machines` crate (re-exported as
//! `fly_machines::guest::rules`), whose builders reject the same values at run time; and the
//! emulator's validation. Because all of them read the same tables and call the same functions,
//! they cannot disagree about what Fly accepts, and they word their errors the same way.

//!
//! One module per kind of fact: guest sizes, closed word sets, names and paths, spot pricing
//! and volume growth, Go durations, wire encodings; the rule and its error; the wording of hints.

mod duration;
mod encoding;
mod error;
mod guest;
mod names;
mod spot;
mod wording;
mod words;

pub use duration::*;
pub use encoding::*;
pub use error::*;
pub use guest::*;
pub use names::*;
pub use spot::*;
pub use wording::closest;
pub use words::*;

#[cfg(test)]
mod tests;
