//! Durations in, the units Fly wants out: whole seconds or Go duration strings, converted with
//! checked arithmetic so an out-of-range value is an error naming the value and the range.

use std::time::Duration;

use crate::{Error, Result};

/// `d` in whole seconds (a part second rounds up, so a wait is never shorter than asked),
/// within `min..=max` seconds.
pub(crate) fn whole_secs(what: &'static str, d: Duration, min: u64, max: u64) -> Result<u64> {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    if (min..=max).contains(&secs) {
        Ok(secs)
    } else {
        Err(Error::invalid_input(
            what,
            &format!("{d:?}"),
            &format!("a duration from {min} s to {max} s"),
        ))
    }
}

/// [`whole_secs`] as the `i64` the generated types carry.
pub(crate) fn whole_secs_i64(what: &'static str, d: Duration, min: u64, max: u64) -> Result<i64> {
    let secs = whole_secs(what, d, min, max.min(i64::MAX as u64))?;
    i64::try_from(secs)
        .map_err(|_| Error::invalid_input(what, &format!("{d:?}"), "a smaller duration"))
}

/// The longest duration Go can hold: `i64::MAX` nanoseconds (about 292 years).
const GO_MAX_NANOS: u128 = i64::MAX as u128;

/// `d` as a Go duration string (`"30s"`, `"1500ms"`, `"250us"`, `"7ns"`): the coarsest unit
/// that keeps the value exact.
pub(crate) fn go_duration(what: &'static str, d: Duration) -> Result<String> {
    let nanos = d.as_nanos();
    if nanos > GO_MAX_NANOS {
        return Err(Error::invalid_input(
            what,
            &format!("{d:?}"),
            "a duration of at most 2562047h47m16.854775807s (Go's limit)",
        ));
    }
    let text = if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up_and_stay_in_range() {
        let s = |ms| whole_secs("exec timeout", Duration::from_millis(ms), 1, 60);
        assert_eq!(s(1).unwrap(), 1);
        assert_eq!(s(1_000).unwrap(), 1);
        assert_eq!(s(1_001).unwrap(), 2);
        assert_eq!(s(60_000).unwrap(), 60);
        let err = s(60_001).unwrap_err().to_string();
        assert!(
            err.contains("exec timeout") && err.contains("1 s to 60 s"),
            "{err}"
        );
        assert!(s(0).is_err());
        assert!(whole_secs("x", Duration::MAX, 0, u64::MAX).is_ok());
        assert!(whole_secs_i64("x", Duration::MAX, 0, u64::MAX).is_err());
    }

    #[test]
    fn go_durations_are_exact_and_bounded() {
        assert_eq!(go_duration("t", Duration::from_secs(30)).unwrap(), "30s");
        assert_eq!(
            go_duration("t", Duration::from_millis(1500)).unwrap(),
            "1500ms"
        );
        assert_eq!(
            go_duration("t", Duration::from_micros(250)).unwrap(),
            "250us"
        );
        assert_eq!(go_duration("t", Duration::from_nanos(7)).unwrap(), "7ns");
        assert_eq!(go_duration("t", Duration::ZERO).unwrap(), "0s");
        let err = go_duration("stop timeout", Duration::MAX)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stop timeout") && err.contains("Go's limit"),
            "{err}"
        );
    }
}
