//! Platform facts: regions and placement advice.

use crate::{Client, Result, types};
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
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn regions(&self) -> Result<types::RegionResponse> {
        let r = self
            .client
            .call(OperationId::PlatformRegionsGet, |raw| {
                raw.platform_regions_get()
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Where machines of a given size could go.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn placements(
        &self,
        #[builder(start_fn)] request: types::GetPlacementsRequest,
    ) -> Result<types::GetPlacementsResponse> {
        let r = self
            .client
            .call(OperationId::PlatformPlacementsPost, |raw| {
                raw.platform_placements_post(&request)
            })
            .await?;
        Ok(r.into_inner())
    }
}
