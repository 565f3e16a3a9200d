//! API tokens: which `Authorization` scheme they use, and never showing them.

use std::fmt;

use reqwest::header::HeaderValue;

use crate::Error;

/// How a token is presented in the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: FlyV1 <token>`, for macaroon tokens (`fm1r_`, `fm1a_`, `fm2_`).
    FlyV1,
    /// `Authorization: Bearer <token>`, for everything else.
    Bearer,
}

/// Prefixes of Fly's macaroon tokens, which take the `FlyV1` scheme.
const MACAROON_PREFIXES: [&str; 3] = ["fm1r_", "fm1a_", "fm2_"];

/// A Fly API token. Its `Debug` and `Display` never show the secret.
#[derive(Clone)]
pub struct Token {
    scheme: Scheme,
    header: HeaderValue,
}

impl Token {
    /// Parses a token as found in `FLY_API_TOKEN` or `fly tokens create`.
    ///
    /// Accepts an optional leading `FlyV1 ` or `Bearer ` (as `fly auth token` prints it), and
    /// comma-joined macaroons. Rejects empty tokens and characters that cannot go in a header.
    pub fn new(raw: &str) -> Result<Token, Error> {
        let trimmed = raw.trim();
        // Accept the scheme word as `fly auth token` prints it; a scheme word alone is empty.
        let bare = match trimmed.split_once(char::is_whitespace) {
            Some((word, rest)) if word == "FlyV1" || word == "Bearer" => rest.trim(),
            None if trimmed == "FlyV1" || trimmed == "Bearer" => "",
            _ => trimmed,
        };
        if bare.is_empty() {
            return Err(Error::invalid_input(
                "token",
                "<empty>",
                "a non-empty Fly API token",
            ));
        }
        if let Some(bad) = bare.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(Error::invalid_input(
                "token",
                &format!(
                    "<redacted, contains {:?}>",
                    bad.escape_default().to_string()
                ),
                "printable ASCII only (no newlines or control characters)",
            ));
        }
        let scheme = if bare
            .split(',')
            .map(str::trim)
            .any(|part| MACAROON_PREFIXES.iter().any(|p| part.starts_with(p)))
        {
            Scheme::FlyV1
        } else {
            Scheme::Bearer
        };
        let prefix = match scheme {
            Scheme::FlyV1 => "FlyV1",
            Scheme::Bearer => "Bearer",
        };
        let mut header = HeaderValue::from_str(&format!("{prefix} {bare}")).map_err(|_| {
            Error::invalid_input(
                "token",
                "<redacted>",
                "characters allowed in an HTTP header",
            )
        })?;
        header.set_sensitive(true);
        Ok(Token { scheme, header })
    }

    /// The scheme this token uses.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The full `Authorization` header value, marked sensitive.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:?}, <redacted>)", self.scheme)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted token>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macaroons_use_flyv1() {
        for t in [
            "fm1r_abc",
            "fm1a_abc",
            "fm2_abc",
            "FlyV1 fm2_abc",
            "fm2_a,fm2_b",
            "x, fm2_b",
        ] {
            let token = Token::new(t).unwrap();
            assert_eq!(token.scheme(), Scheme::FlyV1, "{t}");
            assert!(token.header_value().to_str().unwrap().starts_with("FlyV1 "));
        }
        let flyv1 = Token::new("FlyV1 fm2_abc").unwrap();
        assert_eq!(flyv1.header_value().to_str().unwrap(), "FlyV1 fm2_abc");
    }

    #[test]
    fn other_tokens_use_bearer() {
        let token = Token::new("  plain-token ").unwrap();
        assert_eq!(token.scheme(), Scheme::Bearer);
        assert_eq!(token.header_value().to_str().unwrap(), "Bearer plain-token");
        assert!(token.header_value().is_sensitive());
    }

    #[test]
    fn debug_and_display_hide_the_secret() {
        let token = Token::new("fm2_supersecret").unwrap();
        assert!(!format!("{token:?}").contains("supersecret"));
        assert!(!format!("{token}").contains("supersecret"));
    }

    #[test]
    fn bad_tokens_are_rejected_with_a_clear_error() {
        let err = Token::new("abc\ndef").unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
        assert!(!err.to_string().contains("abc"), "{err}");
        assert!(Token::new("   ").is_err());
        assert!(Token::new("FlyV1 ").is_err());
        assert!(Token::new("Bearer").is_err());
        assert!(Token::new("tök").is_err());
    }
}
