//! Following Fly's cursors: one stream of items out of pages, and never a loop.
//!
//! Fly pages apps with `next_cursor` in the body, and machines and volumes with the
//! `fly-next-cursor` response header; their page size is a hint, so a page may be short or even
//! empty while more remain. The listing therefore ends only where the server gives no cursor. A
//! server that hands back a cursor it already gave, or pages past [`DEFAULT_MAX_PAGES`] (or the
//! listing's own `.max_pages(n)`), is refused with [`PagingError`] instead of being followed
//! forever, and a cursor the server refuses (Fly's cursors expire 30 minutes after the first
//! page) is an error that says so. A server without pagination answers everything on the first
//! page with no cursor, which ends the listing as before.

use std::collections::HashSet;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};

use crate::{ApiError, Error, Result};
use fly_machines_api::OperationId;

/// The most pages one listing follows unless told otherwise: a million machines at Fly's
/// largest machine page (1,000), far beyond any fleet, yet a bound on a server that never ends.
pub const DEFAULT_MAX_PAGES: u32 = 10_000;

/// The response header that carries the next cursor of a machines or volumes page.
pub const NEXT_CURSOR_HEADER: &str = "fly-next-cursor";

/// `send()` and `IntoFuture` for a listing builder finished by `stream()`: both read every page
/// into a `Vec` of `$item`. `$state` is the builder's state module (bon names it after the
/// builder), `$what` the plural its doc speaks of.
macro_rules! read_all_pages {
    ($builder:ident, $state:ident, $item:ty, $what:literal) => {
        impl<S: $state::IsComplete> $builder<S> {
            #[doc = concat!("Reads every page and returns all ", $what, ": the same as awaiting the builder.")]
            pub fn send(self) -> futures::future::BoxFuture<'static, $crate::Result<Vec<$item>>> {
                std::future::IntoFuture::into_future(self.stream())
            }
        }

        impl<S: $state::IsComplete> std::future::IntoFuture for $builder<S> {
            type Output = $crate::Result<Vec<$item>>;
            type IntoFuture = futures::future::BoxFuture<'static, $crate::Result<Vec<$item>>>;

            fn into_future(self) -> Self::IntoFuture {
                self.send()
            }
        }
    };
}
pub(crate) use read_all_pages;

/// Why a paged listing stopped before its end.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PagingError {
    /// The server handed back a cursor it had already given in this listing: following it
    /// would read the same pages again, without end.
    #[error("{operation}: the server repeated a cursor on page {page}; refusing to page in a loop")]
    RepeatedCursor {
        /// The operation.
        operation: OperationId,
        /// The page (counted from 1) whose answer repeated the cursor.
        page: u32,
    },
    /// The server kept handing out cursors past the listing's bound on pages.
    #[error(
        "{operation}: still more pages after {pages} pages; stopped at the bound (raise it with \
         .max_pages(n) if the listing is really that long)"
    )]
    TooManyPages {
        /// The operation.
        operation: OperationId,
        /// The bound that was reached.
        pages: u32,
    },
    /// The server refused a cursor (HTTP 400 on a later page): most likely it expired (Fly's
    /// cursors last 30 minutes from the first page). Start the listing again.
    #[error(
        "{operation}: the server refused the cursor of page {page} (expired? Fly's cursors last \
         30 minutes from the first page; start the listing again): {answer}"
    )]
    CursorRefused {
        /// The operation.
        operation: OperationId,
        /// The page (counted from 1) whose cursor was refused.
        page: u32,
        /// The server's answer.
        answer: Box<ApiError>,
    },
}

impl PagingError {
    /// The listing's operation.
    pub fn operation(&self) -> OperationId {
        match self {
            PagingError::RepeatedCursor { operation, .. }
            | PagingError::TooManyPages { operation, .. }
            | PagingError::CursorRefused { operation, .. } => *operation,
        }
    }
}

/// One page as a fetcher returns it: its items and the cursor of the next page, if any.
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next: Option<String>,
}

/// The request for one page: the cursor to send (none on the first page).
#[derive(Debug, Clone)]
pub(crate) struct PageRequest {
    pub(crate) cursor: Option<String>,
}

/// Where a listing stands between two pages.
struct Progress<F> {
    fetch: F,
    operation: OperationId,
    max_pages: u32,
    cursor: Option<String>,
    seen: HashSet<String>,
    pages: u32,
    done: bool,
}

/// Turns a page fetcher into a stream of items that follows cursors with the guards above.
pub(crate) fn paginate<T, F, Fut>(
    operation: OperationId,
    max_pages: Option<u32>,
    fetch: F,
) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    F: Fn(PageRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>>> + Send + 'static,
{
    let start = Progress {
        fetch,
        operation,
        max_pages: max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1),
        cursor: None,
        seen: HashSet::new(),
        pages: 0,
        done: false,
    };
    stream::try_unfold(start, |mut at| async move {
        if at.done {
            return Ok::<_, Error>(None);
        }
        if at.pages >= at.max_pages {
            return Err(PagingError::TooManyPages {
                operation: at.operation,
                pages: at.pages,
            }
            .into());
        }
        at.pages = at.pages.saturating_add(1);
        let request = PageRequest {
            cursor: at.cursor.clone(),
        };
        let sent_cursor = request.cursor.is_some();
        let page = match (at.fetch)(request).await {
            Ok(page) => page,
            Err(Error::Api(e)) if sent_cursor && e.status == 400 => {
                return Err(PagingError::CursorRefused {
                    operation: at.operation,
                    page: at.pages,
                    answer: e,
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        match page.next.filter(|c| !c.is_empty()) {
            None => at.done = true,
            Some(next) => {
                if !at.seen.insert(next.clone()) {
                    return Err(PagingError::RepeatedCursor {
                        operation: at.operation,
                        page: at.pages,
                    }
                    .into());
                }
                at.cursor = Some(next);
            }
        }
        Ok(Some((stream::iter(page.items.into_iter().map(Ok)), at)))
    })
    .try_flatten()
    .boxed()
}

/// A listing that follows cursors: a [`Stream`] of items, fetched page by page as it is read,
/// or awaited whole as a `Vec` (`app.machines().list().await?`).
#[must_use = "a listing does nothing until it is read or awaited"]
pub struct Paged<T> {
    inner: BoxStream<'static, Result<T>>,
}

impl<T: Send + 'static> Paged<T> {
    pub(crate) fn new(inner: BoxStream<'static, Result<T>>) -> Paged<T> {
        Paged { inner }
    }

    /// Reads every page and returns all items in order.
    pub async fn collect_all(self) -> Result<Vec<T>> {
        self.inner.try_collect().await
    }
}

impl<T> std::fmt::Debug for Paged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Paged")
    }
}

impl<T> Stream for Paged<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T: Send + 'static> IntoFuture for Paged<T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'static, Result<Vec<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.collect_all())
    }
}

/// The `fly-next-cursor` header of an answer, when it has a usable one.
pub(crate) fn header_cursor(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(NEXT_CURSOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// A page size as the API takes it: from 1 to `max` (Fly's bound for the listing).
pub(crate) fn page_limit(what: &'static str, size: Option<u32>, max: u32) -> Result<Option<i64>> {
    match size {
        Some(n) if n == 0 || n > max => Err(Error::invalid_input(
            what,
            &n.to_string(),
            &format!("a page size from 1 to {max}"),
        )),
        other => Ok(other.map(i64::from)),
    }
}

/// A listing that fails at once with `error` (a bad input found before any request).
pub(crate) fn failed<T: Send + 'static>(error: Error) -> Paged<T> {
    Paged::new(stream::once(async move { Err(error) }).boxed())
}
