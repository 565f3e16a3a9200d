//! End-to-end workflows of the `fly-machines` client against the `fly-machines-sim` emulator.
//!
//! The scenarios live in `tests/e2e/` (one test binary); `tests/README.md` lists them, what
//! each proves, and the figures of the last run.
//!
//! [`preview`] is the "preview environment" program the resilience scenarios run.

pub mod preview;
