//! Machines and volumes across all apps of an organization, as streams that follow pagination.

use fly_machines_api::OperationId;
use std::future::Future;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};

use crate::{Client, MachineState, Result, VolumeState, types, validate};

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

/// The filters both organization listings take, as their builders collect them.
#[derive(Debug, Clone, Default)]
struct Filter {
    include_deleted: bool,
    region: Option<String>,
    state: Option<String>,
    summary: bool,
    updated_after: Option<String>,
    page_size: Option<u32>,
}

impl Filter {
    fn include_deleted(&self) -> Option<bool> {
        self.include_deleted.then_some(true)
    }

    fn summary(&self) -> Option<bool> {
        self.summary.then_some(true)
    }
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

    /// Pages of one listing, fetched as the stream is read.
    fn listing<T, F>(&self, filter: Filter, fetch: F) -> BoxStream<'static, Result<T>>
    where
        T: Send + 'static,
        F: Fn(Org, Filter, Option<String>) -> BoxFuture<'static, Result<(Vec<T>, Option<String>)>>
            + Send
            + 'static,
    {
        let org = self.clone();
        paginate(move |cursor| {
            let slug_ok = validate::key("organization slug", &org.slug);
            let page = fetch(org.clone(), filter.clone(), cursor);
            async move {
                slug_ok?;
                page.await
            }
        })
        .boxed()
    }
}

#[bon::bon]
impl Org {
    /// Every machine of the organization, page after page, as a stream:
    /// `org.machines().region("iad").state(MachineState::Started).stream()`.
    #[builder(finish_fn = stream, on(String, into))]
    pub fn machines(
        &self,
        /// Destroyed machines too.
        #[builder(default, with = || true)]
        include_deleted: bool,
        /// Only this region.
        region: Option<String>,
        /// Only machines in this state.
        state: Option<MachineState>,
        /// Leave each machine's config out.
        #[builder(default, with = || true)]
        summary: bool,
        /// Only machines updated after this time (RFC 3339, as Fly writes it).
        updated_after: Option<String>,
        /// How many machines each page holds.
        page_size: Option<u32>,
    ) -> BoxStream<'static, Result<types::OrgMachine>> {
        let filter = Filter {
            include_deleted,
            region,
            state: state.map(|s| s.as_str().to_string()),
            summary,
            updated_after,
            page_size,
        };
        self.listing(filter, |org, filter, cursor| {
            async move {
                let r = org
                    .client
                    .call(OperationId::MachinesOrgList, |raw| {
                        raw.machines_org_list(
                            &org.slug,
                            cursor.as_deref(),
                            filter.include_deleted(),
                            filter.page_size.map(i64::from),
                            filter.region.as_deref(),
                            filter.state.as_deref(),
                            filter.summary(),
                            filter.updated_after.as_deref(),
                        )
                    })
                    .await?
                    .into_inner();
                Ok((r.machines.unwrap_or_default(), r.next_cursor))
            }
            .boxed()
        })
    }

    /// Every volume of the organization, page after page, as a stream:
    /// `org.volumes().region("iad").stream()`.
    #[builder(finish_fn = stream, on(String, into))]
    pub fn volumes(
        &self,
        /// Destroyed volumes too.
        #[builder(default, with = || true)]
        include_deleted: bool,
        /// Only this region.
        region: Option<String>,
        /// Only volumes in this state.
        state: Option<VolumeState>,
        /// Leave details out.
        #[builder(default, with = || true)]
        summary: bool,
        /// Only volumes updated after this time (RFC 3339, as Fly writes it).
        updated_after: Option<String>,
        /// How many volumes each page holds.
        page_size: Option<u32>,
    ) -> BoxStream<'static, Result<types::OrgVolume>> {
        let filter = Filter {
            include_deleted,
            region,
            state: state.map(|s| s.as_str().to_string()),
            summary,
            updated_after,
            page_size,
        };
        self.listing(filter, |org, filter, cursor| {
            async move {
                let r = org
                    .client
                    .call(OperationId::VolumesOrgList, |raw| {
                        raw.volumes_org_list(
                            &org.slug,
                            cursor.as_deref(),
                            filter.include_deleted(),
                            filter.page_size.map(i64::from),
                            filter.region.as_deref(),
                            filter.state.as_deref(),
                            filter.summary(),
                            filter.updated_after.as_deref(),
                        )
                    })
                    .await?
                    .into_inner();
                Ok((r.volumes.unwrap_or_default(), r.next_cursor))
            }
            .boxed()
        })
    }
}

/// The next page, stopping on an empty cursor or one that repeats (a server bug must not loop).
fn next_page(current: Option<&str>, next: Option<String>) -> Page {
    match next {
        Some(c) if !c.is_empty() && Some(c.as_str()) != current => Page::Next(c),
        _ => Page::Done,
    }
}
