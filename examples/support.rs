//! What the examples share: a client for Fly when `FLY_API_TOKEN` is set, or for an emulator
//! started in this process otherwise, and an app to work in.
//!
//! Run an example with `cargo run --example <name>`; `cargo test -p fly-machines-examples` runs
//! every example against the emulator.

use fly_machines::testing::TestServer;
use fly_machines::{App, Client, RateLimits};
use fly_machines_sim::{Sim, SimHandle};

/// The error every example returns: any error, printed by `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where an example runs: Fly, or an emulator it started.
#[derive(Debug)]
pub struct Target {
    /// The client the example uses.
    pub client: Client,
    /// The organization new apps go in (`FLY_ORG`, default `personal`).
    pub org: String,
    sim: Option<SimHandle>,
}

impl Target {
    /// Fly when `FLY_API_TOKEN` is set (and `FLY_API_HOSTNAME`, `FLY_ORG` when given), else an
    /// emulator started in this process. Prints which one. `RUST_LOG=fly_machines=debug` shows
    /// one tracing span per call.
    pub async fn from_env() -> Result<Target, BoxError> {
        if std::env::var_os("RUST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .init();
        }
        let org = std::env::var("FLY_ORG").unwrap_or_else(|_| "personal".into());
        let connected = Client::from_env_or_emulator().await?;
        match connected.emulator() {
            Some(sim) => println!(
                "no FLY_API_TOKEN: running against the emulator at {}",
                sim.base_url()
            ),
            None => println!("FLY_API_TOKEN is set: running against Fly"),
        }
        let (client, sim) = connected.into_parts();
        Ok(Target { client, org, sim })
    }

    /// An emulator for an example's test: machines change state at once and no rate limit
    /// applies, so the example runs in milliseconds without waiting on a clock.
    pub async fn for_test() -> Target {
        Target::for_test_with(Sim::builder()).await
    }

    /// The same, with the emulator answering in the older shapes Fly's documentation shows
    /// (`/wait` says `{"ok":true}` alone, app create requires `app_name`): the examples must
    /// work against servers that follow that documentation too.
    pub async fn for_test_documented_shapes() -> Target {
        Target::for_test_with(Sim::builder().documented_shapes()).await
    }

    async fn for_test_with(builder: fly_machines_sim::SimBuilder) -> Target {
        let sim = builder
            .no_rate_limits()
            .transition_time(std::time::Duration::ZERO)
            .start()
            .await
            .expect("the emulator starts on a free local port");
        let client = sim
            .client_builder()
            .rate_limits(RateLimits::off())
            .build()
            .expect("the emulator's address and token are valid client settings");
        Target {
            client,
            org: "personal".into(),
            sim: Some(sim),
        }
    }

    /// The emulator this target runs against, if it is one.
    pub fn emulator(&self) -> Option<&SimHandle> {
        self.sim.as_ref()
    }

    /// Creates the app `name` for the example (safe to repeat: it uses Fly's app-create
    /// idempotency key through `ensure`) and returns its handle.
    pub async fn scratch_app(&self, name: &str) -> Result<App, BoxError> {
        let ensured = self.client.apps().ensure(name, &self.org).await?;
        Ok(ensured.app().clone())
    }

    /// Stops the emulator, if one was started.
    pub async fn finish(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// A name for an example's app, unique to this process so that runs against Fly do not collide.
pub fn app_name(example: &str) -> String {
    format!("fly-machines-{example}-{}", std::process::id())
}
