//! The deploy crate's tests, one binary: golden plans and the fleet file's errors.

mod apply;
mod cancel;
mod cli;
mod crash;
mod file_errors;
mod health;
mod plans;
mod strategies;
