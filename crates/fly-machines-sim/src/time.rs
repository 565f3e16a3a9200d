//! Time arithmetic: durations to milliseconds (saturating), and RFC 3339 timestamps to and from
//! Unix milliseconds (the calendar lives in `fly_machines_api::time`).

use std::time::Duration;

/// A duration in whole milliseconds; a duration too long for `u64` means "as long as
/// representable".
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// RFC 3339 UTC timestamp with milliseconds, e.g. `2025-01-01T00:00:00.000Z`.
pub(crate) fn rfc3339(ms: u64) -> String {
    fly_machines_api::time::format_millis(ms)
}

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction) into Unix milliseconds.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    fly_machines_api::time::parse_millis(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0u64, 1_735_689_600_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(rfc3339(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2025-01-01T01:00:00+01:00"),
            Some(1_735_689_600_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00+0\u{e9}00"), None);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00.Z"), None);
    }
}
