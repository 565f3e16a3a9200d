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

/// How one request ended, as the pipeline reports it to the log.
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) request_id: String,
    pub(crate) fault: Option<FaultKind>,
    pub(crate) arrived_ms: u64,
}

/// The log itself: the newest records, oldest dropped first.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    records: Mutex<VecDeque<RequestRecord>>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> RequestLog {
        RequestLog {
            capacity,
            records: Mutex::new(VecDeque::new()),
        }
    }

    /// Appends one request.
    pub(crate) fn record(&self, op: Option<&'static Operation>, head: &Parts, outcome: Outcome) {
        if self.capacity == 0 {
            return;
        }
        let rec = RequestRecord {
            method: head.method.as_str().to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().map(str::to_string),
            operation: op.map(|o| o.id),
            status: outcome.status,
            lease_nonce: head
                .headers
                .get(LEASE_NONCE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
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
        let mut log = lock(&self.records);
        while log.len() >= self.capacity {
            log.pop_front();
        }
        log.push_back(rec);
    }

    /// The records, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        lock(&self.records).iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        lock(&self.records).clear();
    }
}
