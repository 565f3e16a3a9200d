//! Platform facts: regions and placement advice.

use crate::{Client, Error, Result, types, validate};
use fly_machines_api::OperationId;

impl Client {
    /// Regions and placement.
    pub fn platform(&self) -> Platform {
        Platform {
            client: self.clone(),
        }
    }
}

/// Platform-wide queries.
#[derive(Debug, Clone)]
pub struct Platform {
    client: Client,
}

#[bon::bon]
impl Platform {
    /// Fly's regions and whether they take new machines.
    pub fn regions(&self) -> PlatformRegionsBuilder {
        self.clone().regions_builder()
    }

    #[builder(
        builder_type(name = PlatformRegionsBuilder, vis = "pub"),
        start_fn(name = regions_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_regions(self) -> Result<types::RegionResponse> {
        answer!(self.client, OperationId::PlatformRegionsGet, |raw| {
            raw.platform_regions_get()
        })
    }

    /// Where machines could go for organization `org_slug`:
    /// `platform.placements("acme").guest(Guest::shared(2)?).count(3).regions(["iad", "ord"]).await`.
    pub fn placements(&self, org_slug: impl Into<String>) -> PlatformPlacementsBuilder {
        self.clone().placements_builder(org_slug)
    }

    #[builder(
        builder_type(name = PlatformPlacementsBuilder, vis = "pub"),
        start_fn(name = placements_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_placements(
        self,
        #[builder(start_fn)] org_slug: String,
        /// The size of each machine.
        #[builder(into)]
        guest: Option<types::MachineGuest>,
        /// How many machines to place; without it the answer gives the most each region can
        /// take.
        count: Option<u32>,
        /// Regions or region aliases to consider, in order of preference; without them the
        /// region nearest the API is preferred and any other accepted.
        #[builder(with = |regions: impl IntoIterator<Item = impl Into<String>>| {
            regions.into_iter().map(Into::into).collect()
        })]
        regions: Option<Vec<String>>,
        /// The volume each machine will mount, by name.
        volume_name: Option<String>,
        /// The size of the new volume each machine needs, in bytes.
        volume_size_bytes: Option<u64>,
        /// How much each placement concern counts (Fly's names and weights).
        weights: Option<types::Weights>,
    ) -> Result<types::GetPlacementsResponse> {
        validate::key("organization slug", &org_slug)?;
        let volume_size_bytes = volume_size_bytes
            .map(|bytes| {
                i64::try_from(bytes).map_err(|_| {
                    Error::invalid_input(
                        "volume size",
                        &format!("{bytes} bytes"),
                        "at most i64::MAX bytes",
                    )
                })
            })
            .transpose()?;
        let request = types::GetPlacementsRequest {
            compute: guest,
            count: count.map(i64::from),
            org_slug,
            region: regions.map(|r| r.join(",")),
            volume_name,
            volume_size_bytes,
            weights,
        };
        answer!(self.client, OperationId::PlatformPlacementsPost, |raw| {
            raw.platform_placements_post(&request)
        })
    }
}
