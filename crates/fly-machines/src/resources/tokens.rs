//! Token introspection and the tokens a machine can request for itself.

use crate::{Client, Result, types};
use fly_machines_api::OperationId;

impl Client {
    /// Token operations.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            client: self.clone(),
        }
    }
}

/// Token operations.
#[derive(Debug, Clone)]
pub struct Tokens {
    client: Client,
}

async fn text(operation: OperationId, stream: fly_machines_api::ByteStream) -> Result<String> {
    use futures::StreamExt;
    let mut inner = stream.into_inner();
    let mut buf = Vec::new();
    while let Some(chunk) = inner.next().await {
        let chunk = chunk.map_err(|source| crate::Error::transport(operation, 1, source))?;
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[bon::bon]
impl Tokens {
    /// Describes the token this client uses.
    pub fn current(&self) -> TokensCurrentBuilder {
        self.clone().current_builder()
    }

    #[builder(
        builder_type(name = TokensCurrentBuilder, vis = "pub"),
        start_fn(name = current_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_current(self) -> Result<types::CurrentTokenResponse> {
        answer!(self.client, OperationId::CurrentTokenShow, |raw| {
            raw.current_token_show()
        })
    }

    /// Checks an `Authorization` header value and lists what it grants.
    pub fn authenticate(&self, header: impl Into<String>) -> TokensAuthenticateBuilder {
        self.clone().authenticate_builder(header)
    }

    #[builder(
        builder_type(name = TokensAuthenticateBuilder, vis = "pub"),
        start_fn(name = authenticate_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_authenticate(
        self,
        #[builder(start_fn)] header: String,
    ) -> Result<Vec<types::VerifiedToken>> {
        let body = types::AuthenticateTokenRequest {
            header: Some(header),
        };
        answer!(self.client, OperationId::TokensAuthenticate, |raw| {
            raw.tokens_authenticate(&body)
        })
    }

    /// Checks whether the tokens in an `Authorization` header value allow `access`:
    /// `tokens.authorize("FlyV1 ...", access).await`.
    pub fn authorize(
        &self,
        header: impl Into<String>,
        access: types::TokenAccess,
    ) -> TokensAuthorizeBuilder {
        self.clone().authorize_builder(header, access)
    }

    #[builder(
        builder_type(name = TokensAuthorizeBuilder, vis = "pub"),
        start_fn(name = authorize_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_authorize(
        self,
        #[builder(start_fn)] header: String,
        #[builder(start_fn)] access: types::TokenAccess,
    ) -> Result<types::AuthorizeResponse> {
        let request = types::AuthorizeTokenRequest {
            access: Some(access),
            header: Some(header),
        };
        answer!(self.client, OperationId::TokensAuthorize, |raw| {
            raw.tokens_authorize(&request)
        })
    }

    /// A token for Fly's KMS (only from inside a machine).
    pub fn kms(&self) -> TokensKmsBuilder {
        self.clone().kms_builder()
    }

    #[builder(
        builder_type(name = TokensKmsBuilder, vis = "pub"),
        start_fn(name = kms_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
    )]
    async fn run_kms(self) -> Result<String> {
        let r = self
            .client
            .call_stream(OperationId::TokensRequestKms, |raw| {
                raw.tokens_request_kms()
            })
            .await?;
        text(OperationId::TokensRequestKms, r.into_inner()).await
    }

    /// An OpenID Connect token for the calling machine (only from inside one):
    /// `tokens.oidc().audience("sts.amazonaws.com").aws_principal_tags().await`.
    pub fn oidc(&self) -> TokensOidcBuilder {
        self.clone().oidc_builder()
    }

    #[builder(
        builder_type(name = TokensOidcBuilder, vis = "pub"),
        start_fn(name = oidc_builder, vis = ""),
        finish_fn = send,
        derive(IntoFuture(Box)),
        on(String, into),
    )]
    async fn run_oidc(
        self,
        /// The token's audience (`aud`); Fly's default when not given.
        audience: Option<String>,
        /// Add AWS session principal-tag claims, for AWS policies that match on tags.
        #[builder(default, with = || true)]
        aws_principal_tags: bool,
    ) -> Result<String> {
        let request = types::CreateOidcTokenRequest {
            aud: audience,
            aws_principal_tags: aws_principal_tags.then_some(true),
        };
        let r = self
            .client
            .call_stream(OperationId::TokensRequestOidc, |raw| {
                raw.tokens_request_oidc(&request)
            })
            .await?;
        text(OperationId::TokensRequestOidc, r.into_inner()).await
    }
}
