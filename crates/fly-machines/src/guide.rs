//! The crate guide: one section per resource, each with the code a service writes.
//!
//! Every request is a builder: required inputs go in the call, options are named setters, times
//! are [`Duration`](std::time::Duration)s, and the builder is awaited directly (or finished with
//! `.send()`, the same call). Answers have accessors (`m.id()`, `m.state()`,
//! `m.metadata("tenant")`) so no field needs unwrapping. Runnable programs for the main workflows
//! are in the repository's `examples/` folder; each also runs as a test against the emulator.
//!
//! # Connecting
//!
//! ```no_run
//! # fn demo() -> fly_machines::Result<()> {
//! // FLY_API_TOKEN, and FLY_API_HOSTNAME when set (e.g. http://_api.internal:4280 inside Fly).
//! let client = fly_machines::Client::from_env()?;
//! # Ok(()) }
//! ```
//!
//! # Apps
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client) -> fly_machines::Result<()> {
//! // Safe to repeat and to retry: Fly's app-create idempotency key, derived from org and name.
//! let ensured = client.apps().ensure("orders", "my-org").await?;
//! println!("app {} (created now: {})", ensured.id(), ensured.created());
//! // A plain create fails with `is_name_taken()` when the name is in use.
//! client.apps().create("orders-staging", "my-org").idempotency_key("deploy-118").await?;
//! let app = client.app("orders");
//! let info = app.get().await?;
//! println!("{} in {:?}", info.name(), info.org_slug());
//! let apps = client.apps().list("my-org").await?; // every page, as a Vec<types::App>
//! # let _ = apps;
//! client.app("orders-staging").delete().await?;
//! # Ok(()) }
//! ```
//!
//! # Machines
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::{MachineState, Signal, builders};
//!
//! let config = builders::machine_config("registry.fly.io/orders:v7")
//!     .metadata("role", "web")
//!     .build()?;
//! // The key makes a retried create find the machine it already made instead of a second one.
//! let created = app.machines().create(config).region("iad").idempotency_key("web-1").await?;
//! created.wait_started(Duration::from_secs(120)).await?; // waits for this very version
//! let machine = created.handle();
//! let now = machine.get().await?;
//! assert_eq!(now.state(), MachineState::Started);
//! machine.stop().signal(Signal::Term).timeout(Duration::from_secs(30)).await?;
//! machine.start().await?;
//! machine.restart().await?;
//! machine.cordon().await?; // the proxy stops sending it traffic
//! machine.destroy_and_wait(Duration::from_secs(60)).force().await?;
//! # Ok(()) }
//! ```
//!
//! A service's words (protocol, port handlers, autostop mode, concurrency kind) are typed
//! values; words from a file or a flag become one through `FromStr`, which refuses a wrong word
//! with the error the derive and the emulator give (the value, the words expected, the closest):
//!
//! ```
//! # fn demo() -> fly_machines::Result<()> {
//! use fly_machines::builders::{self, Autostop, ConcurrencyKind, Handler, Protocol};
//!
//! let web = builders::service(Protocol::Tcp, 8080)
//!     .port_force_https(80, &[Handler::Http])
//!     .port(443, &[Handler::Tls, Handler::Http])
//!     .autostop(Autostop::Suspend)
//!     .concurrency(ConcurrencyKind::Requests, 20, 25)
//!     .build()?;
//! let from_text = builders::service("udp".parse()?, 5353).autostop("stop".parse()?).build()?;
//! let wrong = "tsl".parse::<Handler>().unwrap_err();
//! assert_eq!(wrong.suggestion(), Some("tls"));
//! # let _ = (web, from_text);
//! # Ok(()) }
//! # demo().unwrap();
//! ```
//!
//! Config changes go through a lease taken, refreshed and released for you:
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! let updated = machine.update_image("registry.fly.io/orders:v8").await?;
//! updated.wait_started(Duration::from_secs(120)).await?;
//! machine.modify_config(|c| c.auto_destroy = Some(false)).await?;
//! # Ok(()) }
//! ```
//!
//! Both send the version they read as `current_version`, so a change someone made between the
//! read and the write (a writer that ignores leases, a lease that lapsed) is refused with a 409
//! instead of being overwritten: `err.is_version_conflict()`. The same guard by hand, and older
//! versions:
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! let read = machine.get().await?;
//! let version = read.version().unwrap_or_default().to_string(); // `version`, else `instance_id`
//! let mut config = read.config.clone().unwrap_or_default();
//! config.auto_destroy = Some(true);
//! match machine.update_config(config).if_version(version.clone()).await {
//!     Ok(updated) => println!("now at {:?}", updated.version()),
//!     Err(e) if e.is_version_conflict() => println!("changed meanwhile: read it again"),
//!     Err(e) => return Err(e),
//! }
//! let before = machine.get().version(version).await?; // that version's config
//! # let _ = before;
//! # Ok(()) }
//! ```
//!
//! # Listing and filters
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! use fly_machines::MachineState;
//! let web = app
//!     .machines()
//!     .list()
//!     .metadata("role", "web") // repeatable; sent as metadata.role=web
//!     .state(MachineState::Started)
//!     .region("iad")
//!     .include_leases() // who holds each machine's lease (never its nonce)
//!     .await?;
//! for m in &web {
//!     println!("{} {} {:?} lease: {:?}", m.id(), m.state(), m.image(), m.lease().map(|l| l.owner()));
//! }
//! # Ok(()) }
//! ```
//!
//! Lists follow Fly's cursors. Awaited, a listing reads every page and returns a `Vec`, as
//! above; `.stream()` gives a [`Stream`](futures::Stream) read page by page as it is consumed,
//! and `.page_size(n)` sets how many items each page asks for (apps 1 to 5,000 with the cursor in
//! the body; machines and volumes 1 to 1,000 with the cursor in the `fly-next-cursor` header).
//! Fly's machines and volumes page size is a hint: a short or even empty page is not the end,
//! only an answer without a cursor is. A server that repeats a cursor, or pages past
//! `.max_pages(n)` (default 10,000), is refused with [`paging::PagingError`](crate::paging::PagingError)
//! instead of being followed forever; a cursor the server refuses (they expire 30 minutes after
//! the first page) is `PagingError::CursorRefused`. A server without pagination answers all at
//! once and the listing ends there.
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! use futures::TryStreamExt;
//! let mut machines = app.machines().list().page_size(1000).stream();
//! while let Some(m) = machines.try_next().await? {
//!     println!("{} {}", m.id(), m.state());
//! }
//! let volumes = app.volumes().list().page_size(500).await?;
//! # let _ = volumes;
//! # Ok(()) }
//! ```
//!
//! Organization-wide listings page through every result as a stream, with the same named
//! filters: `client.org("my-org").machines().region("iad").state(MachineState::Started).stream()`
//! (and `.volumes()`); `futures::TryStreamExt::try_collect` gathers them all.
//!
//! # Waiting
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App, fleet: Vec<fly_machines::MachineSnapshot>) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::wait::WaitState;
//! // Many machines at once, at most 8 long-polls open (set with `.max_in_flight(n)`).
//! let results = app
//!     .machines()
//!     .wait_all(&fleet, [WaitState::Started])
//!     .timeout(Duration::from_secs(300))
//!     .await;
//! for (machine, result) in fleet.iter().zip(results) {
//!     if let Err(e) = result {
//!         eprintln!("{} did not start: {e}", machine.id());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Every wait here (machine states, health, Postgres clusters, leases held by others) runs on
//! one [`Poller`](crate::poll::Poller): the first try at once, then pauses that double and are
//! jittered, never past the deadline, on the client's clock. Your own waits can use it too: each
//! try answers an [`Acceptor`](crate::poll::Acceptor) (done, failed, or try again).
//!
//! # Exec, processes, events, metadata
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::{ProcessSort, SortOrder};
//! let out = machine.exec(["df", "-h"]).timeout(Duration::from_secs(10)).await?;
//! println!("{}", out.stdout.unwrap_or_default());
//! let busiest = machine.processes().sort_by(ProcessSort::Cpu).order(SortOrder::Descending).await?;
//! // Memory is `ProcessSort::Rss`: the sort keys are the entries' own field names.
//! let biggest = machine.processes().sort_by(ProcessSort::Rss).order(SortOrder::Descending).await?;
//! # let _ = &biggest;
//! let events = machine.events().limit(10).await?;
//! for e in &events {
//!     println!("{:?} {:?} at {:?}", e.kind(), e.state(), e.time());
//! }
//! machine.metadata().set("tenant", "acme").await?;
//! let tenant = machine.metadata().get("tenant").await?;
//! // Several keys at once; an empty value removes a key. `replace` swaps the whole map, and
//! // `.if_version(v)` makes either refuse (412) if the machine changed meanwhile.
//! machine.metadata().merge([("tier", "gold"), ("trial", "")]).await?;
//! # let _ = (busiest, tenant);
//! # Ok(()) }
//! ```
//!
//! # Leases
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! let lease = machine.lease(Duration::from_secs(30)).description("deploy v8").await?;
//! // Every call through the leased handle carries the nonce; the lease refreshes itself.
//! lease.machine().stop().await?;
//! lease.release().await?;
//! # Ok(()) }
//! ```
//!
//! Another deployer holding the lease gets [`Error::is_lease_conflict`](crate::Error::is_lease_conflict)
//! (409, never retried). The nonce never appears in `Debug` output or traces.
//!
//! Leases survive cancellation and lost answers:
//! - drop the `lease(..)` future (a timeout, a `select!`) and an acquire request already in
//!   flight is finished in a task of its own, which releases the lease it takes at once;
//! - an acquire answered with a 5xx, a 408, a timeout or a broken connection may have taken the
//!   lease: it is tried again for at least the lease's TTL, so the lost lease (never refreshed)
//!   expires and the retry takes it. One 503 never fails a rollout;
//! - `release()` counts only once Fly has answered the DELETE: drop it half-way and the guard
//!   releases on drop. The refresh in flight always lands before the release, never after it.
//!
//! To ship a version across many machines (rolling, canary, blue-green or immediate, with
//! health gates and rollback), use the `fly-machines-deploy` crate: its docs and README have a
//! guide to each strategy and what it does when a machine fails (`cargo run --example rollout`).
//!
//! # Volumes
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! let volume = app.volumes().create("orders_data", "iad", 10).await?;
//! let handle = app.volume(volume.id());
//! handle.extend(20).await?;
//! handle.create_snapshot().await?;
//! let snapshots = handle.snapshots().await?;
//! let all = app.volumes().list().await?;
//! # let _ = (snapshots, all);
//! # Ok(()) }
//! ```
//!
//! # Secrets
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! app.secrets().set("DATABASE_URL", "postgres://...").await?;
//! let names = app.secrets().list().await?; // values only with `.show_values()`
//! app.secrets().delete("DATABASE_URL").await?;
//! # let _ = names;
//! # Ok(()) }
//! ```
//!
//! Secret keys (`app.secret_keys()`) sign, verify, encrypt and decrypt without the key leaving Fly.
//!
//! # Certificates and IP addresses
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! let cert = app.certificates().request_acme("orders.example.com").await?;
//! let dns = app.certificates().check_dns("orders.example.com").await?;
//! let ips = app.ip_assignments().list().await?;
//! let v6 = app.ip_assignments().assign(fly_machines::IpKind::V6).region("iad").await?;
//! # let _ = (cert, dns, ips, v6);
//! # Ok(()) }
//! ```
//!
//! # Tokens
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client, app: fly_machines::App) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! let me = client.tokens().current().await?;
//! // A token limited to one app, for a deploy pipeline.
//! let deploy = app.create_deploy_token().expiry(Duration::from_secs(24 * 3600)).await?;
//! // Inside a machine: an OpenID Connect token to trade for cloud credentials.
//! let oidc = client.tokens().oidc().audience("sts.amazonaws.com").await?;
//! # let _ = (me, deploy, oidc);
//! # Ok(()) }
//! ```
//!
//! # Managed Postgres
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::resources::postgres::{PostgresPlan, PostgresRole};
//! let created = client
//!     .postgres()
//!     .clusters()
//!     .create("orders-db")
//!     .org("my-org")
//!     .region("iad")
//!     .plan(PostgresPlan::Basic)
//!     .await?;
//! let cluster = client.postgres().cluster(created.id());
//! cluster.wait_ready(Duration::from_secs(900)).await?; // provisioning takes minutes
//! cluster.databases().create("orders").await?;
//! cluster.users().create("orders_app").role(PostgresRole::Writer).await?;
//! cluster.attach("orders").await?;
//! let fork = cluster.fork().name("orders-db-test").await?;
//! client.postgres().cluster(fork.id()).delete().await?;
//! # Ok(()) }
//! ```
//!
//! # Errors and retries
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App) -> fly_machines::Result<()> {
//! match app.machine("d5683000000000").get().await {
//!     Ok(m) => println!("{}", m.state()),
//!     Err(e) if e.is_not_found() => println!("gone"),
//!     Err(e) if e.is_capacity() => println!("try another region: {e}"),
//!     Err(e) => return Err(e),
//! }
//! // A non-idempotent call is not retried after an ambiguous failure unless you say so:
//! app.machine("d5683000000000").exec(["date"]).retry_unsafe().await?;
//! # Ok(()) }
//! ```
//!
//! What a hostile or broken server cannot do:
//! - take memory beyond the bytes it sent: a body is held to `max_response_bytes` (32 MiB), and
//!   what it decodes into (list elements and map entries, at the size of their Rust types) to
//!   twice that; a list of tiny objects that would each become a large struct is refused with
//!   [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) instead;
//! - hold a call past `max_elapsed`: a retry's timeout is cut to what is left;
//! - meet a reused connection it is closing: idle connections are kept 4 s, under the 5-10 s
//!   servers and proxies keep theirs; a reset on a reused connection is resent for an
//!   idempotent call, never for a create;
//! - stall the shared limiter: a Redis answer past `max_wait` or the longest plausible wait
//!   (120 s) is refused and the call paces locally.
//!
//! # Calls are values
//!
//! Handles are cheap to clone (shared client, names as `Arc<str>`) and every call owns what it
//! needs: a builder holds a clone of its handle and its own copy of the strings passed in, so it
//! is `Send + 'static` and borrows nothing. A closure can make one from a temporary handle and
//! return it as it is, a function can hand one back to be sent later, and a task can run one:
//!
//! ```no_run
//! # async fn demo(app: fly_machines::App, id: String) -> fly_machines::Result<()> {
//! use std::future::IntoFuture;
//!
//! /// Your own retry helper: taking `IntoFuture` rather than `Future` lets the closure return a
//! /// builder, with no `.into_future()` in it.
//! async fn retry<F, B, T>(attempts: u32, mut call: F) -> fly_machines::Result<T>
//! where
//!     F: FnMut() -> B,
//!     B: IntoFuture<Output = fly_machines::Result<T>>,
//! {
//!     let mut tries = 1;
//!     loop {
//!         match call().await {
//!             Err(e) if e.is_ambiguous() && tries < attempts => tries += 1,
//!             done => return done,
//!         }
//!     }
//! }
//!
//! retry(3, || app.secrets().set("API_KEY", "v2").retry_unsafe()).await?;
//! retry(3, || app.machine(&id).get()).await?;
//!
//! // Sent later, elsewhere: nothing in it borrows `app` or `id`.
//! fn stop_later(app: &fly_machines::App, id: &str)
//!     -> impl IntoFuture<Output = fly_machines::Result<()>> + Send + 'static {
//!     app.machine(id).stop()
//! }
//! let stop = stop_later(&app, &id);
//! stop.await?;
//! // Run in a task of its own: a builder's future is `Send + 'static`.
//! let task = tokio::spawn(app.machine(&id).start().into_future());
//! task.await.expect("the task ran")?;
//! // Plain async calls (`ensure_absent`, `set_if_absent`, ...) return `'static` futures too.
//! tokio::spawn(app.volume("vol_123").ensure_absent()).await.expect("the task ran")?;
//! # Ok(()) }
//! ```
//!
//! # Surviving failures
//!
//! Answers get lost, 5xx happen, and a program that sets up infrastructure gets run twice. The
//! client retries what is safe on its own (reads, deletes, 429s, connections that never
//! opened); for the rest it offers calls that check what happened instead of guessing.
//!
//! **Find-or-create.** Each `ensure` looks first, creates only what it did not find, and after
//! an answer that was lost looks again before creating again. Where Fly keeps names unique
//! (machines created with a key, Postgres clusters, databases, users) a repeated create is
//! refused by the name instead of making a second one. Run the program again, or in two
//! processes at once, and there is still one of each; [`Ensured::was_created`](crate::Ensured::was_created) says which
//! call made it.
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client, config: fly_machines::types::MachineConfig) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! use fly_machines::resources::postgres::{PostgresPlan, PostgresRole};
//! let app = client.apps().ensure("pr-42", "personal").await?.app().clone();
//! let db = client.postgres().clusters().ensure("pr-42-db")
//!     .org("personal").region("iad").plan(PostgresPlan::Basic).await?.into_inner();
//! db.wait_ready(Duration::from_secs(900)).await?;
//! db.databases().ensure("app").await?;
//! db.users().ensure("app", PostgresRole::Writer).await?;
//! app.secrets().set_if_absent("DATABASE_URL", "postgres://...").await?;
//! let volume = app.volumes().ensure("data", "iad", 10).await?;
//! // The key is the machine's identity across runs (it is tagged with it and named after it).
//! let web = app.machines().ensure("pr-42-web-0", config).region("iad").await?;
//! println!("volume {} created: {}", volume.id(), volume.was_created());
//! # let _ = web;
//! # Ok(()) }
//! ```
//!
//! `create(config).idempotency_key(k)` does the same for a machine and returns it; a create
//! whose success answer cannot be decoded is [`Error::CreatedUnreadable`](crate::Error) (the
//! machine exists, with its id), never sent again.
//!
//! **Was it done?** [`Error::is_ambiguous`](crate::Error::is_ambiguous) says a failed call may
//! have taken effect (its answer was lost, a timeout, a 5xx). Calls that cannot check take
//! `.retry_unsafe()`, accepting a repeat: `secrets().set(..)`, `update(..)`, `exec(..)`, the
//! creates. A config change under a lease checks instead: `update_image` and `modify_config`
//! read the machine again after a lost answer, since under the lease only they can have moved
//! its version.
//!
//! **Health.** [`Machine::wait_healthy`](crate::Machine::wait_healthy) waits until the machine
//! is started, at the version given (a snapshot passes its own), and every check its config
//! declares passes; it fails at once on `failed` or a crash loop. A rollout can keep its
//! lease until then, so nobody else changes the machine while the new version comes up:
//!
//! ```no_run
//! # async fn demo(machine: fly_machines::Machine) -> fly_machines::Result<()> {
//! use std::time::Duration;
//! // The lease is released once v2 is healthy (without `.wait_healthy`, once the update
//! // has answered, before the new version has even started).
//! let v2 = machine.update_image("registry.fly.io/app:v2")
//!     .wait_healthy(Duration::from_secs(120)).await?;
//! # let _ = v2;
//! # Ok(()) }
//! ```
//!
//! **Teardown.** `ensure_absent()` on apps, machines, volumes, secrets, certificates, IPs,
//! clusters, databases and users deletes what is there and counts "not there" as done
//! (`Ok(false)`), so a teardown can run again; [`VolumeState::is_gone`](crate::VolumeState)
//! tells a volume on its way out.
//!
//! ```no_run
//! # async fn demo(client: fly_machines::Client, cluster_id: &str) -> fly_machines::Result<()> {
//! client.postgres().cluster(cluster_id).ensure_absent().await?;
//! let removed = client.app("pr-42").ensure_absent().await?; // false the second time
//! # let _ = removed;
//! # Ok(()) }
//! ```
//!
//! The repository's `tests/src/preview.rs` is a whole "preview environment" built this way,
//! with no retry code of its own; the end-to-end tests run it under 15% 5xx and 30% ambiguous
//! creates on 20 seeds, and twice at once in two processes.
//!
//! # Testing
//!
//! With the `sim` and `httpmock` features (in `[dev-dependencies]`), a running emulator or an
//! `httpmock::MockServer` gives a client in one line through [`TestServer`](crate::testing::TestServer):
//!
//! ```no_run
//! # #[cfg(feature = "sim")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fly_machines::testing::TestServer;
//! let sim = fly_machines_sim::Sim::builder().start().await?;
//! let client = sim.client();
//! client.apps().ensure("test-app", "personal").await?;
//! // Or Fly when FLY_API_TOKEN is set, else an emulator started here:
//! let target = fly_machines::Client::from_env_or_emulator().await?;
//! # let _ = target;
//! # Ok(()) }
//! ```
//!
//! The emulator lists every health check a config declares (passing after
//! `SimBuilder::check_delay`), and its faults include capacity (`Faults::capacity_regions`)
//! and ambiguous creates on any operation (`Faults::ambiguous_operations`).
//!
//! The typed mocks of `fly-machines-httpmock` have one method per operation, named after the
//! call it stands for: `app.volume(id).delete()` is `server.volumes_delete(..)`,
//! `app.machines().create(..)` is `server.machines_create(..)` (Fly's operation ids are doc
//! aliases; its `reference` module has a table per resource). Their `When` has typed matchers
//! for the common body fields (`region`, `name`, `image`, `mounts_volume`, `metadata`,
//! `size_gb`, `org_slug`, `secret_name`); their `Then` answers in the types the client returns
//! (`then.ok(&lease)`) and with Fly's errors, capacity included, so a region fallback is a test:
//!
//! ```no_run
//! # #[cfg(feature = "httpmock")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fly_machines::testing::TestServer;
//! use fly_machines::types::{Machine, MachineConfig};
//! use fly_machines_httpmock::{Capacity, MockServerExt};
//!
//! let server = httpmock::MockServer::start_async().await;
//! server.machines_create(|when, then| {
//!     when.app_name("shop").region("ord");
//!     then.fly_insufficient_capacity();
//! });
//! server.machines_create(|when, then| {
//!     when.app_name("shop").region("ams");
//!     then.ok(&Machine { region: Some("ams".into()), ..Default::default() });
//! });
//! let app = server.client().app("shop");
//! let config = MachineConfig { image: Some("nginx".into()), ..Default::default() };
//! let err = app.machines().create(config.clone()).region("ord").await.unwrap_err();
//! assert!(err.is_capacity());
//! let made = app.machines().create(config).region("ams").await?;
//! assert_eq!(made.data().region.as_deref(), Some("ams"));
//! # Ok(()) }
//! ```
//!
//! `examples/typed_mocks.rs` tests a region fallback this way.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls-ring` | yes | HTTPS with rustls and ring: the fastest first build, no CMake or OpenSSL headers |
//! | `rustls` | no | HTTPS with rustls and aws-lc (reqwest's default; wins if both are on) |
//! | `native-tls` | no | HTTPS through the platform's TLS library (OpenSSL on Linux) |
//! | `derive` | yes | `#[derive(MachineConfig)]` |
//! | `redis` | no | a rate budget shared by replicas through Redis or Valkey |
//! | `sim` | no | `sim.client()` for the emulator (`fly-machines-sim`) |
//! | `httpmock` | no | `server.client()` for an `httpmock::MockServer` |
//!
//! With `default-features = false`, pick one TLS feature (or none, for plain HTTP only).
//! Under the default `rustls-ring`, reqwest has no crypto provider of its own: a
//! `reqwest::Client` you build yourself (say, for `http_client`) needs reqwest's `rustls` feature
//! or an installed rustls provider, or its `build()` panics. Ring is the default because it gives
//! the fastest first build with no CMake or OpenSSL headers (README, first-build figures).
