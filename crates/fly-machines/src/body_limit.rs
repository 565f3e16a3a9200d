//! A ceiling on response bodies, so one answer cannot take unbounded memory.
//!
//! The generated client reads a whole body before decoding it. A body that announces a length
//! above the limit is refused before any of it is read; a body without a length (chunked) is
//! read through a counter that stops at the limit. Either way reading fails with
//! [`BodyTooLarge`], which [`crate::Error`] turns into `Error::ResponseTooLarge`.

use futures::StreamExt;
use reqwest::ResponseBuilderExt;

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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `response` with its body held to `limit` bytes. A response that announces a length within
/// the limit is passed on untouched (the HTTP layer never reads past an announced length), so
/// the common case costs nothing.
pub(crate) fn bound(response: reqwest::Response, limit: u64) -> reqwest::Response {
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
