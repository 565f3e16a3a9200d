//! Maintainer tasks for the fly-machines workspace.
//!
//! * `cargo xtask regen [--check]` turns `openapi/fly-machines.json` into the generated client,
//!   the generated httpmock helpers and the operation table; `--check` only compares. Both
//!   first check the document's error statuses and its OpenAPI `links` (see `links.rs`).
//! * `cargo xtask spec-diff <upstream.json>` lists what differs between our document and an
//!   upstream one, minus the corrections we made on purpose (see `corrections.rs`).

mod corrections;
mod diff;
mod generate;
mod links;
mod mocks;
mod schemars_feature;
mod sdk;
mod secrets;
mod spec;
mod statuses;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  cargo xtask regen [--check]          regenerate the client crates from openapi/fly-machines.json
  cargo xtask spec-diff <upstream.json> [--verbose] [--ours <document.json>]
                                       show how our document (or the one given) differs from an
                                       upstream one, as an upgrade checklist with coverage figures";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("regen") => match &args[1..] {
            [] => generate::regen(&root, generate::Mode::Write),
            [flag] if flag == "--check" => generate::regen(&root, generate::Mode::Check),
            _ => Err(format!("unexpected arguments {:?}\n{USAGE}", &args[1..])),
        },
        Some("spec-diff") => {
            let mut verbose = false;
            let mut ours = root.join(spec::SPEC_PATH);
            let mut files = Vec::new();
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                match arg.as_str() {
                    "--verbose" | "-v" => verbose = true,
                    "--ours" => match rest.next() {
                        Some(path) => ours = PathBuf::from(path),
                        None => return fail(format!("--ours needs a file\n{USAGE}")),
                    },
                    flag if flag.starts_with('-') => {
                        return fail(format!("unknown option `{flag}`\n{USAGE}"));
                    }
                    file => files.push(file),
                }
            }
            match files.as_slice() {
                [upstream] => diff::run(&ours, &PathBuf::from(upstream), verbose),
                _ => Err(format!(
                    "spec-diff takes exactly one upstream document\n{USAGE}"
                )),
            }
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(format!("unknown task `{other}`\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Prints `message` as an error and exits with the status for bad arguments.
fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The workspace root: the xtask crate lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
