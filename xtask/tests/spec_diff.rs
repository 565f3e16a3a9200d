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
    let upstream =
        workspace_root().join("../shared/reference/fly-machines-openapi3.1-2026-12.json");
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

/// Writes `doc` to a scratch file named `name` and returns its path.
fn scratch(name: &str, doc: &serde_json::Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spec-diff-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, doc.to_string()).expect("a scratch file");
    path
}

fn operation(id: &str) -> serde_json::Value {
    serde_json::json!({"operationId": id, "responses": {"200": {"description": "OK"}}})
}

#[test]
fn a_v1_prefix_on_every_path_equals_v1_in_servers_and_coverage_is_counted() {
    // Ours keeps `/v1` in `servers`, as our document does; the upstream one has it on every path
    // and a bare host in `servers`, as Fly's 2026-10 document does. Same wire URLs.
    let ours = serde_json::json!({
        "openapi": "3.0.3",
        "servers": [{"url": "https://api.machines.dev/v1"}],
        "paths": {"/apps": {"get": operation("Apps_list")}},
        "components": {"schemas": {"App": {"type": "object", "properties": {"id": {"type": "string"}}}}}
    });
    let upstream = serde_json::json!({
        "openapi": "3.0.1",
        "servers": [{"url": "https://api.machines.dev"}],
        "paths": {
            "/v1/apps": {"get": operation("Apps_list")},
            "/v1/postgres": {"get": operation("Postgres_list")}
        },
        "components": {"schemas": {"App": {"type": "object", "properties": {
            "id": {"type": "string"}, "network_cidr": {"type": "string"}
        }}}}
    });
    let ours = scratch("ours.json", &ours);
    let upstream = scratch("upstream.json", &upstream);
    let output = xtask(&[
        "spec-diff",
        upstream.to_str().unwrap(),
        "--ours",
        ours.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Only the Postgres operation and the new property are missing: `/apps` matched `/v1/apps`.
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        stdout.contains("new operations (1):")
            && stdout.contains("GET /postgres: removed (operationId Postgres_list)"),
        "{}",
        describe(&output)
    );
    assert!(!stdout.contains("/v1/"), "{}", describe(&output));
    assert!(
        stdout.contains("new properties (1):") && stdout.contains("App.network_cidr"),
        "{}",
        describe(&output)
    );
    assert!(
        stdout.contains("operations      1/2    (50.0%)"),
        "{}",
        describe(&output)
    );
    assert!(
        stdout.contains("properties      1/2    (50.0%)"),
        "{}",
        describe(&output)
    );
}

#[test]
fn our_document_covers_every_operation_of_fly_s_newest_one() {
    let upstream =
        workspace_root().join("../shared/reference/fly-machines-openapi3.1-2026-12.json");
    if !upstream.is_file() {
        println!("skipped: {} does not exist", upstream.display());
        return;
    }
    let output = xtask(&["spec-diff", upstream.to_str().expect("a UTF-8 path")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("operations    100/100  (100.0%)"),
        "{}",
        describe(&output)
    );
}
