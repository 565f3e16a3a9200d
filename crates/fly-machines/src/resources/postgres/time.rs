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
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras of 146 097
/// days that start on 1 March, so that the leap day ends each era's year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc3339_utc("pitr time", UNIX_EPOCH + Duration::from_secs(secs)).unwrap()
    }

    #[test]
    fn dates_land_on_the_calendar() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(at(1_790_812_800), "2026-10-01T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
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
