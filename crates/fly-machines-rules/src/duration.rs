//! Go durations, as Fly writes them (`10s`, `1m30s`, `250ms`).

use crate::{Rule, RuleError};
use std::time::Duration;

/// Parses a Go duration string as Fly's API takes it, such as `"15s"`, `"1m30s"`, `"500ms"` or
/// `"1.5h"`: one or more numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a
/// bare `"0"`. Negative durations are refused; they make no sense in a machine config.
pub fn parse_go_duration(value: &str) -> Result<Duration, RuleError> {
    let error = || {
        RuleError::new(
            Rule::GoDuration,
            value,
            "a Go duration such as `15s`, `1m30s` or `500ms`",
        )
    };
    let rest = value.strip_prefix('+').unwrap_or(value);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(error());
    }
    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after_dot.len());
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(error());
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(error()),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| error())?
        };
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(error)?;
        // The fraction: as many digits as are meaningful at nanosecond precision.
        let mut scale = unit_nanos;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos = nanos.saturating_add(u128::from(digit - b'0') * scale);
        }
        total = total.checked_add(nanos).ok_or_else(error)?;
        rest = after_unit;
    }
    // Go keeps durations in an i64 of nanoseconds.
    if total > i64::MAX as u128 {
        return Err(error());
    }
    let secs = (total / 1_000_000_000) as u64;
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Writes a duration as a Go duration string that [`parse_go_duration`] reads back exactly, using
/// the largest unit that divides it (`90s` stays `90s`, 2 minutes becomes `2m`).
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (size, unit) in UNITS {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}
