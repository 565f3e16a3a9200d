//! The error answers Fly gives, for any operation's `Then`.
//!
//! Fly answers errors with a JSON body `{"error": "<message>", "status": "<code>"}` (the code is
//! left out where Fly sends none; the managed Postgres API never sends one). Which answers an
//! operation can get is read by the xtask from the error statuses the operation declares in the
//! API document, and written to `answers.rs`: every operation implements [`FlyErrors`]; those
//! that declare 404 implement [`NotFound`], and so on. Asking a mock for an answer its operation
//! never gets is a compile error.

use serde_json::{Value, json};

/// The JSON body of a Fly error: `{"error": message}`, plus `"status": code` when there is a code.
pub fn error_body(message: &str, code: Option<&str>) -> Value {
    match code {
        Some(code) => json!({ "error": message, "status": code }),
        None => json!({ "error": message }),
    }
}

/// The server errors Fly's edge and API answer with; all are transient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerError {
    /// 500.
    Internal,
    /// 502.
    BadGateway,
    /// 503.
    Unavailable,
    /// 504.
    GatewayTimeout,
}

impl ServerError {
    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            ServerError::Internal => 500,
            ServerError::BadGateway => 502,
            ServerError::Unavailable => 503,
            ServerError::GatewayTimeout => 504,
        }
    }

    const fn message(self) -> &'static str {
        match self {
            ServerError::Internal => "internal server error",
            ServerError::BadGateway => "bad gateway",
            ServerError::Unavailable => "service unavailable",
            ServerError::GatewayTimeout => "gateway timeout",
        }
    }
}

/// The error answers every operation can get. Implemented by every operation's `Then` wrapper.
pub trait FlyErrors: Sized {
    /// Wraps a plain `httpmock::Then`.
    fn from_then(then: httpmock::Then) -> Self;

    /// The plain `httpmock::Then` inside.
    fn into_then(self) -> httpmock::Then;

    /// Answers `status` with Fly's error body.
    fn fly_error(self, status: u16, message: &str, code: Option<&str>) -> Self {
        Self::from_then(
            self.into_then()
                .status(status)
                .header("content-type", "application/json")
                .json_body(error_body(message, code)),
        )
    }

    /// 429, with `Retry-After: retry_after_secs`, as Fly answers a caller over its rate limit.
    fn fly_rate_limited(self, retry_after_secs: u32) -> Self {
        let then = self
            .into_then()
            .header("retry-after", retry_after_secs.to_string());
        Self::from_then(then).fly_error(429, "rate limit exceeded", Some("resource_exhausted"))
    }

    /// A 5xx answer.
    fn fly_server_error(self, error: ServerError) -> Self {
        self.fly_error(error.status(), error.message(), None)
    }

    /// 400 with code `invalid_argument`: Fly refused a value of the request.
    fn fly_invalid_argument(self, message: &str) -> Self {
        self.fly_error(400, message, Some("invalid_argument"))
    }

    /// 500 with code `unknown`: Fly failed and did not classify the failure.
    fn fly_unknown(self, message: &str) -> Self {
        self.fly_error(500, message, Some("unknown"))
    }
}

/// 503 with a capacity code: no host in the region can take the machine or its volume. Offered
/// by the calls that place something on a host (machine create, update and start, volume create
/// and extend; `x-sdk.places` in the API document), so a test can drive a region fallback.
pub trait Capacity: FlyErrors {
    /// 503, code `insufficient_capacity`: the region has no room for the machine.
    fn fly_insufficient_capacity(self) -> Self {
        self.fly_error(
            503,
            "insufficient resources to create new machine with specified config",
            Some("insufficient_capacity"),
        )
    }

    /// 503, code `volume_placement_capacity`: no host can hold the volume with the machine.
    fn fly_volume_placement_capacity(self) -> Self {
        self.fly_error(
            503,
            "no host with room for the volume and the machine",
            Some("volume_placement_capacity"),
        )
    }
}

/// 404: the app, machine, volume or other resource named in the path does not exist (or, just
/// after a create, is not visible yet).
pub trait NotFound: FlyErrors {
    /// 404 with `message`, e.g. `Could not find App "my-app"`.
    fn fly_not_found(self, message: &str) -> Self {
        self.fly_error(404, message, None)
    }

    /// 404 with code `not_found`, as the machines API answers for a machine it does not know.
    fn fly_not_found_coded(self, message: &str) -> Self {
        self.fly_error(404, message, Some("not_found"))
    }
}

/// 408: a `/wait` that ran out, or a machine's host that missed its deadline (for a create, the
/// machine may or may not exist afterwards).
pub trait RequestTimeout: FlyErrors {
    /// 408 with `message`, e.g. `timeout waiting for machine to reach started`.
    fn fly_timeout(self, message: &str) -> Self {
        self.fly_error(408, message, None)
    }
}

/// The managed Postgres API's error answers: `{"error": message}`, without a code.
pub trait PostgresErrors: FlyErrors {
    /// `status` with the Postgres error body.
    fn postgres_error(self, status: u16, message: &str) -> Self {
        self.fly_error(status, message, None)
    }

    /// 503 with `Retry-After: retry_after_secs`: the cluster cannot be reached right now.
    fn postgres_unavailable(self, retry_after_secs: u32) -> Self {
        let then = self
            .into_then()
            .header("retry-after", retry_after_secs.to_string());
        Self::from_then(then).postgres_error(503, "cluster is temporarily unavailable")
    }
}

/// 409: someone else holds the machine's lease, and the request did not carry its nonce.
pub trait LeaseHeld: FlyErrors {
    /// 409, lease currently held.
    fn fly_lease_held(self) -> Self {
        self.fly_error(
            409,
            "machine is leased; supply the fly-machine-lease-nonce header of the current lease",
            Some("lease_currently_held"),
        )
    }
}

/// 412: the machine's state or version does not allow the change (start from `replacing`, a
/// `machine_version` or `min_secrets_version` precondition, a volume attached elsewhere).
pub trait PreconditionFailed: FlyErrors {
    /// 412 with `message`, e.g. `unable to start machine from current state`.
    fn fly_precondition_failed(self, message: &str) -> Self {
        self.fly_error(412, message, Some("failed_precondition"))
    }
}

/// 422: Fly refused the request body (a name already taken, a limit reached, a bad config).
pub trait Unprocessable: FlyErrors {
    /// 422 with `message` and Fly's `code`, e.g. `name_taken`.
    fn fly_unprocessable(self, message: &str, code: &str) -> Self {
        self.fly_error(422, message, Some(code))
    }

    /// 422, code `name_taken`: the app, machine or volume name is already in use.
    fn fly_name_taken(self) -> Self {
        self.fly_unprocessable(
            "Validation failed: Name has already been taken",
            "name_taken",
        )
    }
}
