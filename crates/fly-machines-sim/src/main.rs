//! `fly-machines-sim`: serve the emulator on loopback until Ctrl-C.

use std::time::Duration;

use clap::Parser;
use fly_machines_sim::{Faults, Sim};

/// A local emulator of the Fly.io Machines API.
#[derive(Debug, Parser)]
#[command(name = "fly-machines-sim", version, about)]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 4280)]
    port: u16,
    /// API token clients must send; a random one is made (and printed) when omitted. An empty
    /// token is refused: use --no-auth to turn auth off.
    #[arg(long, env = "FLY_SIM_TOKEN")]
    token: Option<String>,
    /// Accept any request, with or without a token.
    #[arg(long)]
    no_auth: bool,
    /// Turn Fly's rate limits off.
    #[arg(long)]
    no_rate_limits: bool,
    /// Duration of each transient state, in milliseconds.
    #[arg(long, default_value_t = 30)]
    transition_ms: u64,
    /// Duration of each Managed Postgres phase (creating, initializing, deleting, a backup),
    /// in milliseconds.
    #[arg(long, default_value_t = 1000)]
    postgres_step_ms: u64,
    /// Seed for ids, nonces and faults.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Fraction of requests answered with 500/502/503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction of machine creates that succeed but answer 408 or 5xx.
    #[arg(long, default_value_t = 0.0)]
    ambiguous_create_rate: f64,
    /// Milliseconds during which a new machine answers 404.
    #[arg(long, default_value_t = 0)]
    not_found_after_create_ms: u64,
    /// Milliseconds a started machine's health checks stay critical before they pass.
    #[arg(long, default_value_t = 0)]
    check_delay_ms: u64,
    /// Regions out of capacity (comma-separated): machine and volume creates there answer 412
    /// `insufficient_capacity`.
    #[arg(long, value_delimiter = ',')]
    capacity_regions: Vec<String>,
    /// Fraction of machine and volume creates elsewhere that answer the capacity error.
    #[arg(long, default_value_t = 0.0)]
    capacity_rate: f64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let mut builder = Sim::builder()
        .port(args.port)
        .seed(args.seed)
        .transition_time(Duration::from_millis(args.transition_ms))
        .postgres_step(Duration::from_millis(args.postgres_step_ms))
        .check_delay(Duration::from_millis(args.check_delay_ms))
        .faults(
            Faults::seeded(args.seed)
                .error_rate(args.error_rate)
                .ambiguous_create_rate(args.ambiguous_create_rate)
                .not_found_after_create(Duration::from_millis(args.not_found_after_create_ms))
                .capacity_regions(args.capacity_regions)
                .capacity_rate(args.capacity_rate),
        );
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    if args.no_auth {
        builder = builder.accept_any_token();
    }
    if args.no_rate_limits {
        builder = builder.no_rate_limits();
    }
    let sim = builder.start().await?;
    // The handler is in place before the banner says Ctrl-C stops it: a SIGINT sent as soon as
    // the banner is read must stop the emulator, not kill it.
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    say(&format!(
        "fly-machines-sim serving the Machines API at {}\n\n\
         Point a client at it with:\n  \
         export FLY_API_HOSTNAME={}\n  \
         export FLY_API_TOKEN={}\n\n\
         Press Ctrl-C to stop.",
        sim.base_url(),
        sim.hostname(),
        sim.token()
    ));
    #[cfg(unix)]
    interrupt.recv().await;
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    say("shutting down");
    sim.shutdown().await;
    Ok(())
}

/// Prints a line, ignoring a closed stdout (the reader may be gone at shutdown).
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
