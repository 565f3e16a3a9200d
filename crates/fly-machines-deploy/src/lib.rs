//! Fleets and rollouts on [Fly Machines](https://fly.io/docs/machines/), on top of
//! [`fly_machines`].
//!
//! Users think in desired state ("3 web machines in `iad` and 2 in `ord` from this config, each
//! with a 10 GB volume"), not in the calls that get there. This crate turns one into the other in
//! steps that can be read before anything is sent:
//!
//! 1. [`DesiredFleet`]: named [`Group`]s, each with a machine config, a count per region, an
//!    optional volume per machine and the [`Strategy`] for changes. Built in code or read from a
//!    TOML file ([`DesiredFleet::from_toml`]); every value is checked with the same rules as the
//!    SDK's builders and `#[derive(MachineConfig)]`.
//! 2. [`plan()`]: a pure, deterministic function of the desired fleet and the machines the app
//!    has now ([`ObservedMachine`]), giving a [`Plan`] of creates, updates (with a readable
//!    diff), destroys and machines left alone. It only touches machines the fleet owns, marked in
//!    their metadata ([`marks`]); foreign machines are listed and never changed.
//!
//! 3. [`Applier::apply`]: runs a plan. Creates first (with idempotency keys), then moves under
//!    the group's strategy (rolling with at most `max_unavailable` out of service at once, canaries first, or all at
//!    once), each under a lease with `current_version`, held until the machine passes its
//!    [`health`] gate (started, at the version the update answered, not crashing, checks
//!    passing, for `min_healthy_time`), then destroys the surplus. A failed gate rolls every
//!    moved machine back to its previous config and destroys what the run created (unless the
//!    strategy turns rollback off); the [`ApplyError`] names the machine, the gate and what it
//!    saw. [`Progress`] events report each step; the library prints nothing.
//!
//! 4. [`Reconciler`]: plan and apply in a loop, one round per interval, under the fleet's
//!    [`FleetLock`], so a machine changed or destroyed by hand is put back.
//!
//! The plan is level-triggered, as in kube-runtime: it is computed from what runs now, never
//! from what a previous run did, so running it again after a crash picks up where things are.
//!
//! # Strategies, and what happens on failure
//!
//! Every move happens under a lease on the machine (refreshed; released on every path, or at
//! worst expiring with its TTL) and carries `current_version`, so a change made meanwhile by
//! someone else is noticed, not overwritten. A move is done only once the machine passes its
//! [`health`] gate: started, at the version the update answered (a machine Fly silently put
//! back on its old version fails here), no crash since, every check passing, for
//! `min_healthy_time` within `healthy_deadline`. A crash, a `failed` state or a put-back fails
//! the gate at once. 429s and transient errors are the SDK's to retry and pace; they never fail
//! a deploy.
//!
//! | [`StrategyKind`] | how it moves | serving, of n | when a gate fails |
//! |---|---|---|---|
//! | `Rolling` | in place, at most `max_unavailable` out at once; with `max_surge` s, s new machines first, then `max_unavailable` + s out at once, the s stood-in machines destroyed last | ≥ n − `max_unavailable` | every moved machine is put back on its old config, gated; surge machines are destroyed |
//! | `Canary` | `canary` new machines, serving, healthy for `min_healthy_time`; they stay, the rest roll no wider than the extra machines serving, and as many old machines go last (in place with volumes) | ≥ n (with volumes ≥ n − max(`canary`, `max_unavailable`)) | the canaries are destroyed and every moved machine is put back |
//! | `BlueGreen` | a green per blue, out of the proxy, gated; all greens uncordoned before any blue is cordoned; blues destroyed | ≥ n | before the switch the greens are destroyed and the blues kept serving; after it the greens stay and the error names what is left |
//! | `Immediate` | all at once, `max_concurrency` in flight; no health wait, but each update must have taken (started, at its version) | no floor | every moved machine is put back, without gates |
//!
//! With `rollback = false` the run stops where it failed instead. Either way it ends in an
//! [`ApplyError`]: the group, the machine, the gate and what it saw, and what the rollback did
//! ([`apply::Rollback`]); nothing the run created is left behind. An interrupted run is resumed
//! by applying again (the plan is computed from live machines and their revision marks; creates
//! carry keys), and [`Applier::rollback`] puts every machine back on its previous revision.
//! `cargo run --example rollout` shows a rolling and a blue-green rollout, and a silent revert
//! caught, against the emulator (or Fly when `FLY_API_TOKEN` is set).
//!
//! # A fleet file
//!
//! ```
//! use fly_machines_deploy::{DesiredFleet, plan};
//!
//! let fleet = DesiredFleet::from_toml(r#"
//! app = "shop"
//!
//! [[group]]
//! name = "web"
//! image = "registry.fly.io/shop:v2"
//! regions = { iad = 3, ord = 2 }
//! guest = { cpu_kind = "shared", cpus = 1, memory_mb = 512 }
//! env = { RUST_LOG = "info" }
//!
//! [group.strategy]
//! kind = "rolling"
//! max_unavailable = 1
//! "#)?;
//!
//! // Nothing runs yet: five machines to create.
//! let plan = plan(&fleet, &[]);
//! assert_eq!(plan.summary().create, 5);
//! println!("{plan}");
//! # Ok::<(), fly_machines_deploy::FleetFileError>(())
//! ```
//!
//! The keys: `app`, optional `org` (where the app is made if it does not exist yet, default
//! `personal`), optional `fleet` (the owner mark, defaults to the app's name), and one
//! `[[group]]` table per group with `name`, `image`, either `count` with a list `regions`
//! (that many machines in each) or a table `regions = { iad = 3 }`, and optionally `guest`
//! (`cpu_kind`, `cpus`, `memory_mb`), `env`, `metadata`, `[[group.services]]` (`protocol`,
//! `internal_port`, `autostop`, `autostart`, `min_machines_running`, `[[group.services.ports]]`
//! with `port`, `handlers`, `force_https`), `[group.checks.NAME]` (`type` `http` or `tcp`,
//! `port`, `path`, `method`, `interval`, `timeout`, `grace_period`), `[group.volume]`
//! (`size_gb`, `path`, `name`) and `[group.strategy]` (`kind` `rolling`, `canary`, `bluegreen`
//! or `immediate`, `max_unavailable`, `max_surge`, `canary`, `max_concurrency`,
//! `min_healthy_time`, `healthy_deadline`, `progress_deadline`, `rollback`). An unknown key, a
//! bad value, a duplicate group or a negative count is a [`FleetFileError`] naming the key and
//! its line.

pub mod apply;
pub mod desired;
mod diff;
mod file;
pub mod health;
pub mod lock;
pub mod marks;
pub mod observed;
pub mod plan;
pub mod reconcile;
mod render;
pub mod strategy;
mod surge;

pub use apply::{Applier, ApplyError, Progress, Report};
pub use desired::{DesiredFleet, FleetError, Group, GroupBuilder, VolumeSpec};
pub use file::FleetFileError;
pub use lock::{FleetLock, LockError};
pub use observed::ObservedMachine;
pub use plan::{
    Change, ChangeKind, DestroyReason, ForeignMachine, GroupPlan, Plan, Step, Summary,
    UpdateReason, plan,
};
pub use reconcile::{Outcome, Reconciler};
pub use strategy::{Amount, Gates, Strategy, StrategyKind};
