//! What a find-or-create (`ensure`) hands back: the resource, and whether this call made it.

use std::ops::Deref;

/// The resource an `ensure` made sure of, and whether this call created it or found it.
///
/// Every `ensure` looks first and creates only what it did not find; after an answer that was
/// lost it looks again before creating again, so a repeat (in this process or another) never
/// makes a second resource. Read the resource through `Deref` or [`into_inner`](Self::into_inner).
#[derive(Debug, Clone, PartialEq)]
pub struct Ensured<T> {
    value: T,
    created: bool,
}

impl<T> Ensured<T> {
    pub(crate) fn created(value: T) -> Ensured<T> {
        Ensured {
            value,
            created: true,
        }
    }

    pub(crate) fn found(value: T) -> Ensured<T> {
        Ensured {
            value,
            created: false,
        }
    }

    pub(crate) fn new(value: T, created: bool) -> Ensured<T> {
        Ensured { value, created }
    }

    /// Whether this call made the resource (a create of this call took effect, even when its
    /// answer was lost), rather than finding one that was already there.
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// Whether the resource was already there.
    pub fn was_found(&self) -> bool {
        !self.created
    }

    /// The resource.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The resource, keeping nothing else.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The same outcome with the resource turned into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Ensured<U> {
        Ensured {
            value: f(self.value),
            created: self.created,
        }
    }
}

impl<T> Deref for Ensured<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
