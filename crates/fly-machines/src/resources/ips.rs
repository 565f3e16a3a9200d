//! IP addresses assigned to an app.

use std::fmt;

use crate::resources::apps::App;
use crate::{Error, Result, types, validate};
use fly_machines_api::OperationId;

/// The kind of address to allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpKind {
    /// A dedicated public IPv4 address (`v4`).
    V4,
    /// A dedicated public IPv6 address (`v6`).
    V6,
    /// A public IPv4 address shared with other apps (`shared_v4`).
    SharedV4,
    /// A private Flycast address, reachable inside the organization's network (`private_v6`).
    PrivateV6,
    /// A static IPv4 address for the app's outgoing traffic (`egress_v4`).
    EgressV4,
    /// A static IPv6 address for the app's outgoing traffic (`egress_v6`).
    EgressV6,
    /// Both egress addresses at once (`egress_pair`).
    EgressPair,
}

impl IpKind {
    /// The name Fly uses.
    pub fn as_str(self) -> &'static str {
        match self {
            IpKind::V4 => "v4",
            IpKind::V6 => "v6",
            IpKind::SharedV4 => "shared_v4",
            IpKind::PrivateV6 => "private_v6",
            IpKind::EgressV4 => "egress_v4",
            IpKind::EgressV6 => "egress_v6",
            IpKind::EgressPair => "egress_pair",
        }
    }
}

impl fmt::Display for IpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An app's IP assignments.
#[derive(Debug, Clone)]
pub struct IpAssignments {
    pub(crate) app: App,
}

#[bon::bon]
impl IpAssignments {
    /// Lists the app's addresses.
    pub fn list(&self) -> IpAssignmentsListBuilder {
        self.clone().list_builder()
    }

    #[builder(
        builder_type(name = IpAssignmentsListBuilder, vis = "pub"),
        start_fn(name = list_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_list(self) -> Result<types::ListIpAssignmentsResponse> {
        validate::app_name(&self.app.name)?;
        answer!(self.app.client, OperationId::AppIpAssignmentsList, |raw| {
            raw.app_ip_assignments_list(&self.app.name)
        })
    }

    /// Allocates an address of `kind` to the app:
    /// `app.ip_assignments().assign(IpKind::V6).region("iad").await`.
    pub fn assign(&self, kind: IpKind) -> IpAssignmentsAssignBuilder {
        self.clone().assign_builder(kind)
    }

    #[builder(
        builder_type(name = IpAssignmentsAssignBuilder, vis = "pub"),
        start_fn(name = assign_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_assign(
        self,
        #[builder(start_fn)] kind: IpKind,
        /// Pin the address to this region; without it the address is global (anycast).
        region: Option<String>,
        /// Route the address to this service only.
        service_name: Option<String>,
        /// The private network of a Flycast address (`IpKind::PrivateV6` only).
        network: Option<String>,
        /// The organization owning `network` (`IpKind::PrivateV6` only).
        org_slug: Option<String>,
    ) -> Result<types::AssignIpResponse> {
        validate::app_name(&self.app.name)?;
        if kind != IpKind::PrivateV6 && (network.is_some() || org_slug.is_some()) {
            return Err(Error::invalid_input(
                "ip assignment",
                &format!("{kind} with a network or organization"),
                "a network and organization only for IpKind::PrivateV6 (a Flycast address)",
            ));
        }
        let request = types::AssignIpRequest {
            network,
            org_slug,
            region,
            service_name,
            type_: Some(kind.as_str().to_string().into()),
        };
        answer!(
            self.app.client,
            OperationId::AppIpAssignmentsCreate,
            |raw| raw.app_ip_assignments_create(&self.app.name, &request)
        )
    }

    /// Releases an address unless it is already released: `Ok(false)` when there was nothing to
    /// release (404).
    pub fn ensure_absent(
        &self,
        ip: &str,
    ) -> impl std::future::Future<Output = Result<bool>> + Send + 'static {
        let this = self.clone();
        let ip = ip.to_owned();
        async move {
            let ip = ip.as_str();
            crate::ensured::absent_ok(this.release(ip).send().await)
        }
    }

    /// Releases an address.
    pub fn release(&self, ip: impl Into<String>) -> IpAssignmentsReleaseBuilder {
        self.clone().release_builder(ip)
    }

    #[builder(
        builder_type(name = IpAssignmentsReleaseBuilder, vis = "pub"),
        start_fn(name = release_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_release(self, #[builder(start_fn)] ip: String) -> Result<()> {
        validate::app_name(&self.app.name)?;
        validate::host("ip address", &ip)?;
        answer!(
            self.app.client,
            OperationId::AppIpAssignmentsDelete,
            |raw| raw.app_ip_assignments_delete(&self.app.name, &ip)
        )
    }
}
