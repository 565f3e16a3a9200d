//! The typed mocks' tests, one binary: every operation on the wire, the error answers, and what
//! the real API sends that its published spec does not describe.
//!
//! `cargo test -p fly-machines-httpmock --test mocks <module>` runs one subject.

mod error_answers;
mod operations;
mod wire_quirks;
