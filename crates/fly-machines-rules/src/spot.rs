//! Spot pricing and volume growth.

use crate::{Rule, RuleError, check_count};

/// Checks a percentage such as `extend_threshold_percent` or `add_size_percent`: 1 to 100.
///
/// A threshold of 0 would grow a volume at every check and one above 100 never; growing by more
/// than the current size in one step is refused too, so a typo cannot run away with the disk.
pub fn check_percent(setting: &str, value: i64) -> Result<u8, RuleError> {
    match u8::try_from(value) {
        Ok(p) if (1..=100).contains(&p) => Ok(p),
        _ => Err(
            RuleError::new(Rule::Percent, value, "a percentage from 1 to 100").for_setting(setting),
        ),
    }
}

/// Checks `spot.max_price_fraction`, the share of the full machine price a spot machine may cost:
/// above 0 and at most 1.
pub fn check_spot_price_fraction(value: f64) -> Result<f64, RuleError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(RuleError::new(
            Rule::SpotPrice,
            value,
            "a fraction of the full price above 0 and at most 1, such as 0.5",
        )
        .for_setting("max_price_fraction"))
    }
}

/// A mount's size and automatic growth settings, as given (`None` when not set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountGrowth {
    /// `size_gb`: the volume's size when created.
    pub size_gb: Option<i64>,
    /// `extend_threshold_percent`: grow when this share of the volume is used.
    pub extend_threshold_percent: Option<i64>,
    /// `add_size_gb`: grow by this many GB.
    pub add_size_gb: Option<i64>,
    /// `add_size_percent`: grow by this share of the current size.
    pub add_size_percent: Option<i64>,
    /// `min_add_size_gb`: the least a percentage growth adds.
    pub min_add_size_gb: Option<i64>,
    /// `size_gb_limit`: never grow past this size.
    pub size_gb_limit: Option<i64>,
}

/// Checks a mount's growth settings, each value and how they fit together. Every problem is
/// returned (empty when all is well); each error's [`RuleError::setting`] names the setting to
/// fix, so a caller can point at it.
///
/// * sizes are counts; percentages are from 1 to 100 ([`check_percent`]);
/// * `add_size_gb` and `add_size_percent` are two ways to grow: give one;
/// * `min_add_size_gb` only bounds a growth by percentage;
/// * growth settings do nothing without `extend_threshold_percent`, the usage that triggers it;
/// * `size_gb_limit` is not below `size_gb`.
pub fn check_mount_growth(growth: &MountGrowth) -> Vec<RuleError> {
    let mut errors = Vec::new();
    let counts = [
        ("size_gb", growth.size_gb),
        ("add_size_gb", growth.add_size_gb),
        ("min_add_size_gb", growth.min_add_size_gb),
        ("size_gb_limit", growth.size_gb_limit),
    ];
    for (setting, value) in counts {
        if let Some(Err(err)) = value.map(|v| check_count(setting, v)) {
            errors.push(err);
        }
    }
    let percents = [
        ("extend_threshold_percent", growth.extend_threshold_percent),
        ("add_size_percent", growth.add_size_percent),
    ];
    for (setting, value) in percents {
        if let Some(Err(err)) = value.map(|v| check_percent(setting, v)) {
            errors.push(err);
        }
    }
    let growth_error = |setting: &str, value: i64, expected: &str| {
        RuleError::new(Rule::MountGrowth, value, expected).for_setting(setting)
    };
    if let (Some(_), Some(percent)) = (growth.add_size_gb, growth.add_size_percent) {
        errors.push(growth_error(
            "add_size_percent",
            percent,
            "either `add_size_gb` or `add_size_percent`, not both",
        ));
    }
    if let (Some(min), None) = (growth.min_add_size_gb, growth.add_size_percent) {
        errors.push(growth_error(
            "min_add_size_gb",
            min,
            "`add_size_percent` beside it: the minimum bounds a growth by percentage",
        ));
    }
    let first_growth_setting = [
        ("add_size_gb", growth.add_size_gb),
        ("add_size_percent", growth.add_size_percent),
        ("min_add_size_gb", growth.min_add_size_gb),
        ("size_gb_limit", growth.size_gb_limit),
    ]
    .into_iter()
    .find_map(|(setting, value)| value.map(|v| (setting, v)));
    if let (None, Some((setting, value))) = (growth.extend_threshold_percent, first_growth_setting)
    {
        errors.push(growth_error(
            setting,
            value,
            "`extend_threshold_percent` too: without it the volume never grows",
        ));
    }
    if let (Some(size), Some(limit)) = (growth.size_gb, growth.size_gb_limit)
        && limit < size
    {
        errors.push(growth_error(
            "size_gb_limit",
            limit,
            &format!("a limit no lower than size_gb {size}"),
        ));
    }
    errors
}
