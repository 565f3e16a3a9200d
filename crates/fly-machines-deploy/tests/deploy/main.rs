//! The deploy crate's tests, one binary: golden plans and the fleet file's errors.

mod cli;
mod file_errors;
mod plans;
