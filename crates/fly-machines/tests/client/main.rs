//! The `fly-machines` client's tests, one binary: every module is one subject, over real HTTP
//! (httpmock, the emulator, or a raw loopback server).
//!
//! `cargo test -p fly-machines --test client <module>` runs one subject, e.g. `hostile_servers`.

mod common;
mod decode_fuzz;
mod derive;
mod derive_ui;
mod ergonomics;
mod handles;
mod hostile_servers;
mod idempotency_paging_versions;
mod loopback;
mod middleware;
mod own_process;
mod postgres;
mod spans;
mod timeouts;
/// Also built alone, once per other TLS backend: see `[[test]] tls_backends` in `Cargo.toml`.
mod tls_backends;
mod tokens_waits_leases;
mod typed_mocks;
