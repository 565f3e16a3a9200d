//! The generated code and our OpenAPI document agree with each other, and the document agrees
//! with Fly's published one except where we corrected it on purpose.
//!
//! Both tests run the xtask binary that cargo builds for them. Fly's document is kept outside the
//! repository (`../shared/reference`); where it is absent, that test says so and passes without
//! checking anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the xtask lives one level below the workspace root")
}

/// Runs the xtask binary cargo built for this test, from the workspace root.
fn xtask(args: &[&str]) -> Output {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    Command::new(xtask)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {xtask}: {e}"))
}

fn describe(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn checked_in_generated_code_matches_the_document() {
    let output = xtask(&["regen", "--check"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("up to date"), "{}", describe(&output));
}

#[test]
fn every_difference_from_fly_s_document_is_explained() {
    let upstream = workspace_root().join("../shared/reference/fly-machines-openapi3-2026-10.json");
    if !upstream.is_file() {
        println!(
            "skipped: {} does not exist (Fly's document lives outside the repository)",
            upstream.display()
        );
        return;
    }
    let upstream = upstream.to_str().expect("a UTF-8 path").to_owned();
    let output = xtask(&["spec-diff", &upstream]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("no unexplained difference"),
        "{}",
        describe(&output)
    );
}
