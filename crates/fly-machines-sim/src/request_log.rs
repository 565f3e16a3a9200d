//! The request log: what the emulator saw and answered, for tests to inspect.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use fly_machines_api::Operation;

use crate::config::FaultKind;
use crate::emulator::lock;
use crate::request::LEASE_NONCE_HEADER;

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, including the `/v1` prefix, without the query (cut to 512 bytes).
    pub path: String,
    /// The raw query string, if any (cut to 512 bytes).
    pub query: Option<String>,
    /// The OpenAPI operation id the path matched, e.g. `Machines_start`.
    pub operation: Option<&'static str>,
    /// HTTP status answered; `0` when the connection was dropped by a fault.
    pub status: u16,
    /// The `fly-machine-lease-nonce` header, if sent with a request that passed auth (cut to
    /// 64 bytes).
    pub lease_nonce: Option<String>,
    /// The `fly-request-id` answered.
    pub request_id: String,
    /// When the request arrived, on the emulator's clock.
    pub at: SystemTime,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<FaultKind>,
}

/// How one request ended, as the pipeline reports it to the log.
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) request_id: String,
    pub(crate) fault: Option<FaultKind>,
    pub(crate) arrived_ms: u64,
}

/// Longest path or query kept in a record; longer ones are cut (on a character boundary).
pub(crate) const MAX_FIELD_BYTES: usize = 512;
/// Longest lease nonce kept; real nonces are far shorter.
const MAX_NONCE_BYTES: usize = 64;

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl RequestRecord {
    /// What the record costs in memory: the struct and its strings.
    fn bytes(&self) -> usize {
        std::mem::size_of::<RequestRecord>()
            + self.method.len()
            + self.path.len()
            + self.query.as_ref().map_or(0, String::len)
            + self.lease_nonce.as_ref().map_or(0, String::len)
            + self.request_id.len()
    }
}

#[derive(Debug, Default)]
struct Records {
    queue: VecDeque<RequestRecord>,
    bytes: usize,
}

/// The log itself: the newest records, oldest dropped first, bounded both in count and in
/// bytes.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    byte_budget: usize,
    records: Mutex<Records>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize, byte_budget: usize) -> RequestLog {
        RequestLog {
            capacity,
            byte_budget,
            records: Mutex::new(Records::default()),
        }
    }

    /// Appends one request. Paths and queries are cut to [`MAX_FIELD_BYTES`]; the lease nonce
    /// is kept only for requests that reached an operation past auth.
    pub(crate) fn record(&self, op: Option<&'static Operation>, head: &Parts, outcome: Outcome) {
        if self.capacity == 0 || self.byte_budget == 0 {
            return;
        }
        let authenticated = op.is_some() && outcome.status != 401;
        let rec = RequestRecord {
            method: cut(head.method.as_str(), MAX_FIELD_BYTES),
            path: cut(head.uri.path(), MAX_FIELD_BYTES),
            query: head.uri.query().map(|q| cut(q, MAX_FIELD_BYTES)),
            operation: op.map(|o| o.id),
            status: outcome.status,
            lease_nonce: head
                .headers
                .get(LEASE_NONCE_HEADER)
                .filter(|_| authenticated)
                .and_then(|v| v.to_str().ok())
                .map(|n| cut(n, MAX_NONCE_BYTES)),
            request_id: outcome.request_id,
            at: UNIX_EPOCH + Duration::from_millis(outcome.arrived_ms),
            fault: outcome.fault,
        };
        tracing::debug!(
            method = %rec.method,
            path = %rec.path,
            status = rec.status,
            operation = rec.operation.unwrap_or("-"),
            "request"
        );
        let size = rec.bytes();
        let mut log = lock(&self.records);
        while !log.queue.is_empty()
            && (log.queue.len() >= self.capacity
                || log.bytes.saturating_add(size) > self.byte_budget)
        {
            if let Some(old) = log.queue.pop_front() {
                log.bytes = log.bytes.saturating_sub(old.bytes());
            }
        }
        log.bytes = log.bytes.saturating_add(size);
        log.queue.push_back(rec);
    }

    /// The records, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        lock(&self.records).queue.iter().cloned().collect()
    }

    /// How many bytes the records hold now.
    pub(crate) fn bytes(&self) -> usize {
        lock(&self.records).bytes
    }

    pub(crate) fn clear(&self) {
        let mut log = lock(&self.records);
        log.queue.clear();
        log.bytes = 0;
    }
}
