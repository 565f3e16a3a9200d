//! The emulator's tests, one binary: every module is one subject, over real HTTP on loopback.
//!
//! `cargo test -p fly-machines-sim --test sim <module>` runs one subject, e.g. `attacks`.

mod all_operations;
mod app_idempotency;
mod attacks;
mod auth_limits_faults;
mod binary;
mod common;
mod defences;
mod lifecycle;
mod machine_and_network_fields;
mod model;
mod postgres;
mod postgres_model;
mod postgres_refusals;
mod wait_and_leases;
