//! Listing an app's machines, page by page.

use fly_machines_api::OperationId;

use super::Machines;
use crate::context::CallContext;
use crate::paging::{self, Paged};
use crate::resources::machine_snapshot::MachineSnapshot;
use crate::{MachineState, validate};

/// Fly's largest machine page.
const MAX_MACHINE_PAGE: u32 = 1000;

#[bon::bon]
impl Machines {
    /// Lists the app's machines, following Fly's cursors page by page:
    /// `app.machines().list().metadata("role", "web").state(MachineState::Started).await` for
    /// a `Vec`, or `.page_size(500).stream()` for a [`Stream`](futures::Stream) read as it comes.
    ///
    /// Each filter is sent to Fly as a query parameter (`metadata.{key}=value` for metadata).
    /// Fly's page size is a hint (1 to 1,000): a short or empty page is not the end; the end is
    /// an answer without a `fly-next-cursor` header. A server that repeats a cursor or pages past
    /// `.max_pages(n)` (default [`DEFAULT_MAX_PAGES`](crate::paging::DEFAULT_MAX_PAGES)) is
    /// refused with [`PagingError`](crate::paging::PagingError), as is an expired cursor.
    pub fn list(&self) -> MachinesListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = MachinesListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = stream,
        on(String, into),
    )]
    fn run_list(
        self,
        /// Metadata pairs every listed machine must carry (`.metadata(key, value)`, repeatable).
        #[builder(field)]
        metadata: Vec<(String, String)>,
        /// Only machines in this region.
        region: Option<String>,
        /// Only machines in this state.
        #[builder(into)]
        state: Option<MachineState>,
        /// Include destroyed machines.
        #[builder(default, with = || true)]
        include_deleted: bool,
        /// Summaries without the full config.
        #[builder(default, with = || true)]
        summary: bool,
        /// Include each machine's current lease (owner, description, expiry; never its nonce),
        /// read with [`types::Machine::lease`].
        #[builder(default, with = || true)]
        include_leases: bool,
        /// Machines asked for per page (1 to 1,000; Fly may send fewer). Without it the first
        /// answer holds every machine, as servers without pagination answer anyway.
        page_size: Option<u32>,
        /// The most pages to follow before giving up with an error.
        max_pages: Option<u32>,
    ) -> Paged<MachineSnapshot> {
        let checked = validate::app_name(&self.app.name).and_then(|()| {
            metadata
                .iter()
                .try_for_each(|(k, _)| validate::metadata_key(k))?;
            paging::page_limit("machine page size", page_size, MAX_MACHINE_PAGE)
        });
        let limit = match checked {
            Ok(limit) => limit,
            Err(e) => return paging::failed(e),
        };
        let app = self.app.clone();
        let state = state.map(|s| s.as_str().to_string());
        Paged::new(paging::paginate(
            OperationId::MachinesList,
            max_pages,
            move |page: paging::PageRequest| {
                let app = app.clone();
                let mut ctx = CallContext::default();
                for (k, v) in &metadata {
                    ctx.extra_query.push((format!("metadata.{k}"), v.clone()));
                }
                let (region, state) = (region.clone(), state.clone());
                async move {
                    let r = app
                        .client
                        .call_with(OperationId::MachinesList, ctx, |raw| {
                            raw.machines_list(
                                &app.name,
                                page.cursor.as_deref(),
                                include_deleted.then_some(true),
                                include_leases.then_some(true),
                                limit,
                                region.as_deref(),
                                state.as_deref(),
                                summary.then_some(true),
                            )
                        })
                        .await?;
                    let next = paging::header_cursor(r.headers());
                    let items = r
                        .into_inner()
                        .into_iter()
                        .map(|m| MachineSnapshot::new(&app, m))
                        .collect();
                    Ok(paging::Page { items, next })
                }
            },
        ))
    }
}

impl<S: machines_list_builder::State> MachinesListBuilder<S> {
    /// Only machines whose metadata has `key` set to `value`; call again to add more pairs.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
}

crate::paging::read_all_pages!(
    MachinesListBuilder,
    machines_list_builder,
    MachineSnapshot,
    "machines"
);
