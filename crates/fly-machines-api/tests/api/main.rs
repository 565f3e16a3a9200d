//! The generated client's tests, one binary: the hand-written accessors, and (with the
//! `schemars` feature, which it needs to walk each type's JSON Schema) real documents decoded
//! and encoded again.
//!
//! `cargo test -p fly-machines-api --features schemars --test api` runs both.

mod accessors;
#[cfg(feature = "schemars")]
mod examples;
