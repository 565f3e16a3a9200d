//! Machines and volumes across all apps of an organization, as streams that follow pagination.

use fly_machines_api::OperationId;
use std::future::Future;

use futures::Stream;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::{Client, Result, types, validate};

impl Client {
    /// One organization by slug.
    pub fn org(&self, slug: impl Into<String>) -> Org {
        Org {
            client: self.clone(),
            slug: slug.into(),
        }
    }
}

/// An organization.
#[derive(Debug, Clone)]
pub struct Org {
    client: Client,
    slug: String,
}

/// Filters for the organization listings.
#[derive(Debug, Clone, Default, bon::Builder)]
#[builder(on(String, into))]
pub struct OrgListing {
    /// Include destroyed machines or volumes.
    pub include_deleted: Option<bool>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Leave details out.
    pub summary: Option<bool>,
    /// Only items updated after this time (RFC 3339).
    pub updated_after: Option<String>,
    /// Page size.
    pub page_size: Option<u32>,
}

/// Where a paged listing stands.
enum Page {
    Start,
    Next(String),
    Done,
}

/// Turns a page fetcher (cursor in; items and next cursor out) into a stream of items.
fn paginate<'a, T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T>> + Send + 'a
where
    T: Send + 'a,
    F: Fn(Option<String>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>> + Send + 'a,
{
    stream::try_unfold((Page::Start, fetch), |(page, fetch)| async move {
        let cursor = match page {
            Page::Done => return Ok::<_, crate::Error>(None),
            Page::Start => None,
            Page::Next(c) => Some(c),
        };
        let (items, next) = fetch(cursor.clone()).await?;
        let next = next_page(cursor.as_deref(), next);
        Ok(Some((
            stream::iter(items.into_iter().map(Ok)),
            (next, fetch),
        )))
    })
    .try_flatten()
}

impl Org {
    /// The slug.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// Every machine of the organization, page after page.
    pub fn machines(
        &self,
        filter: OrgListing,
    ) -> impl Stream<Item = Result<types::OrgMachine>> + Send + '_ {
        paginate(move |cursor| {
            let filter = filter.clone();
            async move {
                validate::key("organization slug", &self.slug)?;
                let r = self
                    .client
                    .call(OperationId::MachinesOrgList, |raw| {
                        raw.machines_org_list(
                            &self.slug,
                            cursor.as_deref(),
                            filter.include_deleted,
                            filter.page_size.map(i64::from),
                            filter.region.as_deref(),
                            filter.state.as_deref(),
                            filter.summary,
                            filter.updated_after.as_deref(),
                        )
                    })
                    .await?
                    .into_inner();
                Ok((r.machines.unwrap_or_default(), r.next_cursor))
            }
        })
        .boxed()
    }

    /// Every volume of the organization, page after page.
    pub fn volumes(
        &self,
        filter: OrgListing,
    ) -> impl Stream<Item = Result<types::OrgVolume>> + Send + '_ {
        paginate(move |cursor| {
            let filter = filter.clone();
            async move {
                validate::key("organization slug", &self.slug)?;
                let r = self
                    .client
                    .call(OperationId::VolumesOrgList, |raw| {
                        raw.volumes_org_list(
                            &self.slug,
                            cursor.as_deref(),
                            filter.include_deleted,
                            filter.page_size.map(i64::from),
                            filter.region.as_deref(),
                            filter.state.as_deref(),
                            filter.summary,
                            filter.updated_after.as_deref(),
                        )
                    })
                    .await?
                    .into_inner();
                Ok((r.volumes.unwrap_or_default(), r.next_cursor))
            }
        })
        .boxed()
    }
}

/// The next page, stopping on an empty cursor or one that repeats (a server bug must not loop).
fn next_page(current: Option<&str>, next: Option<String>) -> Page {
    match next {
        Some(c) if !c.is_empty() && Some(c.as_str()) != current => Page::Next(c),
        _ => Page::Done,
    }
}
