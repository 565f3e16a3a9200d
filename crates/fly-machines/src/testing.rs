//! Pointing a [`Client`] at a local test server in one line.
//!
//! - [`ClientBuilder::test_server`] takes any base URL: settings for tests (placeholder token, no
//!   client-side limits, a clock that skips waits).
//! - With the `sim` feature, `sim.client()` on a running emulator
//!   (`fly_machines_sim::SimHandle`) gives a client with its token and address.
//! - With the `httpmock` feature, `server.client()` on an `httpmock::MockServer` gives a client with
//!   [`test_server`](ClientBuilder::test_server)'s settings.
//!
//! Both come from the [`TestServer`] trait. The mock and emulator crates do not depend on this one
//! (that would be a dependency cycle through our own tests), so the glue lives here, behind
//! features a user turns on in `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! fly-machines = { version = "0.1", features = ["sim", "httpmock"] }
//! fly-machines-sim = "0.1"
//! fly-machines-httpmock = "0.1"
//! ```

use crate::{Client, ClientBuilder, ManualClock, RateLimits, RetryPolicy};

/// The token [`ClientBuilder::test_server`] sends unless another one is set after it.
pub const TEST_TOKEN: &str = "test-token";

impl ClientBuilder {
    /// Settings for a test against a local server at `base_url` (`/v1` is added as usual): a
    /// placeholder token, no client-side rate limits, retries without jitter, and a
    /// [`ManualClock`] that skips every wait, so a test never sleeps. Each can be overridden by
    /// calling its setter afterwards.
    ///
    /// ```
    /// let server = "http://127.0.0.1:4280"; // e.g. `httpmock::MockServer::base_url()`
    /// let client = fly_machines::Client::builder().test_server(server).build()?;
    /// assert_eq!(client.base_url(), "http://127.0.0.1:4280/v1");
    /// # Ok::<(), fly_machines::Error>(())
    /// ```
    pub fn test_server(self, base_url: impl Into<String>) -> Self {
        self.base_url(base_url)
            .token(TEST_TOKEN)
            .rate_limits(RateLimits::off())
            .retry(RetryPolicy::default().jitter(false))
            .clock(ManualClock::auto_advance())
    }
}

/// A local server a test points a client at: `server.client()`.
pub trait TestServer {
    /// A builder already pointed at this server, to change a setting before
    /// [`build`](ClientBuilder::build).
    fn client_builder(&self) -> ClientBuilder;

    /// A client for this server.
    ///
    /// # Panics
    ///
    /// Never for the servers this crate implements it for: their address and token are always
    /// valid client settings. A custom implementation whose builder fails panics here; use
    /// [`client_builder`](TestServer::client_builder) and handle the error instead.
    fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a local test server's address and token are valid client settings")
    }
}

/// The emulator speaks the API as Fly does, limits and waits included, so its client keeps the
/// real settings (real clock, Fly's rate limits) and only takes the emulator's address and token.
#[cfg(feature = "sim")]
impl TestServer for fly_machines_sim::SimHandle {
    fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .base_url(self.base_url())
            .token(self.token())
    }
}

/// A mock answers only what a test set up, so its client gets
/// [`test_server`](ClientBuilder::test_server)'s settings.
#[cfg(feature = "httpmock")]
impl TestServer for httpmock::MockServer {
    fn client_builder(&self) -> ClientBuilder {
        Client::builder().test_server(self.base_url())
    }
}

/// A client for Fly or for an emulator this process started, from
/// [`Client::from_env_or_emulator`]. Keep it alive while the client is used: dropping it
/// stops nothing, but [`shutdown`](Self::shutdown) stops the emulator.
#[cfg(feature = "sim")]
#[derive(Debug)]
pub struct EnvOrEmulator {
    /// The client.
    pub client: Client,
    emulator: Option<fly_machines_sim::SimHandle>,
}

#[cfg(feature = "sim")]
impl EnvOrEmulator {
    /// The emulator, when the client talks to one.
    pub fn emulator(&self) -> Option<&fly_machines_sim::SimHandle> {
        self.emulator.as_ref()
    }

    /// The client and the emulator, if one was started.
    pub fn into_parts(self) -> (Client, Option<fly_machines_sim::SimHandle>) {
        (self.client, self.emulator)
    }

    /// Stops the emulator, if one was started.
    pub async fn shutdown(self) {
        if let Some(sim) = self.emulator {
            sim.shutdown().await;
        }
    }
}

#[cfg(feature = "sim")]
impl Client {
    /// A client for Fly when `FLY_API_TOKEN` is set (with `FLY_API_HOSTNAME` when given, as
    /// [`Client::from_env`]), else for an emulator started in this process on a free loopback
    /// port: the start-up every example and local tool wants.
    pub async fn from_env_or_emulator() -> crate::Result<EnvOrEmulator> {
        Client::from_env_or_emulator_with(|name| std::env::var(name).ok()).await
    }

    /// [`from_env_or_emulator`](Client::from_env_or_emulator) reading variables through `get`.
    pub async fn from_env_or_emulator_with(
        get: impl Fn(&str) -> Option<String>,
    ) -> crate::Result<EnvOrEmulator> {
        if get(crate::TOKEN_ENV).is_some_and(|t| !t.trim().is_empty()) {
            let client = Client::builder().from_env_vars(get)?.build()?;
            return Ok(EnvOrEmulator {
                client,
                emulator: None,
            });
        }
        let sim = fly_machines_sim::Sim::builder()
            .start()
            .await
            .map_err(|e| crate::Error::config(format!("could not start the emulator: {e}")))?;
        Ok(EnvOrEmulator {
            client: sim.client(),
            emulator: Some(sim),
        })
    }
}
