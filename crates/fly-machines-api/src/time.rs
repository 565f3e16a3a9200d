//! RFC 3339 timestamps as Fly writes them (`2026-10-01T12:00:00Z`), to and from Unix time.
//!
//! The API's timestamps are plain text, and our document keeps them so (no date library in a
//! user's build). This is the one place that turns them into numbers and back: the client
//! writes restore points with it and the emulator writes and reads every timestamp it serves.
//! Dates are proleptic Gregorian, in UTC.

/// Unix seconds as RFC 3339 UTC to the second: `2026-10-01T12:00:00Z`.
pub fn format_secs(secs: u64) -> String {
    let (date, of_day) = split(secs);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-10-01T12:00:00.250Z`.
pub fn format_millis(ms: u64) -> String {
    let (date, of_day) = split(ms / 1000);
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        ms % 1000
    )
}

/// An RFC 3339 timestamp (`Z` or a `±hh:mm` offset, an optional fraction) as Unix
/// milliseconds; `None` when the text is not one, or names a time before 1970.
pub fn parse_millis(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range| num_at(text, range);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut fraction_ms = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, padded with zeros; finer digits are dropped.
        fraction_ms = fraction[..digits]
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'));
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let hours = num_at(rest, 1..3)?;
            let minutes = num_at(rest, 4..6)?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    // Every part is bounded above (a four-digit year), so none of this can overflow.
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(secs * 1000 + fraction_ms).ok()
}

/// The ASCII digits of `text` at `range` as a number (no sign, no spaces).
fn num_at(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let digits = text.get(range)?;
    if digits.bytes().all(|c| c.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` of the day `secs` falls on, and the seconds into that day.
fn split(secs: u64) -> (String, u64) {
    // u64::MAX seconds is about 2.1e14 days: well inside i64.
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(days);
    (format!("{year:04}-{month:02}-{day:02}"), secs % 86_400)
}

/// The date `days` after 1970-01-01, counted in 400-year eras of 146 097 days that start on
/// 1 March, so that a leap day ends each era's year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
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
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the date, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_land_on_the_calendar() {
        assert_eq!(format_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_secs(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(format_secs(1_790_812_800), "2026-10-01T00:00:00Z");
        assert_eq!(format_secs(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(format_secs(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(format_millis(1_735_689_600_123), "2025-01-01T00:00:00.123Z");
        // Far beyond any real timestamp, still a date and no panic.
        assert!(format_secs(u64::MAX).ends_with('Z'));
        assert!(format_millis(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn parsing_inverts_formatting() {
        for ms in [0u64, 1_735_689_600_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_millis(&format_millis(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            parse_millis("2025-01-01T01:00:00+01:00"),
            Some(1_735_689_600_000)
        );
        assert_eq!(
            parse_millis("2025-01-01T00:00:00.5Z"),
            Some(1_735_689_600_500)
        );
        assert_eq!(
            parse_millis("2025-01-01T00:00:00.123456789Z"),
            Some(1_735_689_600_123)
        );
    }

    #[test]
    fn what_is_not_a_timestamp_is_none() {
        for text in [
            "yesterday",
            "2025-01-01T00:00:00+0\u{e9}00",
            "2025-01-01T00:00:00.Z",
            "2025-13-01T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "+025-01-01T00:00:00Z",
            "2025-01-01T00:00:00+1:000",
            "1969-12-31T23:59:59Z",
            "\u{e9}025-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_millis(text), None, "{text}");
        }
    }
}
