//! Pointing a [`Client`](crate::Client) at a local test server in one line.
//!
//! `fly-machines` does not depend on `httpmock` or on the emulator: the helper takes the server's
//! base URL, so it works with `httpmock::MockServer::base_url()`, the emulator's address, or
//! anything else that speaks the API. (A method taking `&MockServer` would need `httpmock` as a
//! dependency of every user of this crate, or a dependency of `fly-machines-httpmock` on this
//! crate, which is a dev-dependency cycle that stops the crates from being published.)

use crate::{ClientBuilder, ManualClock, RateLimits, RetryPolicy};

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
