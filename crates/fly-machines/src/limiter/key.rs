//! The key a call is paced under, as Fly keys its limits: the operation and the machine id or
//! app name it targets. Both backends pace by it; the shared one also names its Redis key after it.

use fly_machines_api::{LimitScope, Operation, OperationId};

/// The key a call is limited under: the operation and the machine id or app name it targets.
///
/// Built on every request, so short scopes (every machine id, most app names) are kept inline
/// and making a key does not allocate.
#[derive(Clone, PartialEq, Eq)]
pub struct LimitKey {
    operation: OperationId,
    scope: Scope,
}

impl LimitKey {
    /// The key of `operation` on `scope` (a machine id, an app name, or "").
    pub fn new(operation: OperationId, scope: &str) -> Self {
        LimitKey {
            operation,
            scope: Scope::new(scope),
        }
    }

    /// The key of a call of `operation` on the request path `url_path`: scoped by machine, by
    /// app, or by the action alone, as the operation's rate-limit class says.
    pub(crate) fn of_call(operation: &'static Operation, url_path: &str) -> Self {
        let scope = match operation.rate_limit.scope() {
            LimitScope::Machine => operation.path_param(url_path, "machine_id"),
            LimitScope::App => operation.path_param(url_path, "app_name"),
            LimitScope::Action => None,
        };
        LimitKey::new(operation.op, scope.unwrap_or(""))
    }

    /// The operation.
    pub fn operation(&self) -> OperationId {
        self.operation
    }

    /// The machine id or app name, "" for global calls.
    pub fn scope(&self) -> &str {
        self.scope.as_str()
    }
}

impl std::fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.operation, self.scope())
    }
}

impl std::hash::Hash for LimitKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The scope's text only: the inline form's padding would triple the bytes hashed.
        self.operation.hash(state);
        self.scope().hash(state);
    }
}

/// Longest scope kept inline; machine ids are 14 characters, app names at most 63.
const INLINE_SCOPE: usize = 46;

/// A short string without a heap allocation, or a boxed one past [`INLINE_SCOPE`] bytes. A given
/// string always takes the same form (and inline padding is zero), so the derived equality is
/// exact.
#[derive(Clone, PartialEq, Eq)]
enum Scope {
    Inline(u8, [u8; INLINE_SCOPE]),
    Heap(Box<str>),
}

impl Scope {
    fn new(scope: &str) -> Self {
        match u8::try_from(scope.len()) {
            Ok(len) if scope.len() <= INLINE_SCOPE => {
                let mut bytes = [0; INLINE_SCOPE];
                bytes[..scope.len()].copy_from_slice(scope.as_bytes());
                Scope::Inline(len, bytes)
            }
            _ => Scope::Heap(scope.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always a whole `&str` copied in `new`, so this never fails.
            Scope::Inline(len, bytes) => std::str::from_utf8(&bytes[..*len as usize]).unwrap_or(""),
            Scope::Heap(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_text_short_or_long() {
        let long = "a".repeat(INLINE_SCOPE + 1);
        for scope in ["", "m1", "e784079b449483", long.as_str()] {
            let key = LimitKey::new(OperationId::MachinesStart, scope);
            assert_eq!(key.scope(), scope);
            assert_eq!(key, LimitKey::new(OperationId::MachinesStart, scope));
            assert_ne!(key, LimitKey::new(OperationId::MachinesStop, scope));
            assert_ne!(
                key,
                LimitKey::new(OperationId::MachinesStart, &format!("{scope}x"))
            );
        }
        let mut set = std::collections::HashSet::new();
        set.insert(LimitKey::new(OperationId::MachinesStart, &long));
        assert!(set.contains(&LimitKey::new(OperationId::MachinesStart, &long)));
        assert_eq!(
            format!("{:?}", LimitKey::new(OperationId::MachinesStart, "m1")),
            "Machines_start/m1"
        );
    }

    #[test]
    fn keys_follow_fly_scopes() {
        let start = Operation::by_id("Machines_start").unwrap();
        assert_eq!(
            LimitKey::of_call(start, "/v1/apps/a/machines/m1/start"),
            LimitKey::new(OperationId::MachinesStart, "m1")
        );
        let create = Operation::by_id("Machines_create").unwrap();
        assert_eq!(
            LimitKey::of_call(create, "/v1/apps/a/machines"),
            LimitKey::new(OperationId::MachinesCreate, "a")
        );
        let regions = Operation::by_id("Platform_regions_get").unwrap();
        assert_eq!(
            LimitKey::of_call(regions, "/v1/platform/regions"),
            LimitKey::new(OperationId::PlatformRegionsGet, "")
        );
    }
}
