//! The layers every request goes through: auth, rate limits, faults, the body, the operation,
//! then the request id and the request log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use fly_machines_api::{Operation, OperationId};

use crate::api::Work;
use crate::config::FaultKind;
use crate::connections::DropConnection;
use crate::emulator::{Emulator, lock};
use crate::errors::ApiError;
use crate::faults::Verdict;
use crate::reply::{Reply, WireBody};
use crate::request::{ApiRequest, Env, PathParams};
use crate::request_log::Outcome as Logged;
use crate::wire_errors::SERVER_NAME;

/// The header carrying the request id on every answer.
pub const REQUEST_ID_HEADER: &str = "fly-request-id";
/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the common layer decided.
enum Outcome {
    Reply(Reply, Option<FaultKind>),
    Drop,
}

/// Serves one request of `op`.
pub(crate) async fn handle(emu: Arc<Emulator>, op: &'static Operation, req: Request) -> Response {
    let arrived = emu.clock.now_ms();
    let (mut head, body) = req.into_parts();
    let params =
        match axum::RequestPartsExt::extract::<Path<HashMap<String, String>>>(&mut head).await {
            Ok(Path(p)) => Ok(PathParams(p)),
            Err(e) => Err(ApiError::bad_request(format!("invalid path: {e}"))),
        };
    let outcome = match params {
        Err(e) => Outcome::Reply(e.shaped_for(op.op).into_reply(), None),
        Ok(params) => run(&emu, op, &head, params, body).await,
    };
    match outcome {
        Outcome::Reply(reply, fault) => finish(&emu, Some(op), &head, reply, fault, arrived),
        Outcome::Drop => {
            let logged = Logged {
                status: 0,
                request_id: String::new(),
                fault: Some(FaultKind::Dropped),
                arrived_ms: arrived,
            };
            emu.log.record(Some(op), &head, logged);
            let mut resp = Response::new(Body::empty());
            resp.extensions_mut().insert(DropConnection);
            resp
        }
    }
}

async fn run(
    emu: &Arc<Emulator>,
    op: &'static Operation,
    head: &Parts,
    params: PathParams,
    body: Body,
) -> Outcome {
    if let Err(e) = crate::auth::check_host(emu, &head.headers)
        .and_then(|()| crate::auth::authenticate(emu, &head.headers, &params))
    {
        return Outcome::Reply(e.shaped_for(op.op).into_reply(), None);
    }
    let now = emu.clock.now_ms();
    if let Err(e) = emu.limiter.admit(op, &params, now) {
        return Outcome::Reply(e.shaped_for(op.op).into_reply(), None);
    }
    let mut fault = None;
    if emu.faults.is_active() {
        let (latency, verdict) = emu.faults.draw_before(op);
        if let Some(latency) = latency {
            fault = Some(FaultKind::Latency);
            tokio::time::sleep(latency).await;
        }
        match verdict {
            Verdict::Serve => {}
            Verdict::Drop => return Outcome::Drop,
            Verdict::Error(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let reply = ApiError::new(status, "unknown", "injected fault: upstream error")
                    .shaped_for(op.op)
                    .into_reply();
                return Outcome::Reply(reply, Some(FaultKind::ServerError));
            }
        }
    }
    let body = match read_body(head, body, emu.connection_limits.body_read_timeout).await {
        Ok(b) => b,
        Err(mut e) => {
            // The rest of the body is still on the wire: close instead of reading it.
            e.headers
                .push((header::CONNECTION, HeaderValue::from_static("close")));
            return Outcome::Reply(e.shaped_for(op.op).into_reply(), fault);
        }
    };
    let query = head
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let req = ApiRequest {
        op,
        params,
        query,
        headers: head.headers.clone(),
        body,
    };
    if CAPACITY_CREATES.contains(&op.op) && emu.faults.is_active() {
        let region = serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|v| v.get("region")?.as_str().map(str::to_string))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| emu.settings.default_region.clone());
        if emu.faults.draw_capacity(&region) {
            let refused = ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "insufficient_capacity",
                format!("insufficient resources to create new machine in region {region}"),
            );
            return Outcome::Reply(refused.into_reply(), Some(FaultKind::Capacity));
        }
    }
    let result = match crate::api::plan(&req) {
        Err(e) => Err(e),
        Ok(Work::Answer(reply)) => Ok(reply),
        Ok(Work::Sliced(work)) => {
            // A long listing is CPU work that may run for seconds: on the blocking pool it
            // cannot hold an async worker (nor the tasks queued behind it on that worker).
            let emu = Arc::clone(emu);
            let req = req.clone();
            let handle = tokio::task::spawn_blocking(move || {
                let shared = crate::api::Shared {
                    world: &emu.world,
                    clock: &emu.clock,
                    list_slice_hook: &emu.list_slice_hook,
                };
                work(&shared, &req)
            });
            handle.await.unwrap_or_else(|e| {
                Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unknown",
                    format!("the listing did not finish: {e}"),
                ))
            })
        }
        Ok(Work::LongPoll { timeout_param }) => {
            crate::api::wait::wait(emu, &req, timeout_param).await
        }
        Ok(Work::Locked(work)) => {
            let result = {
                let now = emu.clock.now_ms();
                let mut world = lock(&emu.world);
                world.reap(now);
                let mut env = Env {
                    world: &mut world,
                    now,
                    settings: &emu.settings,
                };
                work(&mut env, &req)
            };
            if op.method != "GET" {
                emu.changed.notify_waiters();
            }
            result
        }
    };
    let mut reply = result.unwrap_or_else(|e| e.shaped_for(op.op).into_reply());
    if reply.status.is_success()
        && emu.faults.is_active()
        && emu.faults.ambiguous_applies_to(op.op, &AMBIGUOUS_CREATES)
        && let Some(code) = emu.faults.draw_ambiguous_create()
    {
        reply = ambiguous_create(code);
        fault = Some(FaultKind::AmbiguousCreate);
    }
    Outcome::Reply(reply, fault)
}

/// Reads the whole body: 413 past [`MAX_BODY`] (at once when the declared length says so),
/// 408 when it does not arrive in time, 400 when the connection fails.
async fn read_body(head: &Parts, body: Body, timeout: Duration) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    };
    let declared = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "deadline_exceeded",
            format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )),
    }
}

/// Whether a body error is the size limit (it is wrapped, so the chain is searched).
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The creates the ambiguous-create fault applies to: those a client can make safe to repeat
/// (a machine tagged with a launch key, an app with Fly's idempotency key).
const AMBIGUOUS_CREATES: [OperationId; 2] = [OperationId::MachinesCreate, OperationId::AppsCreate];

/// The creates the capacity fault applies to.
const CAPACITY_CREATES: [OperationId; 2] =
    [OperationId::MachinesCreate, OperationId::VolumesCreate];

/// The error a create answers when the ambiguous-create fault fires.
fn ambiguous_create(code: u16) -> Reply {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::REQUEST_TIMEOUT);
    let (code_name, message) = if code == 408 {
        (
            "deadline_exceeded",
            "deadline exceeded while waiting for the create to finish",
        )
    } else {
        (
            "unknown",
            "injected fault: upstream error after the create took effect",
        )
    };
    ApiError::new(status, code_name, message).into_reply()
}

/// Turns a reply into the response: body, content type, request id; and logs the request.
pub(crate) fn finish(
    emu: &Emulator,
    op: Option<&'static Operation>,
    head: &Parts,
    reply: Reply,
    fault: Option<FaultKind>,
    arrived_ms: u64,
) -> Response {
    let request_id = emu.request_ids.next(arrived_ms);
    let (status, body) = match reply.body.encoded() {
        Ok(body) => (reply.status, body),
        Err(e) => {
            let error = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown",
                format!("could not encode the response: {e}"),
            );
            let status = error.http;
            match error.into_reply().body.encoded() {
                Ok(body) => (status, body),
                Err(_) => (
                    status,
                    WireBody {
                        content_type: None,
                        bytes: Vec::new(),
                    },
                ),
            }
        }
    };
    let mut resp = Response::new(Body::from(body.bytes));
    if let Some(content_type) = body.content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    *resp.status_mut() = status;
    for (name, value) in reply.headers {
        resp.headers_mut().insert(name, value);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    let logged = Logged {
        status: status.as_u16(),
        request_id,
        fault,
        arrived_ms,
    };
    emu.log.record(op, head, logged);
    resp
}
