//! Configuring and starting an emulator: [`Sim`] and [`SimBuilder`].

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{SeedableRng, rngs::StdRng};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::{Faults, RateLimits};
use crate::connections::{ConnectionLimits, ConnectionSlots};
use crate::emulator::{Emulator, Settings, SliceHook};
use crate::faults::FaultInjector;
use crate::handle::SimHandle;
use crate::ids::{RequestIds, hex_id};
use crate::limits::RateLimiter;
use crate::request_log::RequestLog;
use crate::state::World;

/// Entry point: `Sim::builder()`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use fly_machines_sim::Sim;
///
/// let sim = Sim::builder().token("secret").start().await?;
/// println!("FLY_API_HOSTNAME={}", sim.hostname());
/// sim.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Sim;

impl Sim {
    /// A builder with the defaults: a generated token, Fly's rate limits, the real clock with
    /// 30 ms transitions, no faults, port chosen by the OS on 127.0.0.1.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }
}

/// Configures and starts an emulator.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    token: Option<String>,
    auth: bool,
    rate_limits: RateLimits,
    clock: Option<Clock>,
    transition: Duration,
    postgres_step: Duration,
    check_delay: Duration,
    faults: Faults,
    seed: u64,
    addr: SocketAddr,
    region: String,
    owner: String,
    log_capacity: usize,
    log_bytes: usize,
    versions_kept: usize,
    connection_limits: ConnectionLimits,
    max_parked_waits: Option<usize>,
    short_pages: bool,
    documented_shapes: bool,
    list_slice_hook: SliceHook,
}

impl Default for SimBuilder {
    fn default() -> SimBuilder {
        SimBuilder {
            token: None,
            auth: true,
            rate_limits: RateLimits::fly(),
            clock: None,
            transition: Duration::from_millis(30),
            postgres_step: Duration::from_secs(1),
            check_delay: Duration::ZERO,
            faults: Faults::none(),
            seed: 0x5EED,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            region: "iad".to_string(),
            owner: "user@fly-machines-sim.test".to_string(),
            log_capacity: 10_000,
            log_bytes: 4 * 1024 * 1024,
            versions_kept: 10,
            connection_limits: ConnectionLimits::default(),
            max_parked_waits: None,
            short_pages: false,
            documented_shapes: false,
            list_slice_hook: SliceHook::default(),
        }
    }
}

impl SimBuilder {
    /// The API token clients must send (`Authorization: Bearer <token>` or `FlyV1 <token>`).
    /// Without it a random token is made at start (never the same twice, whatever the seed);
    /// read it with [`SimHandle::token`]. An empty token is refused at start while auth is on.
    pub fn token(mut self, token: impl Into<String>) -> SimBuilder {
        self.token = Some(token.into());
        self
    }

    /// Accept every request, with or without an `Authorization` header.
    pub fn accept_any_token(mut self) -> SimBuilder {
        self.auth = false;
        self
    }

    /// Rate limits (default: [`RateLimits::fly`]).
    pub fn rate_limits(mut self, limits: RateLimits) -> SimBuilder {
        self.rate_limits = limits;
        self
    }

    /// Turns rate limiting off.
    pub fn no_rate_limits(self) -> SimBuilder {
        self.rate_limits(RateLimits::off())
    }

    /// The clock (default: [`Clock::real`]).
    pub fn clock(mut self, clock: Clock) -> SimBuilder {
        self.clock = Some(clock);
        self
    }

    /// Uses a [`Clock::manual`] clock: nothing times out and no transition completes until the
    /// test calls [`SimHandle::advance`].
    pub fn manual_clock(self) -> SimBuilder {
        self.clock(Clock::manual())
    }

    /// How long each transient state lasts (default 30 ms; millisecond resolution). With zero,
    /// transitions complete as soon as the machine is next observed.
    pub fn transition_time(mut self, step: Duration) -> SimBuilder {
        self.transition = step;
        self
    }

    /// How long a machine's health checks stay `critical` after it enters `started` before they
    /// pass (default 0: they pass as soon as it runs; millisecond resolution). Every check the
    /// config declares (`checks`, and each service's `checks`) is listed in the machine's
    /// `checks`. Images named `…/unhealthy` or tagged `:never-healthy` never pass; `…/crashloop`
    /// or `:crashloop` exit and restart again and again, then end in `failed`.
    pub fn check_delay(mut self, delay: Duration) -> SimBuilder {
        self.check_delay = delay;
        self
    }

    /// How long each Managed Postgres phase lasts (default 1 s; millisecond resolution): a
    /// new cluster is `creating` for one step and `initializing` for another before it is
    /// `ready`; deletion and a backup take one step each.
    pub fn postgres_step(mut self, step: Duration) -> SimBuilder {
        self.postgres_step = step;
        self
    }

    /// Fault injection (default: none). Can be changed later with [`SimHandle::set_faults`].
    pub fn faults(mut self, faults: Faults) -> SimBuilder {
        self.faults = faults;
        self
    }

    /// Seed of the generator behind ids, nonces and the default token, so runs are
    /// reproducible.
    pub fn seed(mut self, seed: u64) -> SimBuilder {
        self.seed = seed;
        self
    }

    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> SimBuilder {
        self.addr = addr;
        self
    }

    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    pub fn port(mut self, port: u16) -> SimBuilder {
        self.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// Region given to machines and volumes created without one (default `iad`).
    pub fn default_region(mut self, region: impl Into<String>) -> SimBuilder {
        self.region = region.into();
        self
    }

    /// Owner reported on leases (default `user@fly-machines-sim.test`).
    pub fn lease_owner(mut self, owner: impl Into<String>) -> SimBuilder {
        self.owner = owner.into();
        self
    }

    /// How many requests the request log keeps, oldest dropped first (default 10 000).
    pub fn request_log_capacity(mut self, capacity: usize) -> SimBuilder {
        self.log_capacity = capacity;
        self
    }

    /// How many bytes the request log may hold, oldest records dropped first (default 4 MiB;
    /// a record costs about 200 bytes plus its path and query, each cut to 512 bytes).
    pub fn request_log_bytes(mut self, bytes: usize) -> SimBuilder {
        self.log_bytes = bytes;
        self
    }

    /// How many versions each machine keeps, newest first (default 10, as Fly keeps a few;
    /// at least 1). Raise it for a test that counts every update through `…/versions`.
    pub fn versions_kept(mut self, count: usize) -> SimBuilder {
        self.versions_kept = count.max(1);
        self
    }

    /// Most `/wait` long-polls parked at once (default three quarters of
    /// [`max_connections`](Self::max_connections), at least 1). Each holds its connection for
    /// up to 60 s; past the budget a wait is answered 429 (`Retry-After: 1`) at once and its
    /// connection closed, so waits cannot lock every other client out.
    pub fn max_parked_waits(mut self, max: usize) -> SimBuilder {
        self.max_parked_waits = Some(max);
        self
    }

    /// Most connections open at once (default 512, under the usual limit of 1,024 file
    /// descriptors); further clients wait in the listen backlog until a connection closes. `/wait` long-polls may hold at most three quarters of them (see
    /// [`max_parked_waits`](Self::max_parked_waits)), so ordinary calls always find a slot.
    pub fn max_connections(mut self, max: usize) -> SimBuilder {
        self.connection_limits.max_connections = max.max(1);
        self
    }

    /// How long a connection may take to send the head of a request, counted from when it
    /// starts waiting for one (default 10 s). This is also the idle timeout: a kept-alive
    /// connection that sends nothing for this long is closed. Runs on tokio's clock, so a
    /// test with paused time drives it without sleeping.
    pub fn header_read_timeout(mut self, timeout: Duration) -> SimBuilder {
        self.connection_limits.header_read_timeout = timeout;
        self
    }

    /// How long a request body may take to arrive once its head is read (default 30 s);
    /// a slower body is answered `408` and its connection closed. Runs on tokio's clock.
    pub fn body_read_timeout(mut self, timeout: Duration) -> SimBuilder {
        self.connection_limits.body_read_timeout = timeout;
        self
    }

    /// Machines and volumes pages come back shorter than the `limit` asked for (half of it),
    /// and every third page empty while more remain, as Fly's advisory limit allows; clients
    /// must follow the cursor and stop only where there is none. Off by default; also
    /// [`SimHandle::set_short_pages`].
    pub fn short_pages(mut self) -> SimBuilder {
        self.short_pages = true;
        self
    }

    /// Answers in the older shapes Fly's documentation shows, which simpler servers following
    /// that documentation still use: `/wait` answers `{"ok":true}` alone (no `state`), and app
    /// create requires `app_name` (the documented spelling) and refuses a body with only
    /// `name`. Off by default; also [`SimHandle::set_documented_shapes`]. A client that works
    /// with it on works with such servers too.
    pub fn documented_shapes(mut self) -> SimBuilder {
        self.documented_shapes = true;
        self
    }

    /// Calls `hook` with the slice's number (from 1) each time an unpaged machine listing has
    /// written a slice of [`LIST_SLICE`](crate::LIST_SLICE) machines. It runs with the world
    /// lock released, so it may block while other requests are served: a test can see that a
    /// long listing never holds the emulator up. It runs on the serving thread; keep it short
    /// unless the test means to hold the listing.
    pub fn on_list_slice(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> SimBuilder {
        self.list_slice_hook = SliceHook(Some(Arc::new(hook)));
        self
    }

    /// Binds the listener and starts serving in a background task.
    pub async fn start(self) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        let token = match self.token.clone() {
            Some(token) if self.auth && token.trim().is_empty() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an empty token would let any request in while auth is on: give a token, \
                     or turn auth off (accept_any_token, --no-auth)",
                ));
            }
            Some(token) => token,
            // Random, not from the seed: the seed is printed and shared, the token is not.
            None => format!("sim_{}", hex_id(32, &mut StdRng::from_os_rng())),
        };
        let mut world = World::new(self.seed);
        world.not_found_after_create_ms = crate::time::millis(self.faults.not_found_after_create);
        world.destroyed_visible_ms = crate::time::millis(self.faults.destroyed_visible_for);
        world.check_delay_ms = crate::time::millis(self.check_delay);
        world.short_pages = self.short_pages;
        world.documented_shapes = self.documented_shapes;
        let (shutdown, _) = watch::channel(false);
        let connection_limits = self.connection_limits;
        let connection_slots = Arc::new(ConnectionSlots::new(connection_limits.max_connections));
        let emulator = Arc::new(Emulator {
            connection_limits,
            connection_slots: connection_slots.clone(),
            request_ids: RequestIds::new(self.region.clone()),
            settings: Settings {
                token,
                auth: self.auth,
                loopback_only: addr.ip().is_loopback(),
                max_parked_waits: self
                    .max_parked_waits
                    .unwrap_or(connection_limits.max_connections / 4 * 3)
                    .max(1),
                transition_ms: crate::time::millis(self.transition),
                postgres_step_ms: crate::time::millis(self.postgres_step),
                default_region: self.region,
                owner: self.owner,
                versions_kept: self.versions_kept,
            },
            clock: self.clock.unwrap_or_default(),
            world: Mutex::new(world),
            changed: Notify::new(),
            limiter: RateLimiter::new(self.rate_limits),
            faults: FaultInjector::new(self.faults),
            log: RequestLog::new(self.log_capacity, self.log_bytes),
            shutdown,
            parked_waits: AtomicUsize::new(0),
            parked_changed: Notify::new(),
            list_slice_hook: self.list_slice_hook,
        });
        let router = crate::routing::router(emulator.clone());
        let rx = emulator.shutdown.subscribe();
        let task = tokio::spawn(crate::connections::serve(
            listener,
            router,
            connection_limits,
            connection_slots,
            rx,
        ));
        tracing::info!(%addr, "fly-machines-sim listening");
        Ok(SimHandle::new(emulator, addr, task))
    }
}
