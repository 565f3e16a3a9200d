//! Compile-time behaviour of `#[derive(MachineConfig)]`, with trybuild.
//!
//! `tests/ui/fail/*.rs` hold one rule each (plus one file with many problems at once), and their
//! `.stderr` files hold the compiler's output. After a deliberate change to a message, regenerate
//! them with `TRYBUILD=overwrite cargo test -p fly-machines --test client derive_ui` and review
//! the diff. `tests/ui/pass/*.rs` must compile and run. They stay in `tests/ui/` (not under
//! `tests/client/`), so that the paths written in the `.stderr` files keep matching.

#[test]
fn derive_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
