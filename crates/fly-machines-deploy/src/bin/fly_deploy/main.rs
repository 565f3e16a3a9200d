//! `fly-deploy`: a fleet file in, the plan (and the fleet's status) out.
//!
//! ```text
//! fly-deploy plan FILE              print what would change, as a diff
//! fly-deploy apply FILE [--yes]     print the plan, then carry it out under the fleet's lock
//! fly-deploy rollback FILE [--yes]  put every machine back on its previous revision
//! fly-deploy status FILE            print each group's machines and whether it converged
//! ```
//!
//! `apply` and `rollback` show a progress bar on a terminal and plain lines, one per step,
//! elsewhere. It reads `FLY_API_TOKEN` and `FLY_API_HOSTNAME` (Fly's public API when unset). Exit codes:
//! 0 done (converged), 1 failed (rolled back, or a failure talking to Fly; for `status`, not
//! converged), 2 bad input (the fleet file, the environment, or `apply` off a terminal without
//! `--yes`; nothing is sent), 3 another deployer holds the fleet.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::{Parser, Subcommand};
use fly_machines_deploy::{Applier, DesiredFleet, FleetLock, LockError, Step, observed, plan};
use futures::StreamExt;

mod progress;

use progress::Display;

/// Plans a Fly Machines fleet from a fleet file against what the app runs now.
#[derive(Parser)]
#[command(name = "fly-deploy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the plan: what would be created, updated (with a diff), destroyed or kept.
    Plan {
        /// The fleet file (TOML).
        file: PathBuf,
    },
    /// Print each group's machines and whether the fleet has converged (exit 0) or not (1).
    Status {
        /// The fleet file (TOML).
        file: PathBuf,
    },
    /// Print the plan, then carry it out (asks first on a terminal unless --yes).
    Apply {
        /// The fleet file (TOML).
        file: PathBuf,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
        /// Seconds to wait while another deployer holds the fleet before giving up (exit 3).
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Put every machine of the fleet back on the revision it ran before its last move.
    Rollback {
        /// The fleet file (TOML).
        file: PathBuf,
        /// Roll back without asking.
        #[arg(long)]
        yes: bool,
        /// Seconds to wait while another deployer holds the fleet before giving up (exit 3).
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
}

/// Exit codes, as documented in the crate's README.
mod exit {
    pub const NOT_CONVERGED_OR_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const HELD: u8 = 3;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Plan { file }
    | Command::Status { file }
    | Command::Apply { file, .. }
    | Command::Rollback { file, .. }) = &cli.command;
    let desired = match DesiredFleet::from_toml_file(file) {
        Ok(desired) => desired,
        Err(e) => {
            eprintln!("fly-deploy: {}: {e}", file.display());
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let client = match fly_machines::Client::from_env() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("fly-deploy: {e} (set FLY_API_TOKEN, and FLY_API_HOSTNAME for another API)");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let observed = match observed::observe(&client, desired.app()).await {
        Ok(observed) => observed,
        Err(e) => {
            eprintln!(
                "fly-deploy: listing the machines of `{}`: {e}",
                desired.app()
            );
            return ExitCode::from(exit::NOT_CONVERGED_OR_FAILED);
        }
    };
    let plan = plan(&desired, &observed);
    match cli.command {
        Command::Apply { yes, wait, .. } => {
            print!("{plan}");
            if plan.is_converged() {
                println!("nothing to do");
                return ExitCode::SUCCESS;
            }
            if !confirmed(yes, "apply this plan") {
                return ExitCode::from(exit::BAD_INPUT);
            }
            let lock = match lock(&client, &desired, wait).await {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            // Planned again under the lock: another deployer may have acted meanwhile.
            let code =
                match observed::observe(&client, desired.app()).await {
                    Ok(now) => {
                        let plan = fly_machines_deploy::plan(&desired, &now);
                        let applier = Applier::new(client.clone());
                        let steps = Some(progress::steps_of(&plan));
                        run_with_progress(applier, steps, |a| async move {
                            a.apply(&desired, &plan).await
                        })
                        .await
                        .map_or_else(
                            |e| {
                                eprintln!("fly-deploy: {e}");
                                ExitCode::from(exit::NOT_CONVERGED_OR_FAILED)
                            },
                            |r| {
                                println!(
                                    "done: {} created, {} moved, {} destroyed",
                                    r.created.len(),
                                    r.moved.len(),
                                    r.destroyed.len()
                                );
                                ExitCode::SUCCESS
                            },
                        )
                    }
                    Err(e) => {
                        eprintln!(
                            "fly-deploy: listing the machines of `{}`: {e}",
                            desired.app()
                        );
                        ExitCode::from(exit::NOT_CONVERGED_OR_FAILED)
                    }
                };
            let _ = lock.release().await;
            code
        }
        Command::Rollback { yes, wait, .. } => {
            if !confirmed(
                yes,
                "put every machine of the fleet back on its previous revision",
            ) {
                return ExitCode::from(exit::BAD_INPUT);
            }
            let lock = match lock(&client, &desired, wait).await {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            let applier = Applier::new(client.clone());
            let code =
                match run_with_progress(
                    applier,
                    None,
                    |a| async move { a.rollback(&desired).await },
                )
                .await
                {
                    Ok(r) => {
                        println!("rolled back: {} machines", r.moved.len());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("fly-deploy: {e}");
                        ExitCode::from(exit::NOT_CONVERGED_OR_FAILED)
                    }
                };
            let _ = lock.release().await;
            code
        }
        Command::Plan { .. } => {
            print!("{plan}");
            ExitCode::SUCCESS
        }
        Command::Status { .. } => {
            println!("fleet `{}` in app `{}`", plan.fleet, plan.app);
            for group in &plan.groups {
                let wanted = desired
                    .find_group(&group.name)
                    .map_or(0, fly_machines_deploy::Group::count);
                let current = group
                    .steps
                    .iter()
                    .filter(|s| matches!(s, Step::Keep { .. }))
                    .count();
                println!(
                    "  group `{}`: {current} of {wanted} machines at revision {}",
                    group.name,
                    if group.revision.is_empty() {
                        "-"
                    } else {
                        &group.revision
                    }
                );
                for machine in observed.iter().filter(|m| {
                    m.is_owned_by(&plan.fleet)
                        && m.mark(fly_machines_deploy::marks::GROUP) == Some(group.name.as_str())
                }) {
                    println!(
                        "    {:<4} {:<16} {:<10} {}",
                        machine.region,
                        machine.id,
                        machine.state.as_str(),
                        machine
                            .mark(fly_machines_deploy::marks::REVISION)
                            .unwrap_or("unmarked")
                    );
                }
            }
            if plan.is_converged() {
                println!("converged");
                ExitCode::SUCCESS
            } else {
                let s = plan.summary();
                println!(
                    "not converged: {} to create, {} to update, {} to put back, {} to destroy",
                    s.create, s.update, s.drift, s.destroy
                );
                ExitCode::from(exit::NOT_CONVERGED_OR_FAILED)
            }
        }
    }
}

/// Whether to go on: `--yes`, or a `y` typed at a terminal. Off a terminal without `--yes`
/// nothing is done, and the message says so.
fn confirmed(yes: bool, what: &str) -> bool {
    if yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("fly-deploy: not on a terminal: pass --yes to {what}");
        return false;
    }
    print!("{what}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Takes the fleet's lock, or the exit code that says why not.
async fn lock(
    client: &fly_machines::Client,
    desired: &DesiredFleet,
    wait: u64,
) -> Result<FleetLock, ExitCode> {
    let holder = format!(
        "fly-deploy pid {} on {}",
        std::process::id(),
        std::env::var("HOSTNAME").unwrap_or_else(|_| "an unnamed host".into())
    );
    match FleetLock::acquire(client, desired, &holder, Duration::from_secs(wait)).await {
        Ok(lock) => Ok(lock),
        Err(e @ LockError::Held { .. }) => {
            eprintln!("fly-deploy: {e}");
            Err(ExitCode::from(exit::HELD))
        }
        Err(e) => {
            eprintln!("fly-deploy: {e}");
            Err(ExitCode::from(exit::NOT_CONVERGED_OR_FAILED))
        }
    }
}

/// Runs `work` on an applier whose progress is shown as it comes: one line per event off a
/// terminal, a bar of `total` steps on one (a spinner when `None`).
async fn run_with_progress<T, F, Fut>(applier: Applier, total: Option<u64>, work: F) -> T
where
    F: FnOnce(Applier) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let display = Display::for_stdout(total);
    let printer = tokio::spawn(async move {
        while let Some(event) = rx.next().await {
            display.show(&event);
        }
        display.finish();
    });
    let out = work(applier.progress(tx)).await;
    let _ = printer.await;
    out
}
