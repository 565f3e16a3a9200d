//! A real `redis-server` on a free loopback port, started for one test and killed when dropped.
//!
//! `scripts/ensure-redis.sh` installs Debian's `redis-server` first where it is missing. When
//! the server cannot be installed or started, the test fails with the reason: it never skips.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running `redis-server` owned by the test.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Installs (if needed) and starts a server on a free loopback port; panics with the reason
    /// when it cannot.
    pub fn start() -> RedisServer {
        let binary = ensure_installed();
        let mut last_error = String::new();
        // The port is free when asked, but another process may take it before the server binds.
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                binary: binary.clone(),
                port,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server on a loopback port: {last_error}");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain connection, for reading what the limiter wrote.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the test's own connection to redis-server")
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self.spawn() {
            panic!("could not restart redis-server on port {}: {e}", self.port);
        }
    }

    /// Starts the server and returns once it accepts connections (it says so on stdout), or
    /// with what it printed when it exits instead.
    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            // DEBUG SLEEP lets the expiry test see server time pass without sleeping itself.
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut said = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("Ready to accept connections");
                    said.push(line);
                    if ready {
                        break;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "redis-server exited before accepting connections:\n{}",
                        said.join("\n")
                    ));
                }
            }
        }
        // Keep reading its log so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The path of `redis-server`, installed by the repository's script where it is missing.
fn ensure_installed() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ensure-redis.sh");
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        output.status.success(),
        "{script} could not provide redis-server ({}); the Redis tests need it",
        output.status
    );
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{script} succeeded but named no redis-server"
    );
    PathBuf::from(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
