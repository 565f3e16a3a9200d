//! Fly's machine-readable error codes, as an open set.

use std::fmt;

/// Fly's machine-readable error code (`status` in an error body, `code` in a lease envelope).
///
/// Names every value of Fly's `StatusCode` set plus the gRPC-style codes some endpoints send;
/// an open set, so a code this version does not know is kept as [`ErrorCode::Other`] rather
/// than lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `unknown`: Fly did not classify the failure.
    Unknown,
    /// `insufficient_capacity`: the region has no room for the machine.
    InsufficientCapacity,
    /// `volume_placement_capacity`: no host can hold the volume with the machine.
    VolumePlacementCapacity,
    /// `name_taken`: an app or machine name is already in use.
    NameTaken,
    /// `not_found`: the app, machine or resource does not exist.
    NotFound,
    /// `failed_precondition`: the resource is not in a state that allows the call.
    FailedPrecondition,
    /// `invalid_argument`: a value in the request was refused.
    InvalidArgument,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    /// Every named code with its wire spelling (for parsing, display and tests).
    const NAMED: [(ErrorCode, &'static str); 7] = [
        (ErrorCode::Unknown, "unknown"),
        (ErrorCode::InsufficientCapacity, "insufficient_capacity"),
        (
            ErrorCode::VolumePlacementCapacity,
            "volume_placement_capacity",
        ),
        (ErrorCode::NameTaken, "name_taken"),
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::FailedPrecondition, "failed_precondition"),
        (ErrorCode::InvalidArgument, "invalid_argument"),
    ];

    /// Parses a code as sent by Fly; unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> ErrorCode {
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == code)
            .map_or_else(|| ErrorCode::Other(code.to_string()), |(c, _)| c.clone())
    }

    /// The code as Fly writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            named => Self::NAMED
                .iter()
                .find(|(c, _)| c == named)
                .map_or("unknown", |(_, name)| *name),
        }
    }

    /// No room for the machine or its volume (`insufficient_capacity`,
    /// `volume_placement_capacity`): try another region or size.
    pub fn is_capacity(&self) -> bool {
        matches!(
            self,
            ErrorCode::InsufficientCapacity | ErrorCode::VolumePlacementCapacity
        )
    }

    /// The name is in use (`name_taken`).
    pub fn is_name_taken(&self) -> bool {
        *self == ErrorCode::NameTaken
    }

    /// The resource does not exist (`not_found`).
    pub fn is_not_found(&self) -> bool {
        *self == ErrorCode::NotFound
    }

    /// The resource's state forbids the call (`failed_precondition`).
    pub fn is_failed_precondition(&self) -> bool {
        *self == ErrorCode::FailedPrecondition
    }

    /// A request value was refused (`invalid_argument`).
    pub fn is_invalid_argument(&self) -> bool {
        *self == ErrorCode::InvalidArgument
    }

    /// Fly said `unknown`.
    pub fn is_unknown(&self) -> bool {
        *self == ErrorCode::Unknown
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_round_trips_and_unknown_codes_are_kept() {
        for (code, name) in ErrorCode::NAMED {
            assert_eq!(ErrorCode::parse(name), code);
            assert_eq!(code.as_str(), name);
        }
        let new = ErrorCode::parse("quota_exceeded");
        assert_eq!(new, ErrorCode::Other("quota_exceeded".into()));
        assert_eq!(new.to_string(), "quota_exceeded");
    }
}
