//! A point in time as the RFC 3339 UTC text Fly's restore takes (`2026-10-01T12:00:00Z`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// The last second of year 9999, the largest time RFC 3339's four-digit year can write.
const MAX_SECS: u64 = 253_402_300_799;

/// `t` in RFC 3339, UTC, to the second (a part second is dropped).
pub(crate) fn rfc3339_utc(what: &'static str, t: SystemTime) -> Result<String> {
    let out_of_range = || {
        Error::invalid_input(
            what,
            &format!("{t:?}"),
            "a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
        )
    };
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| out_of_range())?
        .as_secs();
    if secs > MAX_SECS {
        return Err(out_of_range());
    }
    Ok(fly_machines_api::time::format_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc3339_utc("pitr time", UNIX_EPOCH + Duration::from_secs(secs)).unwrap()
    }

    #[test]
    fn the_whole_range_is_written_to_the_second() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(MAX_SECS), "9999-12-31T23:59:59Z");
        let with_fraction = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(
            rfc3339_utc("pitr time", with_fraction).unwrap(),
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn times_outside_the_format_are_refused_by_name() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        let err = rfc3339_utc("pitr time", before).unwrap_err().to_string();
        assert!(err.contains("pitr time") && err.contains("1970"), "{err}");
        let after = UNIX_EPOCH + Duration::from_secs(MAX_SECS + 1);
        assert!(rfc3339_utc("pitr time", after).is_err());
    }
}
