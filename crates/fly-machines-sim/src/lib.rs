//! A stateful local emulator of the Fly.io Machines API.
//!
//! `fly-machines-sim` serves all 100 operations of the Machines API (`/v1`, Fly's 2026-10
//! document, Managed Postgres included) from memory, with
//! Fly's wire shapes (the types of [`fly_machines_api::types`]) and status codes, so that
//! orchestration code can be developed and tested offline. It models what clients trip on:
//! the machine state machine with timed transitions, `/wait` long-polls, leases and their
//! nonces, bearer/`FlyV1` auth, Fly's rate limits, and injectable faults (5xx, dropped
//! connections, eventual consistency, ambiguous creates).
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use fly_machines_sim::Sim;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A manual clock: nothing moves until the test says so.
//! let sim = Sim::builder().manual_clock().no_rate_limits().start().await?;
//! let http = reqwest::Client::new();
//! http.post(format!("{}/apps", sim.base_url()))
//!     .bearer_auth(sim.token())
//!     .json(&serde_json::json!({ "name": "demo", "org_slug": "personal" }))
//!     .send()
//!     .await?;
//! let created: serde_json::Value = http
//!     .post(format!("{}/apps/demo/machines", sim.base_url()))
//!     .bearer_auth(sim.token())
//!     .json(&serde_json::json!({ "config": { "image": "nginx:latest" } }))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(created["state"], "created");
//! sim.advance(Duration::from_secs(1)); // the machine boots
//! assert_eq!(sim.machines("demo")[0].state.as_deref(), Some("started"));
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! From the command line: `cargo run -p fly-machines-sim -- --port 4280 --token T`, then
//! `FLY_API_HOSTNAME=http://127.0.0.1:4280 FLY_API_TOKEN=T`.
//!
//! # Behaviour
//!
//! **Auth.** Every request needs `Authorization: Bearer <token>` or `FlyV1 <token>` (a
//! comma-separated macaroon list is accepted when one entry is the token); otherwise `401`
//! `{"error": "...", "status": "unauthorized"}`. Tokens minted by the deploy-token endpoint
//! are accepted too. [`SimBuilder::accept_any_token`] turns auth off.
//!
//! **Errors** are `{"error": message, "status": code}` with string codes: `invalid_argument`
//! (400), `unauthorized` (401), `not_found` (404), `deadline_exceeded` (408),
//! `lease_currently_held` / `version_mismatch` (409), `failed_precondition` (412),
//! `request_entity_too_large` (413, bodies over 16 MiB), `uri_too_long` (414, URIs over
//! 64 KiB), `name_taken` (422), `resource_exhausted` (429),
//! `request_header_fields_too_large` (431). Bad JSON answers 400 naming the operation and the
//! serde error. Lease endpoints answer errors in their envelope
//! `{"status": "error", "code", "message", "error"}`. Every answer the router produces carries
//! `fly-request-id`.
//!
//! **Validation.** A request is checked whole before anything changes: a refused request
//! (any 4xx) leaves the emulator's state as it was. Machine configs follow the shared rules
//! of `fly-machines-rules` (guest sizes, ports, protocols, handlers, file modes and paths,
//! stop signals, restart policies, metadata keys), the same ones the client's builders use.
//! Machine names are 1 to 63 letters, digits, `-` or `_`; lease TTLs are 1 s to a day.
//!
//! **Machine states.** With transition time *T* (default 30 ms, see
//! [`SimBuilder::transition_time`]):
//!
//! | call | allowed from | goes through | ends in |
//! |---|---|---|---|
//! | create | — | `created` (answered), `starting` at +T | `started` at +2T (`created` with `skip_launch`) |
//! | start | `stopped`, `created`, `suspended` | `starting` | `started` at +T |
//! | stop | `started`, `suspended`, `failed` (a no-op from `stopped`/`created`) | `stopping` | `stopped` |
//! | suspend | `started` | `suspending` | `suspended` |
//! | restart | `started`, `failed` | `restarting` | `started` |
//! | update | any state but `destroying`/`destroyed` | `replacing` (new `instance_id` at once) | `started` if it was running or failed, `created` if it was created, else `stopped` |
//! | destroy | `stopped`, `created`, `failed`, `suspended`; any with `force=true` | `destroying` | `destroyed`, then 404 |
//!
//! A call made from another state, or while a transition is in flight, answers `412`
//! (`unable to start machine from current state …`). Each state entered is recorded as an
//! event (`id` a ULID, `timestamp` in ms, `source` `user` or `flyd`). Update keeps the newest
//! ten versions (`…/versions`, see [`SimBuilder::versions_kept`]), as Fly keeps a few; a wait on a replaced version answers 400. `current_version` that
//! does not match answers 409. An image whose tag or repository's last segment is `unpullable`
//! (`example/unpullable:1`, `example/app:unpullable`) ends its launches in `failed`; the tags
//! `:never-healthy` and `:crashloop` make checks never pass or the machine crash and restart;
//! an update to a `:reverted` image is silently put back on the previous config once it
//! launches (see the README's table of scripted images).
//!
//! **`/wait`** takes `state` (repeated or comma-separated; `started`, `stopped`, `suspended`,
//! `destroyed`, `failed`, `settled` = any resting state; default `started`), `timeout` in
//! seconds (1–60, default 60; anything else is 400), `version` (or `instance_id`) and
//! `from_event_id` (only events after it count). It answers `{ok, state, version, event_id}`
//! or 408 when the time runs out on the emulator's clock. A wait for `destroyed` on a machine
//! that is gone succeeds (until it is forgotten, an hour after it is hidden).
//!
//! **Leases.** `POST …/lease` (ttl from the body or `?ttl=`, default 30 s) answers 201 with
//! the envelope and a nonce; with the held nonce in `fly-machine-lease-nonce` it refreshes.
//! While a lease is held, update, start, stop, restart, suspend, cordon, uncordon and destroy
//! need that nonce or answer 409. Leases expire on the clock. Release needs the nonce (400
//! without it, 409 when wrong, 404 when there is no lease). `lease_ttl` on create/update takes
//! a lease atomically and returns its nonce in the machine's `nonce`.
//!
//! **Rate limits** ([`RateLimits`]), on by default: per action and machine (per app for calls
//! without a machine, per action for calls with neither), 1 req/s with bursts of 3, Get
//! Machine 5 req/s with bursts of 10, app deletions 100 per minute; 429 with `Retry-After`.
//! Buckets refill on the emulator's clock.
//!
//! **Faults** ([`Faults`]), off by default and seeded: a rate of 500/502/503 answers, extra
//! latency, dropped connections, a 404 window after create, `destroyed` visible for a while
//! before 404, and ambiguous creates (the machine is created, the answer is 408 or 5xx).
//! Every request lands in the request log ([`SimHandle::requests`]).
//!
//! **Limits.** Memory is bounded by bytes, not records: the request log holds at most
//! [`SimBuilder::request_log_bytes`] (paths and queries cut to 512 bytes, lease nonces kept
//! only for requests that passed auth); a destroyed machine is compacted once it answers 404
//! and forgotten an hour later. Connections are capped ([`SimBuilder::max_connections`]); a
//! connection that is slow to send a request head or sits idle is closed
//! ([`SimBuilder::header_read_timeout`]), a slow body is answered 408
//! ([`SimBuilder::body_read_timeout`]), and failed accepts back off instead of spinning.
//! Bodies are parsed and answers encoded outside the state lock, so one large request does
//! not stall the others. Time arithmetic saturates: a huge duration means "as long as
//! representable".
//!
//! **Managed Postgres** (`/v1/postgres…`). With Postgres step *P* (default 1 s, see
//! [`SimBuilder::postgres_step`]), a new cluster is `creating` until +P, `initializing` until
//! +2P, then `ready` (endpoints appear; storage figures an hour later). A cluster whose name
//! ends in `unprovisionable` ends in `failed` instead. Delete (202) makes it `deleting`, and
//! `deleted` at +P: show answers 404, `include_deleted=true` lists it for an hour. Fork needs a
//! `ready` source (409 otherwise); restore takes a finished backup (what it saved) or a point in
//! time between ready and now (what the cluster holds now); both provision a new cluster with
//! the source's settings. Users get 32-character passwords, replaced on rotation. Backups run
//! for P; another one meanwhile is 409. Active and slow queries are deterministic samples (slow
//! ones from metrics scraped every 60 s after ready). Errors are `{"error": message}`: 404
//! unknown cluster/user/database/backup/app; 422 bad plan, region, role, backup type, cluster
//! name, or a field of the wrong type; 400 a missing `org_slug`, malformed or reserved user
//! and database names, system extensions; 409 duplicates and PostGIS on a cluster without it;
//! 410 once deletion has started (show and backup listing still answer while `deleting`);
//! 503 with `Retry-After` (whole seconds until ready) for users, databases, extensions,
//! credentials, backups and queries while the cluster provisions, 503 without it when it failed.
//! Organizations are `personal` and any that owns an app or a cluster (404 otherwise).
//!
//! **Other resources.** Apps (unique names, `name_taken`; `name` or `app_name` accepted,
//! `org_slug` defaults to `personal`; `idempotency_key` makes a repeat with the same key and
//! name, or no name, answer 201 with the first app, and the same key with another name 422
//! `idempotency_key_reused`); volumes with attach rules (a volume mounted by another
//! machine answers 412; a volume and its machine share a region; an attached volume cannot be
//! deleted), extend (only larger) and snapshots; secrets and secret keys as versioned stores
//! (every change bumps the app's secrets version; `min_version` ahead of it answers 412;
//! `min_secrets_version` on create/update likewise); metadata with `machine_version` and
//! `updated_at` preconditions (412); list filters `region`, `state`, `include_deleted`,
//! `summary` and `metadata.<key>=<value>`; org-wide listings with cursors.
//!
//! # Simulated infrastructure
//!
//! These operations depend on things that do not exist locally; they answer deterministic,
//! plausible data:
//!
//! * **exec** (`Machines_exec`): no process runs. `echo` prints its arguments, `cat` prints
//!   stdin, `true`/`false` exit 0/1, `sh -c "exit N"` exits N and `sh -c "<cmd>"` runs `<cmd>`
//!   by these rules; anything else exits 0 with no output. The machine must be `started`
//!   (else 412).
//! * **ps** (`Machines_list_processes`): two processes, `/.fly/init` (pid 1) and the
//!   configured init command or the image (pid 713), listening on the services' internal
//!   ports; `sort_by` and `order` are honoured. Needs `started`.
//! * **memory** (get, set limit, reclaim): the limit is the guest's `memory_mb` unless set
//!   (128 MB up to `max_memory_mb`); available is the limit less 64 MB and a quarter of the
//!   guest memory; reclaim returns at most half of what is available. Needs `started`.
//! * **certificates**: ACME certificates are `pending_validation` until the first `check`,
//!   which issues them (`active`, RSA and ECDSA, 90 days). Custom certificates need PEM-looking
//!   `fullchain` and `private_key` and are `active` at once. DNS requirements point at made-up
//!   addresses derived from the app id.
//! * **IP assignments**: addresses are derived from the app id (`v6`, `v4`, `shared_v4`,
//!   `private_v6`).
//! * **deploy tokens** (`App_create_deploy_token`): a `FlyV1 fm2_…` string, also accepted by
//!   the emulator's auth.
//! * **tokens**: `authenticate` and `authorize` accept the emulator's token (or a minted one)
//!   and answer a verified token with no caveats (400 otherwise); `current` describes a
//!   personal-org token owned by the lease owner; `kms` returns a `FlyV1 fm2_…` string and
//!   `oidc` an unsigned-looking JWT (issuer `https://oidc.fly.io/personal`, 10 minutes), both
//!   as `text/plain`.
//! * **secret keys**: `generate` draws random material; `encrypt`/`decrypt`, `sign`/`verify`
//!   use a keyed, reversible, **non-cryptographic** transform that round-trips and rejects a
//!   wrong key, associated data or signature. Key types containing `sign`, `box` (not
//!   `secretbox`) or `ed25519` report a made-up public key.
//! * **placements**: each requested region (default `iad`) offers room for 64 GB of guests;
//!   `count` is spread over the regions in order.
//! * **regions**: a fixed table of 34 regions (nearest `iad`); machines and volumes must use
//!   one of them.

mod api;
mod auth;
mod builder;
mod clock;
mod config;
mod connections;
mod emulator;
mod encoding;
mod errors;
mod faults;
mod handle;
mod ids;
mod limits;
mod paging;
mod pipeline;
#[cfg(test)]
mod properties;
mod reply;
mod request;
mod request_log;
mod routing;
mod serving;
mod shapes;
mod state;
mod time;
mod validation;
mod wire_errors;

pub use builder::{Sim, SimBuilder};
pub use clock::{Clock, MANUAL_EPOCH_MS};
pub use config::{FaultKind, Faults, Limit, RateLimits};
pub use fly_machines_api::types;
pub use handle::SimHandle;
pub use paging::LIST_SLICE;
pub use pipeline::REQUEST_ID_HEADER;
pub use request::LEASE_NONCE_HEADER;
pub use request_log::RequestRecord;
pub use serving::ServingChange;
pub use state::MACHINE_STATES;
