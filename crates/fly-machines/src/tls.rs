//! The TLS backend, chosen with a cargo feature: `rustls` (default, aws-lc), `rustls-ring` (no C
//! code to build) or `native-tls` (the platform's library).

/// Makes the chosen backend usable before the HTTP client is built.
///
/// With `rustls-ring`, reqwest has no crypto provider of its own and refuses to build a client
/// unless the process has a default one, so ring is installed as that default when none is set.
/// A provider the application installed itself is left alone.
pub(crate) fn prepare_then<T>(next: impl FnOnce() -> T) -> T {
    #[cfg(feature = "rustls-ring")]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread that installs one is fine: a default then exists.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    next()
}
