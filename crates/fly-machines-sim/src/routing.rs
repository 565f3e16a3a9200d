//! Routing: one route per operation of the table, and Fly-shaped answers for the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use fly_machines_api::OPERATIONS;

use crate::emulator::Emulator;
use crate::errors::ApiError;
use crate::pipeline::{finish, handle};

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
pub(crate) fn router(emulator: Arc<Emulator>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Arc<Emulator>>> = BTreeMap::new();
    for op in OPERATIONS.iter() {
        let handler =
            move |State(emulator): State<Arc<Emulator>>, req: Request| handle(emulator, op, req);
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
        .with_state(emulator)
}

async fn unknown_route(State(emulator): State<Arc<Emulator>>, req: Request) -> Response {
    let (head, _) = req.into_parts();
    let reply = ApiError::not_found(format!("no such endpoint: {}", head.uri.path())).into_reply();
    let now = emulator.clock.now_ms();
    finish(&emulator, None, &head, reply, None, now)
}

async fn wrong_method(State(emulator): State<Arc<Emulator>>, req: Request) -> Response {
    let (head, _) = req.into_parts();
    let reply = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", head.method, head.uri.path()),
    )
    .into_reply();
    let now = emulator.clock.now_ms();
    finish(&emulator, None, &head, reply, None, now)
}
