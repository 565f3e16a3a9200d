//! A ceiling on response bodies, so one answer cannot take unbounded memory.
//!
//! The generated client reads a whole body before decoding it. A body that announces a length
//! above the limit is refused before any of it is read; a body without a length (chunked) is
//! read through a counter that stops at the limit. Either way reading fails with
//! [`BodyTooLarge`], which [`crate::Error`] turns into `Error::ResponseTooLarge`.
//!
//! A success whose body could decode into more than it weighs (a list) is also read whole here
//! and checked by [`crate::decode_budget`] before the generated client decodes it: what it decodes
//! into is held to [`DECODE_BUDGET_FACTOR`] times the byte limit.

use futures::StreamExt;
use reqwest::ResponseBuilderExt;

use crate::decode_budget::{DecodeCheck, WORST_GROWTH};

/// Default for `ClientBuilder::max_response_bytes`: 32 MiB, far above any Machines API answer
/// (a list of a few thousand machines is a few MB).
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// A response body was larger than the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response body is larger than the limit of {limit} bytes (at least {size} bytes)")]
pub(crate) struct BodyTooLarge {
    /// The limit in force.
    pub limit: u64,
    /// The announced length, or how much had been read when reading stopped.
    pub size: u64,
}

/// What a success may decode into, as a multiple of the byte limit (counted as the sizes of its
/// list elements and map entries; see [`crate::decode_budget`]). Twice the bytes leaves room for
/// answers whose values are larger than their JSON, and keeps peak memory under eight times the
/// byte limit whatever the body holds.
pub(crate) const DECODE_BUDGET_FACTOR: u64 = 2;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `response` with its body held to `limit` bytes. A response that announces a length within
/// the limit is passed on untouched (the HTTP layer never reads past an announced length), so
/// the common case costs nothing.
///
/// With `check`, a success that could decode into more than the decode budget is read whole
/// and checked first; one too small to (most single resources) is passed on untouched.
pub(crate) fn bound(
    response: reqwest::Response,
    limit: u64,
    check: Option<DecodeCheck>,
) -> reqwest::Response {
    let budget = limit.saturating_mul(DECODE_BUDGET_FACTOR);
    if let Some(check) = check
        && response.status().is_success()
        && response
            .content_length()
            .is_none_or(|length| length.saturating_mul(WORST_GROWTH) > budget)
    {
        return read_and_check(response, limit, budget, check);
    }
    match response.content_length() {
        Some(length) if length <= limit => response,
        Some(length) => replace_body(response, |_| {
            futures::stream::once(async move {
                Err::<bytes::Bytes, BoxError>(Box::new(BodyTooLarge {
                    limit,
                    size: length,
                }))
            })
            .boxed()
        }),
        None => replace_body(response, |response| {
            let mut read: u64 = 0;
            response
                .bytes_stream()
                .map(move |chunk| {
                    let chunk = chunk.map_err(BoxError::from)?;
                    read = read.saturating_add(chunk.len() as u64);
                    if read > limit {
                        return Err(BoxError::from(BodyTooLarge { limit, size: read }));
                    }
                    Ok(chunk)
                })
                .boxed()
        }),
    }
}

/// `response` with its body read whole (at most `limit` bytes) and checked against the decode
/// budget before it is handed on in one piece.
fn read_and_check(
    response: reqwest::Response,
    limit: u64,
    budget: u64,
    check: DecodeCheck,
) -> reqwest::Response {
    replace_body(response, move |response| {
        futures::stream::once(async move {
            let announced = response.content_length();
            if let Some(length) = announced.filter(|length| *length > limit) {
                return Err(BoxError::from(BodyTooLarge {
                    limit,
                    size: length,
                }));
            }
            let capacity = announced.map_or(0, |length| usize::try_from(length).unwrap_or(0));
            let mut body = Vec::with_capacity(capacity);
            let mut chunks = response.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(BoxError::from)?;
                let read = (body.len() as u64).saturating_add(chunk.len() as u64);
                if read > limit {
                    return Err(BoxError::from(BodyTooLarge { limit, size: read }));
                }
                body.extend_from_slice(&chunk);
            }
            if let Err(charged) = check(&body, budget) {
                return Err(BoxError::from(BodyTooLarge {
                    limit: budget,
                    size: charged,
                }));
            }
            Ok(bytes::Bytes::from(body))
        })
        .boxed()
    })
}

/// The same answer (status, headers, URL) with the body `body` makes from the original.
fn replace_body(
    response: reqwest::Response,
    body: impl FnOnce(
        reqwest::Response,
    ) -> futures::stream::BoxStream<'static, Result<bytes::Bytes, BoxError>>,
) -> reqwest::Response {
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version())
        .url(response.url().clone());
    if let Some(headers) = builder.headers_mut() {
        *headers = response.headers().clone();
    }
    let stream = body(response);
    match builder.body(reqwest::Body::wrap_stream(stream)) {
        Ok(rebuilt) => reqwest::Response::from(rebuilt),
        // Unreachable: every part came from a valid response.
        Err(_) => reqwest::Response::from(http::Response::new(reqwest::Body::from(Vec::new()))),
    }
}

/// The [`BodyTooLarge`] somewhere in `error`'s chain of sources, if any.
pub(crate) fn too_large(error: &(dyn std::error::Error + 'static)) -> Option<BodyTooLarge> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<BodyTooLarge>() {
            return Some(*found);
        }
        current = e.source();
    }
    None
}
