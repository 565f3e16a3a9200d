//! Closed sets of words: handlers, protocols, restart policies, signals, schedules, check kinds.
//!
//! The words of a service (protocol, handlers, autostop, concurrency kind) are declared once by
//! `closed_set!`, which makes both the list the checks read and a typed enum over it, so the
//! builders' typed values and the derive's and the emulator's checks cannot drift apart.

use std::fmt;
use std::str::FromStr;

use crate::wording::{closest, list_words};
use crate::{Rule, RuleError};

/// Declares a closed set of words once: `pub const LIST: &[&str]` (what the checks read) and a
/// typed enum whose values are those words, readable from text with the rule's error.
macro_rules! closed_set {
    (
        $(#[$list_doc:meta])*
        $list:ident;
        $(#[$enum_doc:meta])*
        $name:ident by $rule:expr => {
            $( $(#[$variant_doc:meta])* $variant:ident => $word:literal, )+
        }
    ) => {
        $(#[$list_doc])*
        pub const $list: &[&str] = &[$($word),+];

        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$variant_doc])* $variant, )+
        }

        impl $name {
            #[doc = concat!("Every value, in the order of [`", stringify!($list), "`].")]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as Fly writes it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = RuleError;

            /// Reads the word as Fly writes it; any other word is refused with the error that
            /// names the value and the words expected (and the closest one, if any is close).
            fn from_str(value: &str) -> Result<$name, RuleError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|known| known.as_str() == value)
                    .ok_or_else(|| one_of_error($rule, value, $list))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set! {
    /// Handlers the Fly proxy can apply to a public port.
    HANDLERS;
    /// A handler the Fly proxy applies to a public port's traffic.
    Handler by Rule::Handler => {
        /// `tls`: terminate TLS.
        Tls => "tls",
        /// `http`: speak HTTP to the machine.
        Http => "http",
        /// `proxy_proto`: prepend the PROXY protocol header.
        ProxyProto => "proxy_proto",
        /// `pg_tls`: terminate TLS for Postgres clients.
        PgTls => "pg_tls",
        /// `edge_http`: HTTP handled at the edge.
        EdgeHttp => "edge_http",
    }
}

closed_set! {
    /// Transport protocols of a service.
    PROTOCOLS;
    /// A service's transport protocol.
    Protocol by Rule::Protocol => {
        /// `tcp`
        Tcp => "tcp",
        /// `udp`
        Udp => "udp",
    }
}
/// Restart policies.
pub const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "spot-price"];
/// The restart policy that `max_retries` belongs to (also Fly's default).
pub const ON_FAILURE: &str = "on-failure";
closed_set! {
    /// What the proxy may do with an idle machine.
    AUTOSTOP_VALUES;
    /// What the proxy does with a machine that has been idle a while.
    Autostop by Rule::Autostop => {
        /// `off`: leave it running.
        Off => "off",
        /// `stop`: stop it.
        Stop => "stop",
        /// `suspend`: suspend it (it resumes faster than a stopped machine starts).
        Suspend => "suspend",
    }
}
/// Signals a machine may be stopped with.
pub const STOP_SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM",
];
/// Signals that may be sent to a machine's main process (a superset of [`STOP_SIGNALS`]).
pub const SIGNALS: &[&str] = &[
    "SIGABRT", "SIGALRM", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGKILL", "SIGPIPE", "SIGQUIT",
    "SIGSEGV", "SIGTERM", "SIGTRAP", "SIGUSR1", "SIGUSR2",
];
/// Schedules a machine may run on.
pub const SCHEDULES: &[&str] = &["hourly", "daily", "weekly", "monthly"];
/// Types of health check (`type` on the wire).
pub const CHECK_TYPES: &[&str] = &["tcp", "http"];
/// Roles of a top-level health check (`kind` on the wire).
pub const CHECK_ROLES: &[&str] = &["informational", "readiness"];
/// Schemes of an HTTP health check (`protocol` on the wire).
pub const CHECK_SCHEMES: &[&str] = &["http", "https"];
closed_set! {
    /// What a service's concurrency limits count.
    CONCURRENCY_TYPES;
    /// What a service's concurrency limits count (`type` on the wire).
    ConcurrencyKind by Rule::ConcurrencyType => {
        /// `connections`: open connections.
        Connections => "connections",
        /// `requests`: requests in flight (HTTP services).
        Requests => "requests",
    }
}

/// Checks that `value` is one of `allowed`, returning the matching table entry.
pub fn check_one_of(
    rule: Rule,
    value: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str, RuleError> {
    allowed
        .iter()
        .copied()
        .find(|word| *word == value)
        .ok_or_else(|| one_of_error(rule, value, allowed))
}

pub(crate) fn one_of_error(rule: Rule, value: &str, allowed: &[&'static str]) -> RuleError {
    RuleError::new(rule, value, list_words(allowed)).with_suggestion(closest(value, allowed))
}

/// Checks a port handler (`tls`, `http`, `proxy_proto`, `pg_tls` or `edge_http`).
pub fn check_handler(value: &str) -> Result<&'static str, RuleError> {
    value.parse().map(Handler::as_str)
}

/// Checks a service protocol (`tcp` or `udp`).
pub fn check_protocol(value: &str) -> Result<&'static str, RuleError> {
    value.parse().map(Protocol::as_str)
}

/// Checks a restart policy (`no`, `always`, `on-failure` or `spot-price`).
pub fn check_restart_policy(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::RestartPolicy, value, RESTART_POLICIES)
}

/// Checks that `max_retries` goes with the restart policy it belongs to. With no policy set Fly
/// restarts on failure, so `max_retries` alone is fine.
pub fn check_max_retries(policy: Option<&str>, max_retries: i64) -> Result<u32, RuleError> {
    if let Some(policy) = policy.filter(|p| *p != ON_FAILURE) {
        return Err(RuleError::new(
            Rule::MaxRetries,
            max_retries,
            format!(
                "no max_retries with restart policy `{policy}` (it applies only to `{ON_FAILURE}`)"
            ),
        ));
    }
    u32::try_from(max_retries)
        .map_err(|_| RuleError::new(Rule::MaxRetries, max_retries, "a count of 0 or more"))
}

/// Checks an autostop value (`off`, `stop` or `suspend`).
pub fn check_autostop(value: &str) -> Result<&'static str, RuleError> {
    value.parse().map(Autostop::as_str)
}

/// Checks a stop signal (`SIGTERM` and friends). `TERM` gets the hint `SIGTERM`.
pub fn check_stop_signal(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::StopSignal, value, STOP_SIGNALS).map_err(|err| {
        let upper = value.to_ascii_uppercase();
        let prefixed = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        match STOP_SIGNALS.iter().find(|s| **s == prefixed) {
            Some(exact) => err.with_suggestion(Some(*exact)),
            None => err,
        }
    })
}

/// Checks a signal for a machine's main process (`SIGUSR1` and friends).
pub fn check_signal(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Signal, value, SIGNALS)
}

/// Checks a schedule (`hourly`, `daily`, `weekly` or `monthly`).
pub fn check_schedule(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::Schedule, value, SCHEDULES)
}

/// Checks a health check type (`tcp` or `http`).
pub fn check_check_type(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckType, value, CHECK_TYPES)
}

/// Checks a top-level health check role (`informational` or `readiness`).
pub fn check_check_role(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckRole, value, CHECK_ROLES)
}

/// Checks an HTTP health check scheme (`http` or `https`).
pub fn check_check_scheme(value: &str) -> Result<&'static str, RuleError> {
    check_one_of(Rule::CheckScheme, value, CHECK_SCHEMES)
}

/// Checks what concurrency limits count (`connections` or `requests`).
pub fn check_concurrency_type(value: &str) -> Result<&'static str, RuleError> {
    value.parse().map(ConcurrencyKind::as_str)
}
