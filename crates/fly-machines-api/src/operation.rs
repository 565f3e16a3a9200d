//! What the middleware needs to know about each operation, without matching on strings by hand.

use std::fmt;
use std::time::Duration;

pub use crate::operations::OperationId;

/// The rate-limit bucket Fly applies to an operation (the document's `x-rate-limit`).
///
/// Fly limits each action per machine (or per app where no machine exists yet): 1 request per
/// second with bursts of 3, except Get Machine which allows 5 per second with bursts of 10, and
/// app deletions, which are limited to 100 a minute. [`RateLimitClass::fly_limit`] holds those
/// numbers; the client's limiter and the emulator both read them from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateLimitClass {
    /// Limited per action and machine.
    PerMachine,
    /// Get Machine's higher per-machine limit.
    GetMachine,
    /// Limited per action and app (no machine in the path).
    PerApp,
    /// App deletion: limited per action across all apps, at its own rate.
    AppDelete,
    /// Neither app nor machine in the path: limited per action.
    Global,
}

/// What a rate-limit key is made of, besides the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitScope {
    /// The action on one machine (`app_name` and `machine_id`).
    Machine,
    /// The action in one app (`app_name`).
    App,
    /// The action alone.
    Action,
}

/// A steady rate with a burst allowance: `burst` calls may go at once, then one call per
/// [`interval`](Self::interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Time between calls at the steady rate.
    pub interval: Duration,
    /// How many calls may go at once before pacing starts.
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` calls a second (at least 1) with bursts of `burst`.
    pub const fn per_second(per_second: u32, burst: u32) -> RateLimit {
        let per_second = if per_second == 0 { 1 } else { per_second };
        RateLimit {
            interval: Duration::from_nanos(1_000_000_000 / per_second as u64),
            burst,
        }
    }

    /// `per_minute` calls a minute (at least 1) with bursts of `burst`.
    pub const fn per_minute(per_minute: u32, burst: u32) -> RateLimit {
        let per_minute = if per_minute == 0 { 1 } else { per_minute };
        RateLimit {
            interval: Duration::from_nanos(60_000_000_000 / per_minute as u64),
            burst,
        }
    }

    /// The steady rate in calls per second.
    pub fn per_second_f64(self) -> f64 {
        1.0 / self.interval.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests per second with bursts of {}",
            self.per_second_f64(),
            self.burst
        )
    }
}

impl RateLimitClass {
    /// Every class.
    pub const ALL: [RateLimitClass; 5] = [
        RateLimitClass::PerMachine,
        RateLimitClass::GetMachine,
        RateLimitClass::PerApp,
        RateLimitClass::AppDelete,
        RateLimitClass::Global,
    ];

    /// Fly's documented limit for this class. The one place these numbers are written.
    pub const fn fly_limit(self) -> RateLimit {
        match self {
            RateLimitClass::GetMachine => RateLimit::per_second(5, 10),
            RateLimitClass::AppDelete => RateLimit::per_minute(100, 100),
            RateLimitClass::PerMachine | RateLimitClass::PerApp | RateLimitClass::Global => {
                RateLimit::per_second(1, 3)
            }
        }
    }

    /// What the class's keys are made of.
    pub const fn scope(self) -> LimitScope {
        match self {
            RateLimitClass::PerMachine | RateLimitClass::GetMachine => LimitScope::Machine,
            RateLimitClass::PerApp => LimitScope::App,
            RateLimitClass::AppDelete | RateLimitClass::Global => LimitScope::Action,
        }
    }

    /// The class's position in [`RateLimitClass::ALL`], for per-class arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl OperationId {
    /// This operation's row of the table.
    pub const fn operation(self) -> &'static Operation {
        &crate::OPERATIONS[self as usize]
    }

    /// The document's `operationId`, e.g. `Machines_wait`.
    pub const fn id(self) -> &'static str {
        self.operation().id
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One row of the operation table, generated from `openapi/fly-machines.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The operation's identifier; `OPERATIONS[op as usize]` is this row.
    pub op: OperationId,
    /// The document's `operationId`, e.g. `Machines_wait`.
    pub id: &'static str,
    /// The generated method's name, e.g. `machines_wait`; progenitor reports this as the
    /// operation id to the hooks.
    pub name: &'static str,
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template relative to the base URL, e.g. `/apps/{app_name}/machines/{machine_id}`.
    pub path: &'static str,
    /// Whether repeating the call after it may have reached the server is safe.
    pub idempotent: bool,
    /// Fly's rate-limit bucket for this call.
    pub rate_limit: RateLimitClass,
    /// Whether the call declares the `fly-machine-lease-nonce` header: it changes a machine, and
    /// Fly refuses it on a leased machine unless it carries the lease's nonce.
    pub lease_nonce: bool,
    /// The query parameter holding how long the server may hold the call (a long-poll, such as
    /// `/wait`'s `timeout`, in seconds); `None` for ordinary calls.
    pub long_poll: Option<&'static str>,
}

impl Operation {
    /// Looks an operation up by its generated method name (what the hooks are told).
    pub fn find(name: &str) -> Option<&'static Operation> {
        OperationId::from_method_name(name).map(OperationId::operation)
    }

    /// Looks an operation up by the document's `operationId`.
    pub fn by_id(id: &str) -> Option<&'static Operation> {
        crate::OPERATIONS.iter().find(|op| op.id == id)
    }

    /// The values of the path parameters in `url_path`, matched against this operation's
    /// template, as `(name, value)` pairs (still percent-encoded).
    pub fn path_params<'a>(&self, url_path: &'a str) -> Vec<(&'static str, &'a str)> {
        let template: Vec<&'static str> = self.path.split('/').collect();
        let actual: Vec<&'a str> = url_path.split('/').collect();
        // The base URL may carry a prefix such as `/v1`: align on the template's tail.
        let Some(offset) = actual.len().checked_sub(template.len()) else {
            return Vec::new();
        };
        template
            .iter()
            .zip(&actual[offset..])
            .filter_map(|(t, a)| {
                t.strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .map(|name| (name, *a))
            })
            .collect()
    }

    /// The value of one path parameter in `url_path` (still percent-encoded), found the same way
    /// as [`path_params`](Self::path_params) but without allocating: it runs on every request.
    pub fn path_param<'a>(&self, url_path: &'a str, name: &str) -> Option<&'a str> {
        // A walk from the end that stops at the parameter (the last segment, for most calls),
        // then a check that the path has at least the segments the template has before it. The
        // `str::split` iterators this replaces cost thousands of instructions, a tenth of a
        // call's whole overhead; counting every slash of both paths first cost hundreds.
        let mut template = self.path;
        let mut actual = url_path;
        loop {
            let (template_head, expected) = split_last_segment(template);
            let (actual_head, segment) = split_last_segment(actual);
            let param = expected
                .strip_prefix('{')
                .and_then(|param| param.strip_suffix('}'));
            if param == Some(name) {
                return has_as_many_segments(actual_head?, template_head?).then_some(segment);
            }
            template = template_head?;
            actual = actual_head?;
        }
    }
}

/// Whether `actual` has at least as many `/`-separated segments as `template` (a path of the
/// operation may carry a base prefix such as `/v1` in front of the template's).
fn has_as_many_segments(actual: &str, template: &str) -> bool {
    let needed = template.bytes().filter(|&byte| byte == b'/').count();
    let mut left = Some(actual);
    for _ in 0..needed {
        match left {
            Some(path) => left = split_last_segment(path).0,
            None => return false,
        }
    }
    left.is_some()
}

/// `path` split at its last `/`: what comes before it (`None` when there is no `/` left) and
/// the last segment.
fn split_last_segment(path: &str) -> (Option<&str>, &str) {
    match path.as_bytes().iter().rposition(|&byte| byte == b'/') {
        Some(slash) => (Some(&path[..slash]), &path[slash + 1..]),
        None => (None, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert_eq!(crate::OPERATIONS.len(), 100);
        assert_eq!(OperationId::ALL.len(), crate::OPERATIONS.len());
        for (index, id) in OperationId::ALL.into_iter().enumerate() {
            assert_eq!(crate::OPERATIONS[index].op, id);
            assert_eq!(id.operation().op, id);
        }
        assert!(crate::OPERATIONS.windows(2).all(|w| w[0].name < w[1].name));
        for op in &crate::OPERATIONS {
            assert_eq!(Operation::find(op.name), Some(op));
            assert_eq!(Operation::by_id(op.id), Some(op));
        }
        assert_eq!(Operation::find("nope"), None);
        assert_eq!(
            Operation::find("Machines_wait"),
            None,
            "lookups go by method name"
        );
        assert_eq!(
            Operation::find("create_volume_snapshot").unwrap().id,
            "createVolumeSnapshot"
        );
        assert_eq!(
            Operation::find("tokens_request_oidc").unwrap().id,
            "Tokens_request_OIDC"
        );
    }

    #[test]
    fn classes_follow_fly_limits() {
        let get = Operation::by_id("Machines_show").unwrap();
        assert_eq!(get.rate_limit, RateLimitClass::GetMachine);
        assert!(get.idempotent);
        let create = Operation::by_id("Machines_create").unwrap();
        assert_eq!(create.rate_limit, RateLimitClass::PerApp);
        assert!(!create.idempotent);
        let start = Operation::by_id("Machines_start").unwrap();
        assert_eq!(start.rate_limit, RateLimitClass::PerMachine);
        assert!(!start.idempotent);
        assert!(Operation::by_id("Volumes_update").unwrap().idempotent);
        assert_eq!(
            OperationId::AppsDelete.operation().rate_limit,
            RateLimitClass::AppDelete
        );
        assert_eq!(
            RateLimitClass::AppDelete.fly_limit().interval,
            Duration::from_millis(600)
        );
        assert_eq!(
            RateLimitClass::GetMachine.fly_limit(),
            RateLimit {
                interval: Duration::from_millis(200),
                burst: 10
            }
        );
        for (index, class) in RateLimitClass::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), index);
        }
    }

    #[test]
    fn long_polls_and_lease_nonces_are_table_columns() {
        let long_polls: Vec<_> = crate::OPERATIONS
            .iter()
            .filter_map(|op| op.long_poll.map(|q| (op.op, q)))
            .collect();
        assert_eq!(long_polls, vec![(OperationId::MachinesWait, "timeout")]);
        for op in &crate::OPERATIONS {
            let mutates_a_machine = op.path.contains("{machine_id}") && op.method != "GET";
            assert_eq!(op.lease_nonce, mutates_a_machine, "{}", op.id);
        }
    }

    #[test]
    fn path_params_follow_the_template() {
        let op = Operation::by_id("Machines_show").unwrap();
        assert_eq!(
            op.path_params("/v1/apps/my-app/machines/abc123"),
            vec![("app_name", "my-app"), ("machine_id", "abc123")]
        );
        assert!(op.path_params("/v1").is_empty());
    }

    #[test]
    fn path_param_agrees_with_path_params() {
        let op = Operation::by_id("Machines_show").unwrap();
        let path = "/v1/apps/my-app/machines/abc123";
        assert_eq!(op.path_param(path, "app_name"), Some("my-app"));
        assert_eq!(op.path_param(path, "machine_id"), Some("abc123"));
        assert_eq!(op.path_param(path, "volume_id"), None);
        assert_eq!(op.path_param("/v1", "app_name"), None);
        // Exactly the template's segments count; one fewer is not this operation's path.
        let bare = "/apps/my-app/machines/abc123";
        assert_eq!(op.path_param(bare, "app_name"), Some("my-app"));
        assert_eq!(op.path_param(&bare[1..], "machine_id"), None);
        assert_eq!(op.path_param("", "machine_id"), None);
        // The tail fits but the head is short: not this operation's path either.
        assert_eq!(op.path_param("/machines/abc123", "machine_id"), None);
        assert_eq!(op.path_param("/x/machines/abc123", "app_name"), None);
        assert_eq!(op.path_param("/x/machines/abc123", "machine_id"), None);
        for op in &crate::OPERATIONS {
            let filled = op.path.replace('{', "x-").replace('}', "");
            let path = format!("/v1{filled}");
            for (name, value) in op.path_params(&path) {
                assert_eq!(op.path_param(&path, name), Some(value), "{}", op.id);
            }
        }
    }
}
