//! Machines and volumes across all apps of an organization, as streams that follow pagination.

use fly_machines_api::OperationId;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::BoxStream;
use std::sync::Arc;

use crate::{Client, MachineState, Result, VolumeState, paging, types, validate};

impl Client {
    /// One organization by slug.
    pub fn org(&self, slug: impl Into<String>) -> Org {
        Org {
            client: self.clone(),
            slug: Arc::from(slug.into()),
        }
    }
}

/// An organization.
#[derive(Debug, Clone)]
pub struct Org {
    client: Client,
    pub(crate) slug: Arc<str>,
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
    max_pages: Option<u32>,
}

impl Filter {
    fn include_deleted(&self) -> Option<bool> {
        self.include_deleted.then_some(true)
    }

    fn summary(&self) -> Option<bool> {
        self.summary.then_some(true)
    }
}

/// The fetch of one page of an organization listing. Machines and volumes take the same
/// filters, in the same order, and differ only in the operation, the raw call and the field
/// that holds the page's items.
macro_rules! org_page {
    ($operation:ident, $call:ident, $items:ident) => {
        |org: Org, filter: Filter, cursor: Option<String>| {
            async move {
                let page = org
                    .client
                    .call(OperationId::$operation, |raw| {
                        raw.$call(
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
                Ok((page.$items.unwrap_or_default(), page.next_cursor))
            }
            .boxed()
        }
    };
}

impl Org {
    /// The slug.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// Pages of one listing, fetched as the stream is read, with the guards of
    /// [`paging`](crate::paging) (a repeated cursor or endless paging is an error).
    fn listing<T, F>(
        &self,
        operation: OperationId,
        filter: Filter,
        fetch: F,
    ) -> BoxStream<'static, Result<T>>
    where
        T: Send + 'static,
        F: Fn(Org, Filter, Option<String>) -> BoxFuture<'static, Result<(Vec<T>, Option<String>)>>
            + Send
            + 'static,
    {
        let org = self.clone();
        let max_pages = filter.max_pages;
        paging::paginate(operation, max_pages, move |page: paging::PageRequest| {
            let slug_ok = validate::key("organization slug", &org.slug);
            let fetched = fetch(org.clone(), filter.clone(), page.cursor);
            async move {
                slug_ok?;
                let (items, next) = fetched.await?;
                Ok(paging::Page { items, next })
            }
        })
    }
}

#[bon::bon]
impl Org {
    /// Every machine of the organization, page after page, as a stream:
    /// `org.machines().region("iad").state(MachineState::Started).stream()`.
    pub fn machines(&self) -> OrgMachinesBuilder {
        self.clone().machines_builder()
    }

    #[builder(
        builder_type(name = OrgMachinesBuilder, vis = "pub"),
        start_fn(name = machines_builder, vis = ""),
        finish_fn = stream,
        on(String, into),
    )]
    fn run_machines(
        self,
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
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> BoxStream<'static, Result<types::OrgMachine>> {
        let filter = Filter {
            include_deleted,
            region,
            state: state.map(|s| s.as_str().to_string()),
            summary,
            updated_after,
            page_size,
            max_pages,
        };
        self.listing(
            OperationId::MachinesOrgList,
            filter,
            org_page!(MachinesOrgList, machines_org_list, machines),
        )
    }

    /// Every volume of the organization, page after page, as a stream:
    /// `org.volumes().region("iad").stream()`.
    pub fn volumes(&self) -> OrgVolumesBuilder {
        self.clone().volumes_builder()
    }

    #[builder(
        builder_type(name = OrgVolumesBuilder, vis = "pub"),
        start_fn(name = volumes_builder, vis = ""),
        finish_fn = stream,
        on(String, into),
    )]
    fn run_volumes(
        self,
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
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> BoxStream<'static, Result<types::OrgVolume>> {
        let filter = Filter {
            include_deleted,
            region,
            state: state.map(|s| s.as_str().to_string()),
            summary,
            updated_after,
            page_size,
            max_pages,
        };
        self.listing(
            OperationId::VolumesOrgList,
            filter,
            org_page!(VolumesOrgList, volumes_org_list, volumes),
        )
    }
}
