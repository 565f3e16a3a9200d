//! Wire encodings of values Fly carries as text.

/// Encodes file contents the way Fly's `files[].raw_value` carries them: standard base64 with
/// padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
