//! Query statistics: no Postgres runs, so these are deterministic samples derived from the
//! cluster's databases, users, attachments and age, the same on every run.

use crate::ids::fnv64;
use crate::state::postgres::{Cluster, DEFAULT_USER, Role};

/// One row of the active-queries sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActiveQuery {
    pub(crate) pid: i64,
    pub(crate) user: String,
    pub(crate) database: String,
    pub(crate) application_name: String,
    pub(crate) client: String,
    pub(crate) state: &'static str,
    pub(crate) query: &'static str,
    pub(crate) duration_seconds: f64,
    pub(crate) state_duration_seconds: f64,
    pub(crate) wait_event_type: &'static str,
    pub(crate) wait_event: &'static str,
}

/// One row of the slow-queries sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlowQuery {
    pub(crate) query_id: String,
    pub(crate) query: &'static str,
    pub(crate) database: String,
    pub(crate) user: String,
    pub(crate) calls: i64,
    pub(crate) mean_exec_time_seconds: f64,
    pub(crate) max_exec_time_seconds: f64,
    pub(crate) total_exec_time_seconds: f64,
}

/// The user the samples attribute queries to: the first schema admin, else any user.
fn sample_user(c: &Cluster) -> String {
    c.data
        .users
        .iter()
        .find(|(_, u)| u.role == Role::SchemaAdmin)
        .or_else(|| c.data.users.iter().next())
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| DEFAULT_USER.to_string())
}

/// Two backends of `database` (none when the cluster has no such database): one running a
/// query, one idle in a transaction and waiting on its client.
pub(crate) fn active(c: &Cluster, database: &str) -> Vec<ActiveQuery> {
    if !c.data.databases.contains_key(database) {
        return Vec::new();
    }
    let pid = 1000 + (fnv64(format!("{}/{database}", c.id).as_bytes()) % 60_000) as i64;
    let user = sample_user(c);
    let application_name = c
        .attachments
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "psql".to_string());
    let client = format!("fdaa:0:{:x}::3", fnv64(c.id.as_bytes()) % 0xffff);
    let row = |pid, state, query, duration, state_duration, wait_type, wait| ActiveQuery {
        pid,
        user: user.clone(),
        database: database.to_string(),
        application_name: application_name.clone(),
        client: client.clone(),
        state,
        query,
        duration_seconds: duration,
        state_duration_seconds: state_duration,
        wait_event_type: wait_type,
        wait_event: wait,
    };
    vec![
        row(
            pid,
            "active",
            "SELECT id, status FROM jobs WHERE status = $1 ORDER BY id LIMIT 100",
            0.042,
            0.042,
            "",
            "",
        ),
        row(
            pid + 1,
            "idle in transaction",
            "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
            3.5,
            3.25,
            "Client",
            "ClientRead",
        ),
    ]
}

/// Statement patterns of the slow-query sample: (query, mean seconds, max seconds, seconds
/// between calls).
const PATTERNS: &[(&str, f64, f64, u64)] = &[
    (
        "SELECT * FROM events WHERE created_at > $1 ORDER BY created_at",
        0.85,
        4.2,
        60,
    ),
    (
        "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
        0.012,
        0.3,
        2,
    ),
    (
        "INSERT INTO audit_log (actor, action, payload) VALUES ($1, $2, $3)",
        0.004,
        0.09,
        1,
    ),
];

/// How many rows the slow-query listing returns at most.
const SLOW_TOP: usize = 20;

/// Metrics are scraped this often once a cluster is ready (the first scrape one interval in).
pub(crate) const SCRAPE_INTERVAL_MS: u64 = 60_000;

/// The top statements by total execution time across the databases, as of the latest metrics
/// scrape no older than `range_secs` (none yet: an empty list). Counters are cumulative since
/// the cluster became ready.
pub(crate) fn slow(c: &Cluster, range_secs: i64, now: u64) -> Vec<SlowQuery> {
    let Some(ready) = c.timeline.ready_ms().filter(|&r| r <= now) else {
        return Vec::new();
    };
    let scrapes = now.saturating_sub(ready) / SCRAPE_INTERVAL_MS;
    let latest = ready.saturating_add(scrapes.saturating_mul(SCRAPE_INTERVAL_MS));
    let range_ms = u64::try_from(range_secs).unwrap_or(0).saturating_mul(1000);
    if scrapes == 0 || now.saturating_sub(latest) > range_ms {
        return Vec::new();
    }
    let uptime_secs = latest.saturating_sub(ready) / 1000;
    let user = sample_user(c);
    let mut rows: Vec<SlowQuery> = c
        .data
        .databases
        .keys()
        .flat_map(|db| {
            PATTERNS
                .iter()
                .map(move |&(query, mean, max, every)| (db, query, mean, max, every))
        })
        .map(|(db, query, mean, max, every)| {
            let calls = i64::try_from(uptime_secs / every)
                .unwrap_or(i64::MAX)
                .max(1);
            SlowQuery {
                query_id: (fnv64(format!("{db}:{query}").as_bytes()) as i64).to_string(),
                query,
                database: db.clone(),
                user: user.clone(),
                calls,
                mean_exec_time_seconds: mean,
                max_exec_time_seconds: max,
                total_exec_time_seconds: mean * calls as f64,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total_exec_time_seconds
            .total_cmp(&a.total_exec_time_seconds)
            .then_with(|| a.query_id.cmp(&b.query_id))
    });
    rows.truncate(SLOW_TOP);
    rows
}
