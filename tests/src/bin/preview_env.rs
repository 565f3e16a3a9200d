//! The preview-environment program as a process of its own, for the multi-process test
//! (`tests/e2e/two_processes.rs`): `preview_env up <pr> <image>` or `preview_env down <pr>`,
//! against the API named by `FLY_API_HOSTNAME` with `FLY_API_TOKEN`. Prints what it made sure
//! of, one `name: value` per line.

use std::process::ExitCode;

use fly_machines::{Client, RetryPolicy};
use fly_machines_e2e::preview;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("preview_env: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let client = Client::builder()
        .from_env_vars(|name| std::env::var(name).ok())
        .and_then(|b| b.retry(RetryPolicy::default().max_attempts(8)).build())
        .map_err(|e| e.to_string())?;
    let pr = |s: Option<&String>| -> Result<u32, String> {
        s.ok_or("missing pull request number")?
            .parse()
            .map_err(|e| format!("pull request number: {e}"))
    };
    match args.first().map(String::as_str) {
        Some("up") => {
            let image = args.get(2).ok_or("missing image")?;
            let p = preview::up(&client, pr(args.get(1))?, image)
                .await
                .map_err(|e| e.to_string())?;
            println!("app: {}", p.app);
            println!("cluster: {}", p.cluster_id);
            println!("machines: {}", p.machines.join(","));
            println!("volumes: {}", p.volumes.join(","));
            println!("created: {}", p.created);
            Ok(())
        }
        Some("down") => {
            let removed = preview::down(&client, pr(args.get(1))?)
                .await
                .map_err(|e| e.to_string())?;
            println!("removed: {removed}");
            Ok(())
        }
        _ => Err("usage: preview_env up <pr> <image> | down <pr>".into()),
    }
}
