//! Path parameters: how they are written into a URL, and how a built URL is checked.
//!
//! A URL parser rewrites some paths: `\` counts as `/` in `http(s)` URLs, and `.`, `..`, `%2e`
//! and `%2E` segments are removed together with the one before them. A path parameter written
//! with any of those could send the caller's token to another app's endpoint. The generated
//! client therefore writes every parameter with [`encode_path`] (the xtask points it here), which
//! leaves only unreserved characters as they are, and the hook refuses any request whose path is
//! not exactly the operation's template with one such segment per parameter
//! ([`check_path`]).

/// Percent-encodes `value` as one path segment: everything but the unreserved characters
/// `A-Z a-z 0-9 - . _ ~` and the two that RFC 3986 allows in a segment without a second
/// meaning anywhere, `:` and `@` (IPv6 addresses stay readable), becomes `%XX`. The URL parser
/// reads the segment back as exactly `value`. (A value of `.` or `..` stays a dot segment;
/// [`check_path`] refuses it.)
pub fn encode_path(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Names and ids almost never need escaping: copy them whole.
    let Some(first) = value.bytes().position(|byte| !is_kept(byte)) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(value.len() + 8);
    out.push_str(&value[..first]);
    for &byte in &value.as_bytes()[first..] {
        if is_kept(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// The bytes [`encode_path`] writes as they are.
fn is_kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':' | b'@')
}

/// Checks that `url_path` is `base_path` followed by `template` (e.g.
/// `/apps/{app_name}/machines/{machine_id}`): every literal segment equal, and every parameter
/// segment exactly as [`encode_path`] writes a value, neither empty nor a dot segment. Such a
/// segment decodes to exactly one value with nothing a parser could rewrite. `Err` says which
/// segment is wrong.
pub fn check_path(url_path: &str, base_path: &str, template: &str) -> Result<(), String> {
    let base = base_path.trim_end_matches('/');
    let rest = url_path
        .strip_prefix(base)
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| format!("the path does not start with the base path `{base}`"))?;
    // Segment by segment with a byte scan: `str::split`'s searcher costs more to set up than
    // these short segments cost to read, and this runs on every request.
    let mut actual = Some(rest);
    let mut expected_left = Some(template);
    while let Some(template_left) = expected_left {
        let (expected, template_rest) = split_first_segment(template_left);
        let Some(actual_left) = actual else {
            return Err("the path has fewer segments than the template".into());
        };
        let (segment, actual_rest) = split_first_segment(actual_left);
        match expected.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => check_parameter(name, segment)?,
            None if segment == expected => {}
            None => {
                return Err(format!(
                    "segment `{segment}` is not the template's `{expected}`"
                ));
            }
        }
        expected_left = template_rest;
        actual = actual_rest;
    }
    match actual {
        None => Ok(()),
        Some(_) => Err("the path has more segments than the template".into()),
    }
}

/// `path` split at its first `/`: the first segment, and what follows the `/` (`None` when
/// there is no `/` left), as `str::split('/')` would yield them one by one.
fn split_first_segment(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|byte| byte == b'/') {
        Some(slash) => (&path[..slash], Some(&path[slash + 1..])),
        None => (path, None),
    }
}

fn check_parameter(name: &str, segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err(format!("path parameter `{name}` is empty"));
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if bytes.len() > i + 2
                && is_upper_hex(bytes[i + 1])
                && is_upper_hex(bytes[i + 2]) =>
            {
                i += 3;
            }
            b if is_kept(b) => i += 1,
            _ => {
                return Err(format!(
                    "path parameter `{name}` is not one percent-encoded segment: `{segment}`"
                ));
            }
        }
    }
    if is_dot_segment(segment) {
        return Err(format!(
            "path parameter `{name}` is `{segment}`, which a URL parser treats as `.` or `..`"
        ));
    }
    Ok(())
}

fn is_upper_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'A'..=b'F').contains(&byte)
}

/// `.` or `..`, also written with `%2e`/`%2E` as URL parsers accept.
fn is_dot_segment(segment: &str) -> bool {
    [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"]
        .iter()
        .any(|dots| segment.eq_ignore_ascii_case(dots))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "/apps/{app_name}/machines/{machine_id}";

    fn url_path(base: &str, app: &str, machine: &str) -> String {
        let url = format!(
            "{base}/apps/{}/machines/{}",
            encode_path(app),
            encode_path(machine)
        );
        reqwest::Url::parse(&url).unwrap().path().to_string()
    }

    #[test]
    fn every_value_comes_back_as_one_segment_holding_it() {
        for value in [
            "m1",
            "..\\..\\victim",
            "a/b",
            "a\\b",
            "%2e%2e",
            "%2F",
            "?x=1#y",
            "ü ☃",
            "\t\n",
            "a;b,c=d",
            ".a.",
            "2a09:8280:1::1",
            "user@host",
        ] {
            let path = url_path("http://h/v1", "app", value);
            check_path(&path, "/v1", SHOW).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            let last = path.rsplit('/').next().unwrap();
            let decoded: Vec<u8> = decode(last);
            assert_eq!(decoded, value.as_bytes(), "{value:?} -> {path}");
        }
    }

    #[test]
    fn dot_and_empty_values_and_foreign_paths_are_refused() {
        for value in ["", ".", ".."] {
            let path = url_path("http://h/v1", "app", value);
            assert!(
                check_path(&path, "/v1", SHOW).is_err(),
                "{value:?} -> {path}"
            );
        }
        for path in [
            "/v1/apps/victim/machines/m1/extra",
            "/v1/apps/a\\b/machines/m1",
            "/v1/apps/a%2fb/machines/m1",
            "/v1/apps/%2E%2e/machines/m1",
            "/v1/apps/a%2/machines/m1",
            "/v2/apps/a/machines/m1",
            "/v1/apps/a/machine/m1",
            "/v1/apps/a",
        ] {
            assert!(check_path(path, "/v1", SHOW).is_err(), "{path}");
        }
        assert!(check_path("/v1/apps/a/machines/m1", "/v1", SHOW).is_ok());
        assert!(check_path("/apps/a/machines/m1", "", SHOW).is_ok());
    }

    fn decode(segment: &str) -> Vec<u8> {
        let bytes = segment.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }
}
