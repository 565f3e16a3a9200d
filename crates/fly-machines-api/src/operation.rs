//! What the middleware needs to know about each operation, without matching on strings by hand.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The rate-limit bucket Fly applies to an operation.
///
/// Fly limits each action per machine (or per app where no machine exists yet): 1 request per
/// second with bursts of 3, except Get Machine which allows 5 per second with bursts of 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateLimitClass {
    /// Limited per action and machine.
    PerMachine,
    /// Get Machine's higher per-machine limit.
    GetMachine,
    /// Limited per action and app (no machine in the path).
    PerApp,
    /// Neither app nor machine in the path: limited per action.
    Global,
}

/// One row of the operation table, generated from `openapi/fly-machines.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The document's `operationId`, e.g. `Machines_wait`.
    pub id: &'static str,
    /// The generated method's name, e.g. `machines_wait`; progenitor reports this as the
    /// operation id to the hooks.
    pub name: &'static str,
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template relative to the base URL, e.g. `/apps/{app_name}/machines/{machine_id}`.
    pub path: &'static str,
    /// Whether repeating the call after it may have reached the server is safe.
    pub idempotent: bool,
    /// Fly's rate-limit bucket for this call.
    pub rate_limit: RateLimitClass,
}

impl Operation {
    /// Looks an operation up by its generated method name (what the hooks are told).
    pub fn find(name: &str) -> Option<&'static Operation> {
        // Called twice on every request: one hash and one comparison instead of a binary search
        // of string comparisons.
        static BY_NAME: OnceLock<HashMap<&'static str, &'static Operation>> = OnceLock::new();
        BY_NAME
            .get_or_init(|| crate::OPERATIONS.iter().map(|op| (op.name, op)).collect())
            .get(name)
            .copied()
    }

    /// Looks an operation up by the document's `operationId`.
    pub fn by_id(id: &str) -> Option<&'static Operation> {
        crate::OPERATIONS.iter().find(|op| op.id == id)
    }

    /// The values of the path parameters in `url_path`, matched against this operation's
    /// template, as `(name, value)` pairs (still percent-encoded).
    pub fn path_params<'a>(&self, url_path: &'a str) -> Vec<(&'static str, &'a str)> {
        let template: Vec<&'static str> = self.path.split('/').collect();
        let actual: Vec<&'a str> = url_path.split('/').collect();
        // The base URL may carry a prefix such as `/v1`: align on the template's tail.
        let Some(offset) = actual.len().checked_sub(template.len()) else {
            return Vec::new();
        };
        template
            .iter()
            .zip(&actual[offset..])
            .filter_map(|(t, a)| {
                t.strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .map(|name| (name, *a))
            })
            .collect()
    }

    /// The value of one path parameter in `url_path` (still percent-encoded), found the same way
    /// as [`path_params`](Self::path_params) but without allocating: it runs on every request.
    pub fn path_param<'a>(&self, url_path: &'a str, name: &str) -> Option<&'a str> {
        if url_path.split('/').count() < self.path.split('/').count() {
            return None;
        }
        self.path
            .rsplit('/')
            .zip(url_path.rsplit('/'))
            .find_map(|(t, a)| {
                let param = t.strip_prefix('{')?.strip_suffix('}')?;
                (param == name).then_some(a)
            })
    }

    /// Whether `url_path` (below `base_path`, e.g. `/v1`) is exactly this operation's template
    /// with every parameter filled in. A parameter that was empty, `.` or `..` makes URL
    /// normalisation move the request to another path; this catches that before it is sent.
    pub fn fits_path(&self, url_path: &str, base_path: &str) -> bool {
        let Some(rest) = url_path.strip_prefix(base_path.trim_end_matches('/')) else {
            return false;
        };
        // One pass over both, so a mismatch stops early and nothing is counted twice.
        let mut template = self.path.split('/');
        let mut actual = rest.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(t), Some(a)) => {
                    let fits = if t.starts_with('{') && t.ends_with('}') {
                        !a.is_empty() && a != "." && a != ".."
                    } else {
                        t == a
                    };
                    if !fits {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert_eq!(crate::OPERATIONS.len(), 76);
        assert!(crate::OPERATIONS.windows(2).all(|w| w[0].name < w[1].name));
        for op in &crate::OPERATIONS {
            assert_eq!(Operation::find(op.name), Some(op));
            assert_eq!(Operation::by_id(op.id), Some(op));
        }
        assert_eq!(Operation::find("nope"), None);
        assert_eq!(
            Operation::find("Machines_wait"),
            None,
            "lookups go by method name"
        );
        assert_eq!(
            Operation::find("create_volume_snapshot").unwrap().id,
            "createVolumeSnapshot"
        );
        assert_eq!(
            Operation::find("tokens_request_oidc").unwrap().id,
            "Tokens_request_OIDC"
        );
    }

    #[test]
    fn classes_follow_fly_limits() {
        let get = Operation::by_id("Machines_show").unwrap();
        assert_eq!(get.rate_limit, RateLimitClass::GetMachine);
        assert!(get.idempotent);
        let create = Operation::by_id("Machines_create").unwrap();
        assert_eq!(create.rate_limit, RateLimitClass::PerApp);
        assert!(!create.idempotent);
        let start = Operation::by_id("Machines_start").unwrap();
        assert_eq!(start.rate_limit, RateLimitClass::PerMachine);
        assert!(!start.idempotent);
        assert!(Operation::by_id("Volumes_update").unwrap().idempotent);
    }

    #[test]
    fn paths_moved_by_dot_segments_do_not_fit() {
        let op = Operation::by_id("Machines_show").unwrap();
        assert!(op.fits_path("/v1/apps/my-app/machines/abc123", "/v1"));
        assert!(op.fits_path("/apps/my-app/machines/abc123", ""));
        // `..` as the app name: normalisation turns the path into /v1/machines/m1.
        assert!(!op.fits_path("/v1/machines/m1", "/v1"));
        // `..` as the machine id: /v1/apps/a/machines/.. becomes /v1/apps/a/.
        assert!(!op.fits_path("/v1/apps/a/", "/v1"));
        assert!(!op.fits_path("/v1/apps//machines/m1", "/v1"));
        assert!(!op.fits_path("/v2/apps/a/machines/m1", "/v1"));
    }

    #[test]
    fn path_params_follow_the_template() {
        let op = Operation::by_id("Machines_show").unwrap();
        assert_eq!(
            op.path_params("/v1/apps/my-app/machines/abc123"),
            vec![("app_name", "my-app"), ("machine_id", "abc123")]
        );
        assert!(op.path_params("/v1").is_empty());
    }

    #[test]
    fn path_param_agrees_with_path_params() {
        let op = Operation::by_id("Machines_show").unwrap();
        let path = "/v1/apps/my-app/machines/abc123";
        assert_eq!(op.path_param(path, "app_name"), Some("my-app"));
        assert_eq!(op.path_param(path, "machine_id"), Some("abc123"));
        assert_eq!(op.path_param(path, "volume_id"), None);
        assert_eq!(op.path_param("/v1", "app_name"), None);
        for op in &crate::OPERATIONS {
            let filled = op.path.replace('{', "x-").replace('}', "");
            let path = format!("/v1{filled}");
            for (name, value) in op.path_params(&path) {
                assert_eq!(op.path_param(&path, name), Some(value), "{}", op.id);
            }
        }
    }
}
