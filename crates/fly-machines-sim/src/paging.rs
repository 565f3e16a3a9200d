//! Cursor pagination as Fly's 2026-12 API does it.
//!
//! A listing with `limit` answers one page and a cursor for the next (in the body for apps, in
//! the `fly-next-cursor` header for machines and volumes); without `limit` it answers
//! everything, as before.
//!
//! An unpaged machine listing is read [`LIST_SLICE`] machines per hold of the world lock and
//! encoded with the lock released, so other requests are served while a large one is written
//! (a machine changed meanwhile shows as it was when its slice was read). Its size is not
//! capped, as Fly caps none: at about 1 KB a machine, 100,000 machines make roughly 100 MB,
//! past the 32 MiB a `fly_machines::Client` accepts by default. That client never asks for one:
//! its listings always page (`limit=1000`). A raw unpaged call past a client's limit fails
//! there with a size error; nothing is cut short. A cursor is an opaque token naming where the next page starts; it
//! expires [`CURSOR_TTL_MS`] after the listing's first page, on the emulator's clock, and an
//! expired or unknown cursor is refused with 400. With [`SimBuilder::short_pages`] the machines
//! and volumes pages, whose limit Fly calls advisory, come back shorter than asked and now and
//! then empty while more remain, as Fly's may.
//!
//! [`SimBuilder::short_pages`]: crate::SimBuilder::short_pages

use std::collections::HashMap;

use axum::http::{HeaderName, HeaderValue};
use rand::rngs::StdRng;

use crate::errors::ApiError;
use crate::ids::hex_id;
use crate::reply::Reply;
use crate::request::ApiRequest;

/// How long a cursor lasts, from the first page of its listing (30 minutes, as Fly's).
pub(crate) const CURSOR_TTL_MS: u64 = 30 * 60 * 1000;

/// How many machines an unpaged listing (one without `limit`, which Fly answers in full) reads
/// under one hold of the world lock; it lets other requests through between slices.
pub const LIST_SLICE: usize = 1000;

/// Fly's largest machines and volumes page.
pub(crate) const MAX_LIMIT_ADVISORY: usize = 1000;

/// Fly's largest apps page.
pub(crate) const MAX_LIMIT_APPS: usize = 5000;

/// The response header carrying the next cursor of a machines or volumes page.
pub(crate) const NEXT_CURSOR_HEADER: &str = "fly-next-cursor";

/// `reply` with the `fly-next-cursor` header when there is a next page.
pub(crate) fn with_next_cursor(mut reply: Reply, next: Option<String>) -> Reply {
    if let Some(value) = next.and_then(|c| HeaderValue::from_str(&c).ok()) {
        reply
            .headers
            .push((HeaderName::from_static(NEXT_CURSOR_HEADER), value));
    }
    reply
}

/// Most cursors remembered at once; past it the oldest listings' cursors are forgotten (and
/// answered 400 like expired ones), so a client cannot grow the emulator's memory without bound.
const MAX_CURSORS: usize = 10_000;

/// Where a listing continues.
#[derive(Debug, Clone)]
struct Cursor {
    /// Which listing it belongs to (`machines:<app>` ...): a cursor is good for that one only.
    scope: String,
    /// The sort key of the last item already handed out.
    after: String,
    /// When the listing's first page was asked for.
    first_page_ms: u64,
    /// Pages handed out so far in this listing.
    pages: u64,
}

/// The cursors handed out and not yet expired.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    live: HashMap<String, Cursor>,
}

/// One page request, read from the query.
pub(crate) struct PageQuery {
    limit: usize,
    after: Option<String>,
    first_page_ms: u64,
    pages: u64,
}

/// How the page sizes behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageSizes {
    /// Exactly `limit` items while enough remain (apps, whose limit is not advisory).
    Exact,
    /// Fly's advisory limit; with `short` the pages are shorter than asked and every third is
    /// empty while more remain.
    Advisory {
        /// Whether to force short pages (the emulator's knob).
        short: bool,
    },
}

impl Cursors {
    /// Reads `limit` (1 to `max`) and `cursor` from the query; `None` when the request asks
    /// for no paging (no limit), as servers before pagination answered.
    pub(crate) fn read(
        &mut self,
        req: &ApiRequest,
        scope: &str,
        max: usize,
        now: u64,
    ) -> Result<Option<PageQuery>, ApiError> {
        self.live
            .retain(|_, c| now < c.first_page_ms.saturating_add(CURSOR_TTL_MS));
        let limit = match req.query_param("limit").filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Some(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid limit {l:?}: must be between 1 and {max}"
                    )));
                }
            },
        };
        let cursor = req.query_param("cursor").filter(|c| !c.is_empty());
        match (limit, cursor) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(ApiError::bad_request("cursor requires limit")),
            (Some(limit), None) => Ok(Some(PageQuery {
                limit,
                after: None,
                first_page_ms: now,
                pages: 0,
            })),
            (Some(limit), Some(token)) => match self.live.get(token) {
                Some(c) if c.scope == scope => Ok(Some(PageQuery {
                    limit,
                    after: Some(c.after.clone()),
                    first_page_ms: c.first_page_ms,
                    pages: c.pages,
                })),
                _ => Err(ApiError::bad_request(format!(
                    "invalid or expired cursor {token:?}: cursors expire 30 minutes after the \
                     first page"
                ))),
            },
        }
    }

    /// One page of `items` (sorted by their key) after the query's position, and the cursor of
    /// the next page when more remain.
    pub(crate) fn page<T>(
        &mut self,
        items: Vec<(String, T)>,
        query: &PageQuery,
        scope: &str,
        sizes: PageSizes,
        rng: &mut StdRng,
    ) -> (Vec<T>, Option<String>) {
        let page_number = query.pages.saturating_add(1);
        let wanted = match sizes {
            PageSizes::Exact | PageSizes::Advisory { short: false } => query.limit,
            PageSizes::Advisory { short: true } if page_number.is_multiple_of(3) => 0,
            PageSizes::Advisory { short: true } => (query.limit / 2).max(1),
        };
        let mut rest = items
            .into_iter()
            .filter(|(key, _)| query.after.as_ref().is_none_or(|a| key > a))
            .peekable();
        let mut out = Vec::new();
        let mut last = query.after.clone();
        while out.len() < wanted {
            match rest.next() {
                Some((key, item)) => {
                    last = Some(key);
                    out.push(item);
                }
                None => break,
            }
        }
        if rest.peek().is_none() {
            return (out, None);
        }
        if self.live.len() >= MAX_CURSORS {
            let mut oldest: Vec<(u64, String)> = self
                .live
                .iter()
                .map(|(k, c)| (c.first_page_ms, k.clone()))
                .collect();
            oldest.sort();
            for (_, k) in oldest.into_iter().take(MAX_CURSORS / 2) {
                self.live.remove(&k);
            }
        }
        let token = hex_id(32, rng);
        self.live.insert(
            token.clone(),
            Cursor {
                scope: scope.to_string(),
                after: last.unwrap_or_default(),
                first_page_ms: query.first_page_ms,
                pages: page_number,
            },
        );
        (out, Some(token))
    }
}
