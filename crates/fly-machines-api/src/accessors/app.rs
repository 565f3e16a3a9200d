//! Accessors for apps.

use std::time::SystemTime;

use super::unix_millis;
use crate::types::{App, CreateAppResponse};

impl App {
    /// The app's name; empty when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The app's id; empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The app's status word (`pending`, `deployed`...); empty when absent.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or_default()
    }

    /// The slug of the organization that owns the app.
    pub fn org_slug(&self) -> Option<&str> {
        self.organization.as_ref().and_then(|o| o.slug.as_deref())
    }
}

impl CreateAppResponse {
    /// The new app's id; empty when absent.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// When the app was created.
    pub fn created_at(&self) -> Option<SystemTime> {
        self.created_at.and_then(unix_millis)
    }
}
