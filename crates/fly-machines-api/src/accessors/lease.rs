//! Accessors for [`Lease`]. There is no nonce accessor on purpose: the nonce is a secret that
//! the `fly-machines` lease guard keeps to itself.

use std::time::SystemTime;

use super::unix_secs;
use crate::types::{Lease, StrippedLease};

impl Lease {
    /// Who holds the lease; empty when absent.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or_default()
    }

    /// Why it is held; empty when absent.
    pub fn description(&self) -> &str {
        self.description.as_deref().unwrap_or_default()
    }

    /// When the lease ends unless refreshed.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.and_then(unix_secs)
    }

    /// The machine version the lease was taken on.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

impl StrippedLease {
    /// Who holds the lease; empty when absent.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or_default()
    }

    /// Why it is held; empty when absent.
    pub fn description(&self) -> &str {
        self.description.as_deref().unwrap_or_default()
    }

    /// When the lease ends unless refreshed.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.and_then(unix_secs)
    }
}
