//! Checks on names and ids before they go into a URL path.
//!
//! The generated client percent-encodes path segments, but not `.`: a segment that is `.` or
//! `..` would be folded away by URL normalisation. The raw client's hook refuses any request
//! whose path no longer fits its template; these checks come first and give a clear error that
//! names the value instead.

use crate::error::{Error, Result};

/// The longest name or id accepted. Fly's are far shorter (app names 63, machine ids 14); a
/// longer value is a mistake, and would otherwise fail late as a transport error once the URL
/// passes what a server accepts.
const MAX_LEN: usize = 255;

fn check(
    what: &'static str,
    value: &str,
    allowed: impl Fn(char) -> bool,
    expected: &str,
) -> Result<()> {
    // Runs on every call: one pass over the bytes settles the usual value; only one with a `.`,
    // a non-ASCII character or nothing at all takes the checks below, which explain the problem.
    if value.len() > MAX_LEN {
        let head: String = value.chars().take(32).collect();
        return Err(Error::invalid_input(
            what,
            &format!("{head}... ({} bytes)", value.len()),
            &format!("at most {MAX_LEN} characters"),
        ));
    }
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|byte| byte != b'.' && byte.is_ascii() && allowed(char::from(byte)));
    if plain {
        return Ok(());
    }
    if value.is_empty() {
        return Err(Error::invalid_input(
            what,
            value,
            &format!("a non-empty {what}"),
        ));
    }
    if value == "." || value == ".." || value.contains("..") {
        return Err(Error::invalid_input(
            what,
            value,
            &format!("{expected} (no `..`)"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(Error::invalid_input(
            what,
            value,
            &format!("{expected}; {bad:?} is not allowed"),
        ));
    }
    Ok(())
}

/// A lease nonce goes into the `fly-machine-lease-nonce` header, so it must be a valid header
/// value; the error never shows it.
pub(crate) fn lease_nonce(nonce: &str) -> Result<()> {
    // Not `HeaderValue::from_str`: it takes bytes above 127 (obs-text), so a non-ASCII nonce
    // would pass a check that promises visible ASCII.
    if !nonce.is_empty() && nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(Error::invalid_input(
        "lease nonce",
        "<redacted>",
        "visible ASCII characters: the nonce cannot be sent in a header otherwise",
    ))
}

/// App names: Fly's rule, the one the emulator holds too (`fly_machines_rules::is_app_name`).
pub(crate) fn app_name(value: &str) -> Result<()> {
    if fly_machines_rules::is_app_name(value) {
        return Ok(());
    }
    Err(Error::invalid_input(
        "app name",
        value,
        "1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash \
         (Fly's rule, which the emulator holds too)",
    ))
}

/// Machine, volume and snapshot ids: letters, digits and `_`.
pub(crate) fn resource_id(what: &'static str, value: &str) -> Result<()> {
    check(
        what,
        value,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        "letters, digits, `_` or `-`",
    )
}

/// Organization slugs, secret names, metadata keys: letters, digits, `-`, `_` and `.`.
pub(crate) fn key(what: &'static str, value: &str) -> Result<()> {
    check(
        what,
        value,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        "letters, digits, `-`, `_` or `.`",
    )
}

/// Metadata keys, by the rule the builders, the derive and the emulator share.
pub(crate) fn metadata_key(value: &str) -> Result<()> {
    fly_machines_rules::check_metadata_key(value).map_err(Error::from)
}

/// Hostnames of certificates and IP addresses: DNS and address characters.
pub(crate) fn host(what: &'static str, value: &str) -> Result<()> {
    check(
        what,
        value,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '*'),
        "a hostname or IP address",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_rejected_and_named() {
        for bad in [
            "", "a/b", "..", "a..b", "a b", "a%2f", "ü", "a\n", "a?b", "a#b", "My_App", "my_app",
            "-app", "app-",
        ] {
            let err = app_name(bad).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("app name") && text.contains(&format!("{bad:?}")),
                "{text}"
            );
        }
        app_name("my-app-1").unwrap();
        resource_id("machine id", "3d8d413b29d089").unwrap();
        assert!(resource_id("machine id", "3d8/../x").is_err());
        host("hostname", "*.example.com").unwrap();
        host("ip", "2a09:8280:1::1").unwrap();
        key("metadata key", "fly_platform_version").unwrap();
    }

    #[test]
    fn long_ids_and_non_ascii_nonces_are_refused() {
        let long = "a".repeat(70_000);
        let text = resource_id("machine id", &long).unwrap_err().to_string();
        assert!(text.contains("at most 255") && text.len() < 300, "{text}");
        resource_id("machine id", &"a".repeat(255)).unwrap();
        for bad in ["nonce-é", "n\u{80}", "a b", "a\tb", ""] {
            let text = lease_nonce(bad).unwrap_err().to_string();
            assert!(
                text.contains("visible ASCII") && !text.contains(bad) || bad.is_empty(),
                "{text}"
            );
        }
        lease_nonce("0123abcdef").unwrap();
    }
}
