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
        Some(length) => failing(
            response,
            BodyTooLarge {
                limit,
                size: length,
            },
        ),
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

/// `response` with its whole body already read (at most `limit` bytes), so that a connection
/// lost mid-body fails here, while the call can still be sent again, rather than in the decoder
/// after the call has ended. `Err` is that transport failure. An answer past the limit, or a
/// success the decode budget refuses (`check`), comes back with a body that fails with the
/// reason, as [`bound`] gives it.
///
/// Costs a handful of allocations over passing the answer on: the body's bytes are kept as
/// they came (one piece, as a small answer arrives, is not copied) and the answer's head is
/// moved, not cloned.
pub(crate) async fn read_whole(
    mut response: reqwest::Response,
    limit: u64,
    check: Option<DecodeCheck>,
) -> reqwest::Result<reqwest::Response> {
    if let Some(length) = response.content_length().filter(|length| *length > limit) {
        let too_large = BodyTooLarge {
            limit,
            size: length,
        };
        return Ok(failing(response, too_large));
    }
    let mut body = Pieces::default();
    while let Some(chunk) = response.chunk().await? {
        let read = body.len().saturating_add(chunk.len() as u64);
        if read > limit {
            return Ok(failing(response, BodyTooLarge { limit, size: read }));
        }
        body.push(chunk);
    }
    let body = body.into_bytes();
    let budget = limit.saturating_mul(DECODE_BUDGET_FACTOR);
    if let Some(check) = check
        && response.status().is_success()
        && (body.len() as u64).saturating_mul(WORST_GROWTH) > budget
        && let Err(charged) = check(&body, budget)
    {
        let too_large = BodyTooLarge {
            limit: budget,
            size: charged,
        };
        return Ok(failing(response, too_large));
    }
    Ok(with_body(response, body))
}

/// A body read piece by piece: the first piece as it came, later ones copied together.
#[derive(Default)]
struct Pieces {
    first: bytes::Bytes,
    rest: Vec<u8>,
}

impl Pieces {
    fn len(&self) -> u64 {
        (self.first.len() as u64).saturating_add(self.rest.len() as u64)
    }

    fn push(&mut self, chunk: bytes::Bytes) {
        if self.first.is_empty() && self.rest.is_empty() {
            self.first = chunk;
            return;
        }
        if self.rest.is_empty() {
            self.rest
                .extend_from_slice(&std::mem::take(&mut self.first));
        }
        self.rest.extend_from_slice(&chunk);
    }

    fn into_bytes(self) -> bytes::Bytes {
        if self.rest.is_empty() {
            self.first
        } else {
            bytes::Bytes::from(self.rest)
        }
    }
}

/// The same answer with `body` in memory: status, version, headers and extensions are moved
/// over (the URL joins the answer's own extensions rather than a new map), only the URL is
/// copied.
fn with_body(mut response: reqwest::Response, body: bytes::Bytes) -> reqwest::Response {
    let mut builder = http::Response::builder();
    if let Some(extensions) = builder.extensions_mut() {
        *extensions = std::mem::take(response.extensions_mut());
    }
    let built = builder
        .url(response.url().clone())
        .body(reqwest::Body::from(body));
    let Ok(mut rebuilt) = built else {
        // Unreachable: the builder was given nothing that can be invalid.
        return response;
    };
    *rebuilt.status_mut() = response.status();
    *rebuilt.version_mut() = response.version();
    *rebuilt.headers_mut() = std::mem::take(response.headers_mut());
    reqwest::Response::from(rebuilt)
}

/// The same answer (status, headers, URL) with a body that fails with `error` when read.
fn failing(response: reqwest::Response, error: BodyTooLarge) -> reqwest::Response {
    replace_body(response, move |_| {
        futures::stream::once(async move { Err::<bytes::Bytes, BoxError>(Box::new(error)) }).boxed()
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
