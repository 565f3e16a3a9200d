//! Runs one test in a process of its own, for measurements that are figures of the whole
//! process (peak resident memory): the other tests of this binary run on threads beside it.
//!
//! The test binary runs itself again (`current_exe`), filtered to exactly that test, with an
//! environment variable naming it; in that child the test's body runs, in the parent the child's
//! outcome is checked, with a bound on the wait.

use std::process::Stdio;
use std::time::Duration;

/// Set in the child to the name of the test it runs.
const CHILD: &str = "FLY_MACHINES_TEST_OWN_PROCESS";

/// How long the parent waits for the child before it kills it and fails.
const BOUND: Duration = Duration::from_secs(300);

/// Runs `body` in a child process when called from the test named `test` (its path inside this
/// binary, as `--list` shows it: `module::test`); in the child itself, runs `body`.
pub fn run(test: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some_and(|name| name == test) {
        body();
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime to wait on the child");
    let output = runtime.block_on(async {
        let exe = std::env::current_exe().expect("the path of this test binary");
        let child = tokio::process::Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, test)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: could not start its own process: {e}"));
        tokio::time::timeout(BOUND, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{test}: its own process did not end within {BOUND:?}"))
            .unwrap_or_else(|e| panic!("{test}: could not wait for its own process: {e}"))
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The child's figures, shown like those of any test (with `--nocapture`).
    print!("{stdout}");
    assert!(
        output.status.success(),
        "{test} failed in its own process ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // A filter that matched nothing would also end in success: the child must have run it.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test}: its own process did not run exactly this test:\n{stdout}"
    );
}

/// The name of a test of this binary as `--list` shows it, from its module path (which starts
/// with the crate's name) and its function name.
pub fn test_name(module_path: &str, function: &str) -> String {
    let module = module_path.split_once("::").map_or("", |(_, rest)| rest);
    if module.is_empty() {
        function.to_string()
    } else {
        format!("{module}::{function}")
    }
}
