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
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn current(&self) -> Result<types::CurrentTokenResponse> {
        let r = self
            .client
            .call(OperationId::CurrentTokenShow, |raw| {
                raw.current_token_show()
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Checks an `Authorization` header value and lists what it grants.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn authenticate(
        &self,
        #[builder(start_fn)] header: &str,
    ) -> Result<Vec<types::VerifiedToken>> {
        let body = types::AuthenticateTokenRequest {
            header: Some(header.to_string()),
        };
        let r = self
            .client
            .call(OperationId::TokensAuthenticate, |raw| {
                raw.tokens_authenticate(&body)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// Checks whether the tokens in an `Authorization` header value allow `access`:
    /// `tokens.authorize("FlyV1 ...", access).await`.
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn authorize(
        &self,
        #[builder(start_fn)] header: &str,
        #[builder(start_fn)] access: types::TokenAccess,
    ) -> Result<types::AuthorizeResponse> {
        let request = types::AuthorizeTokenRequest {
            access: Some(access),
            header: Some(header.to_string()),
        };
        let r = self
            .client
            .call(OperationId::TokensAuthorize, |raw| {
                raw.tokens_authorize(&request)
            })
            .await?;
        Ok(r.into_inner())
    }

    /// A token for Fly's KMS (only from inside a machine).
    #[builder(finish_fn = send, derive(IntoFuture(Box)))]
    pub async fn kms(&self) -> Result<String> {
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
    #[builder(finish_fn = send, derive(IntoFuture(Box)), on(String, into))]
    pub async fn oidc(
        &self,
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
