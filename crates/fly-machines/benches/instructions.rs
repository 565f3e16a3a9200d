//! The client's cost per call, counted in instructions rather than timed.
//!
//! Throughput on loopback charges the client for whatever the server and the neighbours do on a
//! shared machine. Instructions retired in the client process alone, counted by valgrind's
//! callgrind, are the same from run to run. The emulator runs in a process of its own, serving a
//! realistic machine of about 1 KB.
//!
//! For each client, the count of a process making N = 100 and N = 600 sequential Get Machine
//! calls is taken, and the difference divided by 500, so that start-up and set-up cancel out:
//!
//! * `bare`: reqwest sending the same headers and decoding into the same `types::Machine`;
//! * `generated`: the progenitor client with a pass-through policy that sets those headers;
//! * `full`: `fly_machines::Client` (hooks, limiter admitting, retry policy, tracing span with
//!   no subscriber).
//!
//! Prints `instructions_bare`, `instructions_generated`, `instructions_full` and
//! `instructions_full_over_bare` (target <= 1.10). Needs valgrind: installed with `apt-get` when
//! missing. `cargo bench -p fly-machines --bench instructions`; with `FLY_INSTRUCTIONS_KEEP=1`
//! the callgrind files are kept (and their folder printed) for `callgrind_annotate`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use fly_machines::types;
use fly_machines_api::{Operation, PolicyFuture, RequestPolicy};

const ROLE: &str = "FLY_INSTRUCTIONS_ROLE";
const TOKEN: &str = "bench-token";
const APP: &str = "bench-app";
const SHORT: u64 = 100;
const LONG: u64 = 600;
const USER_AGENT: &str = concat!("fly-machines/", env!("CARGO_PKG_VERSION"));

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("server") => serve(),
        Ok("client") => run_client(),
        _ => measure(),
    }
}

/// The parent: starts the emulator process, makes the machine, counts each client twice.
fn measure() {
    ensure_valgrind();
    let mut server = ServerProcess::start();
    let base_url = server.base_url.clone();
    let machine_id = runtime().block_on(make_machine(&base_url));

    let scratch = std::env::temp_dir().join(format!("fly-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let per_call = |variant: &str| {
        let short = count(&scratch, variant, SHORT, &base_url, &machine_id);
        let long = count(&scratch, variant, LONG, &base_url, &machine_id);
        long.saturating_sub(short) as f64 / (LONG - SHORT) as f64
    };
    let bare = per_call("bare");
    let generated = per_call("generated");
    let full = per_call("full");
    if std::env::var_os("FLY_INSTRUCTIONS_KEEP").is_some() {
        eprintln!("callgrind files kept in {}", scratch.display());
    } else {
        std::fs::remove_dir_all(&scratch).ok();
    }
    server.stop();

    println!("instructions_bare: {bare:.0}");
    println!("instructions_generated: {generated:.0}");
    println!("instructions_full: {full:.0}");
    println!("instructions_generated_over_bare: {:.3}", generated / bare);
    println!("instructions_full_over_bare: {:.3}", full / bare);
}

/// Runs this binary as a client of `variant` making `calls` calls under callgrind, and returns
/// the instructions it retired.
fn count(scratch: &Path, variant: &str, calls: u64, base_url: &str, machine_id: &str) -> u64 {
    let out = scratch.join(format!("callgrind.{variant}.{calls}"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().expect("own path"))
        .env(ROLE, "client")
        .env("FLY_INSTRUCTIONS_VARIANT", variant)
        .env("FLY_INSTRUCTIONS_CALLS", calls.to_string())
        .env("FLY_INSTRUCTIONS_BASE_URL", base_url)
        .env("FLY_INSTRUCTIONS_MACHINE", machine_id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("valgrind runs");
    assert!(
        status.success(),
        "the {variant} client under callgrind failed: {status}"
    );
    let text = std::fs::read_to_string(&out).expect("callgrind output");
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or(line.strip_prefix("summary:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no instruction total in {}", out.display()))
}

fn ensure_valgrind() {
    let present = || {
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return;
    }
    eprintln!("valgrind is missing: installing Debian's package");
    for args in [&["update"][..], &["install", "-y", "valgrind"][..]] {
        let status = Command::new("apt-get")
            .args(args)
            .stdout(Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "`apt-get {}` failed; install valgrind to run this bench",
            args.join(" ")
        );
    }
    assert!(present(), "valgrind still missing after apt-get install");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The emulator, in a process of its own so that its work is not counted.
struct ServerProcess {
    child: Child,
    base_url: String,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(ROLE, "server")
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()
            .expect("emulator process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("emulator prints its URL");
        ServerProcess {
            child,
            base_url: line.trim().to_string(),
        }
    }

    fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server process: the emulator without rate limits, until its parent closes stdin.
fn serve() {
    runtime().block_on(async {
        let sim = fly_machines_sim::Sim::builder()
            .token(TOKEN)
            .no_rate_limits()
            .start()
            .await
            .expect("emulator starts");
        println!("{}", sim.base_url());
        // Ends when the parent goes away (stdin closes) or kills this process.
        tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
            .await
            .ok();
        sim.shutdown().await;
    });
}

/// An app and a machine whose Get Machine answer is about 1 KB, as a real one is.
async fn make_machine(base_url: &str) -> String {
    let client = fly_machines::Client::builder()
        .token(TOKEN)
        .base_url(base_url)
        .build()
        .expect("client");
    client
        .apps()
        .create(APP, "personal")
        .send()
        .await
        .expect("app");
    let config: types::MachineConfig = serde_json::from_value(serde_json::json!({
        "image": "registry.fly.io/bench-app:deployment-01JBENCHMARKIMAGE0000000000",
        "env": {"PRIMARY_REGION": "iad", "RUST_LOG": "info", "DATABASE_POOL": "16"},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "metadata": {"fly_platform_version": "v2", "fly_process_group": "app", "role": "web"},
        "restart": {"policy": "on-failure", "max_retries": 10},
        "services": [{
            "protocol": "tcp",
            "internal_port": 8080,
            "autostop": true,
            "autostart": true,
            "ports": [
                {"port": 80, "handlers": ["http"], "force_https": true},
                {"port": 443, "handlers": ["tls", "http"]}
            ],
            "concurrency": {"type": "connections", "hard_limit": 25, "soft_limit": 20}
        }],
        "checks": {"alive": {"type": "tcp", "port": 8080, "interval": "15s", "timeout": "2s"}}
    }))
    .expect("config");
    let machine = client
        .app(APP)
        .machines()
        .create(config)
        .region("iad")
        .send()
        .await
        .expect("machine");
    let id = machine.id().to_string();
    let size = serde_json::to_vec(
        &client
            .app(APP)
            .machine(&id)
            .get()
            .await
            .expect("get")
            .data(),
    )
    .map(|body| body.len())
    .unwrap_or(0);
    eprintln!("Get Machine answer: {size} bytes");
    id
}

/// A client process (the one callgrind counts).
fn run_client() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let variant = var("FLY_INSTRUCTIONS_VARIANT");
    let calls: u64 = var("FLY_INSTRUCTIONS_CALLS").parse().expect("a call count");
    let base_url = var("FLY_INSTRUCTIONS_BASE_URL");
    let machine_id = var("FLY_INSTRUCTIONS_MACHINE");
    runtime().block_on(async {
        match variant.as_str() {
            "bare" => bare(&base_url, &machine_id, calls).await,
            "generated" => generated(&base_url, &machine_id, calls).await,
            "full" => full(&base_url, &machine_id, calls).await,
            other => panic!("unknown variant {other}"),
        }
    });
}

async fn bare(base_url: &str, machine_id: &str, calls: u64) {
    let http = reqwest::Client::new();
    let url = format!("{base_url}/apps/{APP}/machines/{machine_id}");
    for _ in 0..calls {
        let response = http
            .get(&url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("user-agent", USER_AGENT)
            .send()
            .await
            .expect("answer");
        assert!(response.status().is_success());
        let body = response.bytes().await.expect("body");
        let machine: types::Machine = serde_json::from_slice(&body).expect("a machine");
        std::hint::black_box(machine);
    }
}

/// Sets the headers our policy sets, and sends once.
struct PassThrough {
    authorization: reqwest::header::HeaderValue,
}

impl RequestPolicy for PassThrough {
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        method: &'static str,
    ) -> Result<&'static Operation, String> {
        let headers = request.headers_mut();
        headers.insert(reqwest::header::AUTHORIZATION, self.authorization.clone());
        headers.insert(
            reqwest::header::USER_AGENT,
            reqwest::header::HeaderValue::from_static(USER_AGENT),
        );
        fly_machines_api::operation_for(method)
    }

    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        _method: &'static str,
    ) -> PolicyFuture<'a> {
        Box::pin(client.execute(request))
    }
}

async fn generated(base_url: &str, machine_id: &str, calls: u64) {
    let policy = PassThrough {
        authorization: format!("Bearer {TOKEN}").parse().expect("header"),
    };
    let raw = fly_machines_api::Client::new_with_client(
        base_url,
        reqwest::Client::new(),
        fly_machines_api::Inner::new(Arc::new(policy)),
    );
    for _ in 0..calls {
        let machine = raw
            .machines_show(APP, machine_id, None, None)
            .await
            .expect("a machine");
        std::hint::black_box(machine.into_inner());
    }
}

async fn full(base_url: &str, machine_id: &str, calls: u64) {
    // Limits wide enough that the limiter admits every call (it still runs its check).
    let limits = fly_machines::RateLimits::fly_defaults().limit(
        fly_machines::RateLimitClass::GetMachine,
        fly_machines::Limit::per_second(1_000_000, 1_000_000),
    );
    let client = fly_machines::Client::builder()
        .token(TOKEN)
        .base_url(base_url)
        .rate_limits(limits)
        .build()
        .expect("client");
    let machine = client.app(APP).machine(machine_id);
    for _ in 0..calls {
        std::hint::black_box(machine.get().await.expect("a machine"));
    }
}
