//! IP addresses assigned to an app.

use crate::resources::apps::App;
use crate::{Result, types, validate};
use fly_machines_api::OperationId;

/// An app's IP assignments.
#[derive(Debug, Clone)]
pub struct IpAssignments {
    pub(crate) app: App,
}

#[bon::bon]
impl IpAssignments {
    /// Lists the app's addresses.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn list(&self) -> Result<types::ListIpAssignmentsResponse> {
        validate::app_name(&self.app.name)?;
        let r = self
            .app
            .client
            .call(OperationId::AppIpAssignmentsList, |raw| {
                raw.app_ip_assignments_list(&self.app.name)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Assigns an address (`type_`: e.g. `v6`, `shared_v4`, `private_v6`).
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn assign(
        &self,
        #[builder(start_fn)] request: types::AssignIpRequest,
    ) -> Result<types::AssignIpResponse> {
        validate::app_name(&self.app.name)?;
        let r = self
            .app
            .client
            .call(OperationId::AppIpAssignmentsCreate, |raw| {
                raw.app_ip_assignments_create(&self.app.name, &request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Releases an address.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn release(&self, #[builder(start_fn)] ip: &str) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::host("ip address", ip)?;
        self.app
            .client
            .call(OperationId::AppIpAssignmentsDelete, |raw| {
                raw.app_ip_assignments_delete(&self.app.name, ip)
            })
            .await?;
        Ok(())
    }
}
