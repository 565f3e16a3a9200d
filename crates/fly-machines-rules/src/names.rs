//! Numbers, names and paths: ports, counts, file modes, images, guest paths, metadata keys,
//! app names and environment variable names.

use crate::{Rule, RuleError};

/// Checks a TCP/UDP port number: 1 to 65535.
pub fn check_port(setting: &str, port: i64) -> Result<u16, RuleError> {
    match u16::try_from(port) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(RuleError::new(Rule::Port, port, "a port from 1 to 65535").for_setting(setting)),
    }
}

/// Checks a non-negative count, such as `min_machines_running` or a concurrency limit.
pub fn check_count(setting: &str, value: i64) -> Result<u32, RuleError> {
    u32::try_from(value).map_err(|_| {
        RuleError::new(Rule::Count, value, "a count of 0 or more").for_setting(setting)
    })
}

/// Checks a file permission mode, as `chmod` takes it: 0 to 0o7777.
pub fn check_file_mode(mode: i64) -> Result<u32, RuleError> {
    match u32::try_from(mode) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(RuleError::new(
            Rule::FileMode,
            mode,
            "a permission mode from 0 to 0o7777",
        )),
    }
}

/// Checks an image reference: not empty and without whitespace.
pub fn check_image(value: &str) -> Result<(), RuleError> {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        Err(RuleError::new(
            Rule::Image,
            value,
            "an image reference such as `registry.fly.io/app:tag`, not empty and without spaces",
        ))
    } else {
        Ok(())
    }
}

/// Checks a path inside the machine: it must be absolute.
pub fn check_guest_path(setting: &str, path: &str) -> Result<(), RuleError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        let hint = if path.is_empty() {
            None
        } else {
            Some(format!("/{path}"))
        };
        Err(
            RuleError::new(Rule::GuestPath, path, "an absolute path starting with `/`")
                .for_setting(setting)
                .with_suggestion(hint),
        )
    }
}

/// Checks a metadata key: letters, digits, `-`, `_` and `.`, not empty, no `..`, at most 255
/// characters. The same key is a path segment of `metadata/{key}`, so the builders, the derive,
/// the handles' `metadata()` calls and the emulator all hold keys to this one rule.
pub fn check_metadata_key(key: &str) -> Result<(), RuleError> {
    const EXPECTED: &str = "a key of letters, digits, `-`, `_` and `.` (not empty, no `..`, at \
                            most 255 characters)";
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if key.is_empty() || key.len() > 255 || key.contains("..") || !key.chars().all(allowed) {
        let fixed: String = key
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .take(255)
            .collect();
        let hint = Some(fixed).filter(|f| !f.is_empty() && f != key && !f.contains(".."));
        return Err(RuleError::new(Rule::MetadataKey, key, EXPECTED).with_suggestion(hint));
    }
    Ok(())
}

/// Longest app name Fly takes: the name is a DNS label (`<name>.fly.dev`).
pub const APP_NAME_MAX_LEN: usize = 63;

/// Whether `name` is an app name Fly takes: 1 to [`APP_NAME_MAX_LEN`] lowercase ASCII
/// letters, digits and dashes, neither starting nor ending with a dash (a DNS label, as the app
/// is reached at `<name>.fly.dev`). The client checks names with it before sending and the
/// emulator refuses creates with it, so both hold the same rule.
pub fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= APP_NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks an app name against [`is_app_name`], suggesting the lowercase spelling where that
/// would do (`My-App` -> `my-app`).
pub fn check_app_name(name: &str) -> Result<(), RuleError> {
    if is_app_name(name) {
        return Ok(());
    }
    let fixed: String = name
        .chars()
        .map(|c| match c {
            '_' | ' ' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let fixed = fixed.trim_matches('-').to_string();
    let hint = Some(fixed).filter(|f| is_app_name(f) && f != name);
    Err(RuleError::new(
        Rule::AppName,
        name,
        "1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash",
    )
    .with_suggestion(hint))
}

/// Whether `name` is a valid environment variable name: `[A-Z_][A-Z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_uppercase() || first == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Checks an environment variable name against `[A-Z_][A-Z0-9_]*`, suggesting a fixed spelling.
pub fn check_env_name(name: &str) -> Result<(), RuleError> {
    if is_env_name(name) {
        return Ok(());
    }
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if fixed.starts_with(|c: char| c.is_ascii_digit()) {
        fixed.insert(0, '_');
    }
    let hint = Some(fixed).filter(|f| is_env_name(f) && f != name);
    Err(
        RuleError::new(Rule::EnvName, name, "a name matching `[A-Z_][A-Z0-9_]*`")
            .with_suggestion(hint),
    )
}

/// The environment variable name a field gets from `#[machine(env)]`: its name in upper case
/// (`queue_name` gives `QUEUE_NAME`). A raw identifier loses its `r#`.
pub fn env_name_for_field(field: &str) -> String {
    field
        .strip_prefix("r#")
        .unwrap_or(field)
        .to_ascii_uppercase()
}
