//! The TLS backend, chosen with a cargo feature: `rustls-ring` (default), `rustls` (aws-lc, wins
//! when both are on) or `native-tls` (the platform's library).

use crate::Result;

/// Sets the chosen backend on the builder of the HTTP client the SDK makes for itself.
///
/// With `rustls-ring` alone, reqwest has no crypto provider of its own, so the client gets a
/// rustls config built on ring here, with the platform's certificate verifier and the same ALPN
/// offer reqwest makes (HTTP/2, then HTTP/1.1). Nothing is installed process-wide: an application
/// keeps its own choice of default provider.
pub(crate) fn configure(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls")))]
    {
        use rustls_platform_verifier::BuilderVerifierExt;
        let failed =
            |e: rustls::Error| crate::Error::config(format!("cannot set up TLS with ring: {e}"));
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .with_platform_verifier()
            .map_err(failed)?
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        return Ok(builder.tls_backend_preconfigured(config));
    }
    #[allow(unreachable_code)]
    Ok(builder)
}
