//! `fly-deploy`: a fleet file in, the plan (and the fleet's status) out.
//!
//! ```text
//! fly-deploy plan FILE     print what would change, as a diff (exit 0)
//! fly-deploy status FILE   print each group's machines; exit 0 when the fleet has converged,
//!                          1 when it has not
//! ```
//!
//! It reads `FLY_API_TOKEN` and `FLY_API_HOSTNAME` (Fly's public API when unset). Exit codes:
//! 0 done (or converged), 1 not converged or a failure talking to Fly, 2 bad input (the fleet
//! file or the environment), nothing sent.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fly_machines_deploy::{DesiredFleet, Step, observed, plan};

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
}

/// Exit codes, as documented in the crate's README.
mod exit {
    pub const NOT_CONVERGED_OR_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Plan { file } | Command::Status { file }) = &cli.command;
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
