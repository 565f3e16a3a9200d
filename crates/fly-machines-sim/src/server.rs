//! The HTTP side: builder, handle, accept loop, routing and the layer every request goes
//! through (request id, auth, rate limits, faults, request log).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use bytes::Bytes;
use fly_machines_api::{OPERATIONS, Operation, RateLimitClass, types};
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{FaultKind, Faults, Limit, RateLimits};
use crate::state::World;
use crate::util::{ApiError, HResult, Reply, ReplyBody, fnv64, hex_id, stream_bytes, ulid_from};

/// The header carrying a lease nonce.
pub const LEASE_NONCE_HEADER: &str = "fly-machine-lease-nonce";
/// The header carrying the request id on every answer.
pub const REQUEST_ID_HEADER: &str = "fly-request-id";
/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Locks a mutex, recovering the data if a previous holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fixed settings of one emulator.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) token: String,
    pub(crate) auth: bool,
    pub(crate) transition_ms: u64,
    pub(crate) default_region: String,
    pub(crate) owner: String,
    pub(crate) log_capacity: usize,
}

#[derive(Debug)]
struct Limiter {
    limits: RateLimits,
    buckets: HashMap<(&'static str, String), Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

#[derive(Debug)]
struct FaultState {
    faults: Faults,
    rng: StdRng,
}

/// State shared by the server tasks and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) clock: Clock,
    pub(crate) world: Mutex<World>,
    /// Notified after every change to the world, so long-polls re-check.
    pub(crate) changed: Notify,
    limiter: Mutex<Limiter>,
    faults: Mutex<FaultState>,
    faults_active: AtomicBool,
    log: Mutex<VecDeque<RequestRecord>>,
    request_seq: AtomicU64,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) parked: AtomicUsize,
    pub(crate) parked_changed: Notify,
}

/// An environment handed to synchronous handlers: the locked world and the time.
pub(crate) struct Env<'a> {
    pub(crate) w: &'a mut World,
    pub(crate) now: u64,
    pub(crate) cfg: &'a Settings,
}

/// A parsed request, as handlers see it.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) op: &'static Operation,
    pub(crate) params: HashMap<String, String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    /// A path parameter (always present: the route matched).
    pub(crate) fn p(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The last value of a query parameter.
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, comma-separated values split apart.
    pub(crate) fn q_list(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub(crate) fn q_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.q(name) {
            None | Some("") => Ok(None),
            Some("true" | "1" | "TRUE" | "True") => Ok(Some(true)),
            Some("false" | "0" | "FALSE" | "False") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(format!(
                "query parameter {name} must be true or false, got {v:?}"
            ))),
        }
    }

    pub(crate) fn q_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.q(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter {name} must be an integer, got {v:?}"
                ))
            }),
        }
    }

    /// The lease nonce header.
    pub(crate) fn nonce(&self) -> Option<&str> {
        self.headers
            .get(LEASE_NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The JSON body, which must be present.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(format!(
                "{} needs a JSON request body",
                self.op.id
            )));
        }
        self.parse_body()
    }

    /// The JSON body, or the default when the body is empty.
    pub(crate) fn json_or_default<T: serde::de::DeserializeOwned + Default>(
        &self,
    ) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.parse_body()
    }

    fn parse_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("invalid request body for {}: {e}", self.op.id))
        })
    }
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, including the `/v1` prefix, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The OpenAPI operation id the path matched, e.g. `Machines_start`.
    pub operation: Option<&'static str>,
    /// HTTP status answered; `0` when the connection was dropped by a fault.
    pub status: u16,
    /// The `fly-machine-lease-nonce` header, if sent.
    pub lease_nonce: Option<String>,
    /// The `fly-request-id` answered.
    pub request_id: String,
    /// When the request arrived, on the emulator's clock.
    pub at: SystemTime,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<FaultKind>,
}

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
    faults: Faults,
    seed: u64,
    addr: SocketAddr,
    region: String,
    owner: String,
    log_capacity: usize,
}

impl Default for SimBuilder {
    fn default() -> SimBuilder {
        SimBuilder {
            token: None,
            auth: true,
            rate_limits: RateLimits::fly(),
            clock: None,
            transition: Duration::from_millis(30),
            faults: Faults::none(),
            seed: 0x5EED,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            region: "iad".to_string(),
            owner: "user@fly-machines-sim.test".to_string(),
            log_capacity: 10_000,
        }
    }
}

impl SimBuilder {
    /// The API token clients must send (`Authorization: Bearer <token>` or `FlyV1 <token>`).
    /// Without it a token is derived from the seed; read it with [`SimHandle::token`].
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

    /// Binds the listener and starts serving in a background task.
    pub async fn start(self) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        let token = self.token.clone().unwrap_or_else(|| {
            let mut rng = StdRng::seed_from_u64(self.seed ^ 0x70CE_u64);
            format!("sim_{}", hex_id(32, &mut rng))
        });
        let mut world = World::new(self.seed);
        world.not_found_after_create_ms = self.faults.not_found_after_create.as_millis() as u64;
        world.destroyed_visible_ms = self.faults.destroyed_visible_for.as_millis() as u64;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            settings: Settings {
                token,
                auth: self.auth,
                transition_ms: self.transition.as_millis() as u64,
                default_region: self.region,
                owner: self.owner,
                log_capacity: self.log_capacity,
            },
            clock: self.clock.unwrap_or_default(),
            world: Mutex::new(world),
            changed: Notify::new(),
            limiter: Mutex::new(Limiter {
                limits: self.rate_limits,
                buckets: HashMap::new(),
            }),
            faults_active: AtomicBool::new(self.faults.is_active()),
            faults: Mutex::new(FaultState {
                rng: StdRng::seed_from_u64(self.faults.seed),
                faults: self.faults,
            }),
            log: Mutex::new(VecDeque::new()),
            request_seq: AtomicU64::new(0),
            shutdown,
            parked: AtomicUsize::new(0),
            parked_changed: Notify::new(),
        });
        let router = router(shared.clone());
        let rx = shared.shutdown.subscribe();
        let task = tokio::spawn(serve(listener, router, rx));
        tracing::info!(%addr, "fly-machines-sim listening");
        Ok(SimHandle {
            shared,
            addr,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server (without waiting); prefer
/// [`shutdown`](SimHandle::shutdown).
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The base URL clients use, including `/v1`, e.g. `http://127.0.0.1:4280/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The URL without `/v1`, the form `FLY_API_HOSTNAME` takes, e.g. `http://127.0.0.1:4280`.
    pub fn hostname(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token clients must send.
    pub fn token(&self) -> &str {
        &self.shared.settings.token
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Moves the clock forward (see [`Clock::advance`]) and wakes pending long-polls.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.changed.notify_waiters();
    }

    /// Replaces the fault configuration and reseeds the fault generator.
    pub fn set_faults(&self, faults: Faults) {
        {
            let mut w = lock(&self.shared.world);
            w.not_found_after_create_ms = faults.not_found_after_create.as_millis() as u64;
            w.destroyed_visible_ms = faults.destroyed_visible_for.as_millis() as u64;
        }
        self.shared
            .faults_active
            .store(faults.is_active(), Ordering::SeqCst);
        let mut f = lock(&self.shared.faults);
        f.rng = StdRng::seed_from_u64(faults.seed);
        f.faults = faults;
    }

    /// The current fault configuration.
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).faults.clone()
    }

    /// Replaces the rate limits and forgets the buckets filled so far.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        let mut l = lock(&self.shared.limiter);
        l.limits = limits;
        l.buckets.clear();
    }

    /// The request log, oldest first (up to the builder's capacity).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Names of the apps, sorted.
    pub fn apps(&self) -> Vec<String> {
        lock(&self.shared.world).apps.keys().cloned().collect()
    }

    /// The machines of `app` as `GET` would show them, in creation order: those not
    /// destroyed, including machines hidden by the eventual-consistency fault. Empty when the
    /// app does not exist.
    pub fn machines(&self, app: &str) -> Vec<types::Machine> {
        self.machines_where(app, false)
    }

    /// Like [`machines`](SimHandle::machines) but also destroyed machines.
    pub fn all_machines(&self, app: &str) -> Vec<types::Machine> {
        self.machines_where(app, true)
    }

    fn machines_where(&self, app: &str, include_destroyed: bool) -> Vec<types::Machine> {
        let now = self.shared.clock.now_ms();
        let mut w = lock(&self.shared.world);
        let World { apps, rng, .. } = &mut *w;
        let Some(app) = apps.get_mut(app) else {
            return Vec::new();
        };
        let mut ms: Vec<_> = app.machines.values_mut().collect();
        ms.sort_by_key(|m| m.seq);
        ms.into_iter()
            .filter_map(|m| {
                m.settle(now, rng);
                (include_destroyed || m.state != crate::state::St::Destroyed)
                    .then(|| m.view(false, None))
            })
            .collect()
    }

    /// How many machines of `app` are not destroyed.
    pub fn machine_count(&self, app: &str) -> usize {
        self.machines(app).len()
    }

    /// One machine as `GET` would show it (also while hidden by faults, and once destroyed).
    pub fn machine(&self, app: &str, id: &str) -> Option<types::Machine> {
        let now = self.shared.clock.now_ms();
        let mut w = lock(&self.shared.world);
        let World { apps, rng, .. } = &mut *w;
        let m = apps.get_mut(app)?.machines.get_mut(id)?;
        m.settle(now, rng);
        Some(m.view(false, None))
    }

    /// The lease held on a machine, with its nonce.
    pub fn lease(&self, app: &str, id: &str) -> Option<types::Lease> {
        let now = self.shared.clock.now_ms();
        let mut w = lock(&self.shared.world);
        let m = w.apps.get_mut(app)?.machines.get_mut(id)?;
        m.live_lease(now).map(|l| l.view(true))
    }

    /// How many `/wait` calls are currently blocked.
    pub fn parked_waits(&self) -> usize {
        self.shared.parked.load(Ordering::SeqCst)
    }

    /// Resolves once at least `n` `/wait` calls are blocked, so a test can advance the manual
    /// clock knowing the waits have started.
    pub async fn until_parked(&self, n: usize) {
        loop {
            let notified = self.shared.parked_changed.notified();
            if self.parked_waits() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Stops accepting connections, ends pending long-polls (503), and waits (at most 5 s)
    /// for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shared.shutdown.send(true);
        self.shared.changed.notify_waiters();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        self.shared.changed.notify_waiters();
    }
}

/// Marker placed on a response whose connection must be dropped.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedByFault {}

async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let resp = tower::ServiceExt::oneshot(router, req.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if resp.extensions().get::<DropConnection>().is_some() {
                            Err(DroppedByFault)
                        } else {
                            Ok(resp)
                        }
                    }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        "HEAD" => MethodFilter::HEAD,
        _ => MethodFilter::OPTIONS,
    }
}

/// Builds the router: one route per operation of the table, all served by [`handle`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Arc<Shared>>> = BTreeMap::new();
    for op in OPERATIONS.iter() {
        let handler =
            move |State(shared): State<Arc<Shared>>, req: Request| handle(shared, op, req);
        let entry = by_path.remove(op.path).unwrap_or_default();
        by_path.insert(op.path, entry.on(method_filter(op.method), handler));
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(&format!("/v1{path}"), methods);
    }
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(shared)
}

async fn unknown_route(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (head, _) = req.into_parts();
    let reply = ApiError::not_found(format!("no such endpoint: {}", head.uri.path())).into_reply();
    let now = shared.clock.now_ms();
    finish(&shared, None, &head, reply, None, now)
}

async fn wrong_method(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (head, _) = req.into_parts();
    let reply = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", head.method, head.uri.path()),
    )
    .into_reply();
    let now = shared.clock.now_ms();
    finish(&shared, None, &head, reply, None, now)
}

/// What the common layer decided.
enum Outcome {
    Reply(Reply, Option<FaultKind>),
    Drop,
}

async fn handle(shared: Arc<Shared>, op: &'static Operation, req: Request) -> Response {
    let arrived = shared.clock.now_ms();
    let (mut parts, body) = req.into_parts();
    let params =
        match axum::RequestPartsExt::extract::<Path<HashMap<String, String>>>(&mut parts).await {
            Ok(Path(p)) => Ok(p),
            Err(e) => Err(ApiError::bad_request(format!("invalid path: {e}"))),
        };
    let head = parts;
    let outcome = match params {
        Err(e) => Outcome::Reply(e.into_reply(), None),
        Ok(params) => run(&shared, op, &head, params, body).await,
    };
    match outcome {
        Outcome::Reply(reply, fault) => finish(&shared, Some(op), &head, reply, fault, arrived),
        Outcome::Drop => {
            record(
                &shared,
                Some(op),
                &head,
                0,
                String::new(),
                Some(FaultKind::Dropped),
                arrived,
            );
            let mut resp = Response::new(Body::empty());
            resp.extensions_mut().insert(DropConnection);
            resp
        }
    }
}

async fn run(
    shared: &Arc<Shared>,
    op: &'static Operation,
    head: &Parts,
    params: HashMap<String, String>,
    body: Body,
) -> Outcome {
    if let Err(e) = authenticate(shared, &head.headers) {
        return Outcome::Reply(e.into_reply(), None);
    }
    let now = shared.clock.now_ms();
    if let Err(e) = shared.rate_check(op, &params, now) {
        return Outcome::Reply(e.into_reply(), None);
    }
    let mut fault = None;
    if shared.faults_active.load(Ordering::Relaxed) {
        let (latency, verdict) = shared.draw_pre_fault(op);
        if let Some(latency) = latency {
            fault = Some(FaultKind::Latency);
            tokio::time::sleep(latency).await;
        }
        match verdict {
            PreFault::None => {}
            PreFault::Drop => return Outcome::Drop,
            PreFault::Error(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let reply =
                    ApiError::new(status, "unknown", "injected fault: upstream error").into_reply();
                return Outcome::Reply(reply, Some(FaultKind::ServerError));
            }
        }
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let reply = ApiError::bad_request(format!("could not read the request body: {e}"));
            return Outcome::Reply(reply.into_reply(), fault);
        }
    };
    let query = head
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let req = Req {
        op,
        params,
        query,
        headers: head.headers.clone(),
        body,
    };
    let result = if op.id == "Machines_wait" {
        crate::api::wait::wait(shared, &req).await
    } else {
        let result = {
            let now = shared.clock.now_ms();
            let mut w = lock(&shared.world);
            let mut env = Env {
                w: &mut w,
                now,
                cfg: &shared.settings,
            };
            crate::api::dispatch(&mut env, &req)
        };
        if op.method != "GET" {
            shared.changed.notify_waiters();
        }
        result
    };
    let mut reply = result.unwrap_or_else(ApiError::into_reply);
    if op.id == "Machines_create"
        && reply.status.is_success()
        && shared.faults_active.load(Ordering::Relaxed)
        && let Some(code) = shared.draw_ambiguous_create()
    {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::REQUEST_TIMEOUT);
        let message = if code == 408 {
            "deadline exceeded while waiting for the machine to be created"
        } else {
            "injected fault: upstream error after the machine was created"
        };
        let code_name = if code == 408 {
            "deadline_exceeded"
        } else {
            "unknown"
        };
        reply = ApiError::new(status, code_name, message).into_reply();
        fault = Some(FaultKind::AmbiguousCreate);
    }
    Outcome::Reply(reply, fault)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    if !shared.settings.auth {
        return Ok(());
    }
    let unauthorized = |msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "You must be authenticated to view this: send Authorization: Bearer <token> or FlyV1 <token>",
        ));
    };
    let value = value.to_str().unwrap_or_default().trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("flyv1") {
        return Err(unauthorized(
            "Authenticate: unsupported authorization scheme (expected Bearer or FlyV1)",
        ));
    }
    let ok = token_matches(&shared.settings.token, &[], token) || {
        let w = lock(&shared.world);
        token_matches(&shared.settings.token, &w.issued_tokens, token)
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized("Authenticate: token validation error"))
    }
}

/// Whether `token` (the Authorization value without its scheme) is accepted: the emulator's
/// token, a comma-separated list containing it, or a token minted by the deploy-token endpoint.
pub(crate) fn token_matches(expected: &str, issued: &[String], token: &str) -> bool {
    let token = token.trim();
    let bare = |t: &str| {
        let t = t.trim();
        t.strip_prefix("FlyV1 ")
            .or_else(|| t.strip_prefix("Bearer "))
            .unwrap_or(t)
            .trim()
            .to_string()
    };
    let token = bare(token);
    token == expected
        || token.split(',').any(|t| t.trim() == expected)
        || issued.iter().any(|t| bare(t) == token)
}

enum PreFault {
    None,
    Drop,
    Error(u16),
}

impl Shared {
    fn rate_check(
        &self,
        op: &'static Operation,
        params: &HashMap<String, String>,
        now: u64,
    ) -> Result<(), ApiError> {
        let mut limiter = lock(&self.limiter);
        if !limiter.limits.enabled() {
            return Ok(());
        }
        let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        let (limit, key): (Limit, String) = match op.rate_limit {
            RateLimitClass::AppDelete => (limiter.limits.app_delete_limit(), String::new()),
            RateLimitClass::GetMachine => (
                limiter.limits.get_machine_limit(),
                format!("{}/{}", param("app_name"), param("machine_id")),
            ),
            RateLimitClass::PerMachine => (
                limiter.limits.default_limit(),
                format!("{}/{}", param("app_name"), param("machine_id")),
            ),
            RateLimitClass::PerApp => (
                limiter.limits.default_limit(),
                param("app_name").to_string(),
            ),
            RateLimitClass::Global => (limiter.limits.default_limit(), String::new()),
        };
        let burst = f64::from(limit.burst.max(1));
        let rate = limit.per_second.max(1e-9);
        let bucket = limiter.buckets.entry((op.id, key)).or_insert(Bucket {
            tokens: burst,
            last_ms: now,
        });
        let elapsed = now.saturating_sub(bucket.last_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last_ms = bucket.last_ms.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_secs = ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64;
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "resource_exhausted",
            format!(
                "rate limit exceeded for {}: {} requests per second with bursts of {}",
                op.id, limit.per_second, limit.burst
            ),
        );
        err.headers.push((
            header::RETRY_AFTER,
            HeaderValue::from_str(&wait_secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
        ));
        Err(err)
    }

    fn draw_pre_fault(&self, op: &Operation) -> (Option<Duration>, PreFault) {
        let mut f = lock(&self.faults);
        let FaultState { faults, rng } = &mut *f;
        if !faults.applies_to(op.id) {
            return (None, PreFault::None);
        }
        let mut latency = None;
        if !faults.latency.is_zero() || !faults.latency_jitter.is_zero() {
            let jitter_ms = faults.latency_jitter.as_millis() as u64;
            let extra = if jitter_ms > 0 {
                rng.random_range(0..=jitter_ms)
            } else {
                0
            };
            latency = Some(faults.latency + Duration::from_millis(extra));
        }
        if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
            return (latency, PreFault::Drop);
        }
        if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
            let code = [500, 502, 503][rng.random_range(0..3)];
            return (latency, PreFault::Error(code));
        }
        (latency, PreFault::None)
    }

    fn draw_ambiguous_create(&self) -> Option<u16> {
        let mut f = lock(&self.faults);
        let FaultState { faults, rng } = &mut *f;
        if faults.ambiguous_create_rate <= 0.0 || !rng.random_bool(faults.ambiguous_create_rate) {
            return None;
        }
        let choices: &[u16] = if faults.ambiguous_statuses.is_empty() {
            &[408, 500, 502, 503]
        } else {
            &faults.ambiguous_statuses
        };
        Some(choices[rng.random_range(0..choices.len())])
    }

    fn next_request_id(&self, now: u64) -> String {
        let seq = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let random = stream_bytes(fnv64(&seq.to_le_bytes()), 16);
        let mut buf = [0u8; 16];
        buf.copy_from_slice(&random);
        format!(
            "{}-{}",
            ulid_from(now, u128::from_le_bytes(buf)),
            self.settings.default_region
        )
    }
}

fn finish(
    shared: &Shared,
    op: Option<&'static Operation>,
    head: &Parts,
    reply: Reply,
    fault: Option<FaultKind>,
    arrived_ms: u64,
) -> Response {
    let request_id = shared.next_request_id(arrived_ms);
    let status = reply.status;
    let mut resp = match reply.body {
        ReplyBody::Empty => Response::new(Body::empty()),
        ReplyBody::Json(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        ReplyBody::Text(text) => {
            let mut r = Response::new(Body::from(text));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
    };
    *resp.status_mut() = status;
    for (name, value) in reply.headers {
        resp.headers_mut().insert(name, value);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("fly-machines-sim"));
    record(
        shared,
        op,
        head,
        status.as_u16(),
        request_id,
        fault,
        arrived_ms,
    );
    resp
}

fn record(
    shared: &Shared,
    op: Option<&'static Operation>,
    head: &Parts,
    status: u16,
    request_id: String,
    fault: Option<FaultKind>,
    arrived_ms: u64,
) {
    let capacity = shared.settings.log_capacity;
    if capacity == 0 {
        return;
    }
    let rec = RequestRecord {
        method: head.method.as_str().to_string(),
        path: head.uri.path().to_string(),
        query: head.uri.query().map(str::to_string),
        operation: op.map(|o| o.id),
        status,
        lease_nonce: head
            .headers
            .get(LEASE_NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        request_id,
        at: UNIX_EPOCH + Duration::from_millis(arrived_ms),
        fault,
    };
    tracing::debug!(
        method = %rec.method,
        path = %rec.path,
        status = rec.status,
        operation = rec.operation.unwrap_or("-"),
        "request"
    );
    let mut log = lock(&shared.log);
    while log.len() >= capacity {
        log.pop_front();
    }
    log.push_back(rec);
}

/// Shorthand for a handler result carrying JSON.
pub(crate) fn ok_json<T: serde::Serialize>(value: &T) -> HResult {
    Ok(Reply::ok(value))
}
