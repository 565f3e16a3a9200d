//! The corrections we made to Fly's published spec on purpose, in one place.
//!
//! `spec-diff` counts a difference as explained when one of these entries matches it. Each entry
//! says why we differ; `*` in a pattern matches any run of characters.

use crate::diff::Difference;

/// One deliberate difference from the upstream document.
pub struct Correction {
    /// Short name shown in the report.
    pub name: &'static str,
    /// Report group the correction applies to.
    pub group: &'static str,
    /// Pattern for the difference's subject; `|` separates alternatives.
    pub subject: &'static str,
    /// Pattern for the difference's detail; `T -> T?` means "only made nullable".
    pub detail: &'static str,
    /// One line: why we differ.
    pub reason: &'static str,
}

impl Correction {
    /// Whether this correction explains `d`.
    pub fn explains(&self, d: &Difference) -> bool {
        let detail_matches = if self.detail == NULLABLE_ONLY {
            d.detail
                .split_once(" -> ")
                .is_some_and(|(before, after)| after.strip_suffix('?') == Some(before))
        } else {
            glob(self.detail, &d.detail)
        };
        self.group == d.group
            && self.subject.split('|').any(|p| glob(p, &d.subject))
            && detail_matches
    }
}

/// Detail pattern for a property that only became nullable.
const NULLABLE_ONLY: &str = "T -> T?";

/// Our name for an upstream schema: Go package prefix dropped, first letter upper-cased
/// (`fly.MachineConfig` -> `MachineConfig`, `main.statusCode` -> `StatusCode`).
pub fn our_schema_name(upstream: &str) -> String {
    let base = upstream.split_once('.').map_or(upstream, |(_, rest)| rest);
    let mut chars = base.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Values seen in real documents (`../shared/examples`) that our document leaves out on purpose:
/// JSON place and why. The round-trip test of the api crate pins the same list.
pub const LEFT_OUT: &[(&str, &str)] = &[(
    "File.local_path (machine-config-containers-files.json)",
    "a flyctl input, not an API field: flyctl reads the local file and sends its contents as \
     raw_value, so the API neither takes nor returns it",
)];

/// Every deliberate difference, with its reason.
pub const CORRECTIONS: &[Correction] = &[
    Correction {
        name: "patch-metadata-id",
        group: "operations",
        subject: "PATCH /apps/{app_name}/machines/{machine_id}/metadata",
        detail: "operationId Machines_update_metadata -> operationId Machines_patch_metadata",
        reason: "Fly uses one operationId for PUT and PATCH; ids must be unique to generate a client (D-1)",
    },
    Correction {
        name: "metadata-ids-kept",
        group: "operations",
        subject: "PUT /apps/{app_name}/machines/{machine_id}/metadata",
        detail: "operationId Machines_update_metadata_deprecated -> operationId Machines_update_metadata",
        reason: "Fly's 2026-12 document renamed PUT to Machines_update_metadata_deprecated and gave its old \
                 id to PATCH; we keep our own names (PUT Machines_update_metadata, PATCH \
                 Machines_patch_metadata) so the generated methods, the operation table and every \
                 caller keep their names, and the wire calls are the same",
    },
    Correction {
        name: "version-twins",
        group: "properties",
        subject: "*.Version",
        detail: "removed (integer)",
        reason: "deprecated `Version` duplicates `version` and collides with it in Rust (D-2)",
    },
    Correction {
        name: "nullable-collections",
        group: "properties",
        subject: "*",
        detail: NULLABLE_ONLY,
        reason: "the API sends null for empty arrays, maps and objects (D-5, R6)",
    },
    Correction {
        name: "autostop-bool-or-string",
        group: "properties",
        subject: "MachineService.autostop",
        detail: "string -> oneOf(boolean|string)",
        reason: "responses still carry booleans for off/stop (D-6, R4)",
    },
    Correction {
        name: "header-values-any",
        group: "properties",
        subject: "HTTPResponseOptions.headers",
        detail: "map<object> -> map<any>?",
        reason: "header override values are strings or string arrays, not objects (D-13, R8)",
    },
    Correction {
        name: "bytes-are-base64",
        group: "properties",
        subject: "*",
        detail: "array<integer> -> string(byte)",
        reason: "Go []byte fields travel as base64 strings, not integer arrays (D-10, R10)",
    },
    Correction {
        name: "action-is-string",
        group: "schemas",
        subject: "Action",
        detail: "integer* -> string",
        reason: "resset.Action is marshalled as a permission string such as \"rwcdC\" (D-9, R9)",
    },
    Correction {
        name: "action-is-string",
        group: "enum values",
        subject: "Action",
        detail: "removed *",
        reason: "the integer bit values never appear on the wire (D-9, R9)",
    },
    Correction {
        name: "lease-envelope",
        group: "bodies",
        subject: "* /apps/{app_name}/machines/{machine_id}/lease response *",
        detail: "* -> application/json Lease*Envelope",
        reason: "lease endpoints answer with a {status, data, message, code} envelope (D-8, R7)",
    },
    Correction {
        name: "lease-nonce-header",
        group: "parameters",
        subject: "* /apps/{app_name}/machines/{machine_id}* header:fly-machine-lease-nonce",
        detail: "added *",
        reason: "Fly refuses changes to a leased machine without the nonce (409), so every call that \
                 changes a machine declares the header its lease calls already declare",
    },
    Correction {
        name: "lease-envelope",
        group: "schemas",
        subject: "Lease*Envelope",
        detail: "added (object)",
        reason: "the lease envelope and its release variant (D-8, R7)",
    },
    Correction {
        name: "lease-envelope",
        group: "properties",
        subject: "Lease*Envelope.*",
        detail: "added *",
        reason: "fields of the lease envelope (D-8, R7)",
    },
    Correction {
        name: "undeclared-bodies",
        group: "bodies",
        subject: "POST /apps*response 20*",
        detail: "no body -> application/json *Response",
        reason: "machine start and volume snapshot return JSON bodies Fly's spec leaves out (D-12)",
    },
    Correction {
        name: "undeclared-bodies",
        group: "schemas",
        subject: "StartMachineResponse|OkResponse|CreateVolumeSnapshot*|VolumeBackup",
        detail: "added (object)",
        reason: "schemas for the bodies Fly's spec leaves out (D-12)",
    },
    Correction {
        name: "undeclared-bodies",
        group: "properties",
        subject: "StartMachineResponse.*|OkResponse.*|CreateVolumeSnapshot*.*|VolumeBackup.*",
        detail: "added *",
        reason: "fields of the bodies Fly's spec leaves out, as the API documents them (D-12)",
    },
    Correction {
        name: "undeclared-bodies",
        group: "enum values",
        subject: "VolumeBackup.type",
        detail: "added *",
        reason: "known values of a body Fly's spec leaves out, as the API's documents show them (D-12)",
    },
    Correction {
        name: "exec-json-only",
        group: "bodies",
        subject: "POST /apps/{app_name}/machines/{machine_id}/exec response *",
        detail: "* | application/octet-stream * -> application/json *",
        reason: "exec answers JSON; a second media type with the same schema only confuses clients (D-20)",
    },
    Correction {
        name: "oidc-error-text",
        group: "bodies",
        subject: "POST /tokens/oidc response 400",
        detail: "text/plain ErrorResponse -> text/plain string",
        reason: "a text/plain body cannot be a JSON object; the error is plain text (D-21)",
    },
    Correction {
        name: "fields-in-real-documents",
        group: "properties",
        subject: "CreateAppRequest.app_name|Volume.host_dedication_key",
        detail: "added *",
        reason: "Fly's own examples carry them (app_name is the older spelling of name); without \
                 them a decoded document loses a value",
    },
    Correction {
        name: "declared-error-statuses",
        group: "bodies",
        subject: "* response 4*|* response 5*",
        detail: "added (*)",
        reason: "every operation declares each error status the API answers it with, in the body \
                 shape of its part of the API (rule and reasons: xtask/src/statuses.rs)",
    },
    Correction {
        name: "declared-error-statuses",
        group: "parameters",
        subject: "* response 429 header:retry-after|* response 503 header:retry-after",
        detail: "added (integer)",
        reason: "the rate-limit and unavailable answers declare the Retry-After header the API \
                 sends with them, in seconds",
    },
    Correction {
        name: "kept-removed-fields",
        group: "properties",
        subject: "CreateMachineRequest.lsvd|UpdateMachineRequest.lsvd|MachineRestart.gpu_bid_price|OrgMachine.instance_id",
        detail: "added *",
        reason: "Fly's 2026-10 document dropped these; older servers still send them, so we keep them, \
                 marked deprecated, and answers from those servers still decode",
    },
    Correction {
        name: "kept-removed-fields",
        group: "enum values",
        subject: "MachineRestart.policy",
        detail: "added *spot-price*",
        reason: "restart policy \"spot-price\" left Fly's document but older machines still carry it",
    },
    Correction {
        name: "timestamps-as-text",
        group: "properties",
        subject: "PostgresCluster.created_at|PostgresClusterSummary.created_at",
        detail: "string(date-time) -> string",
        reason: "every other timestamp in the API is plain text; keeping these as text too needs no date \
                 library and gives back exactly the string the server sent",
    },
    Correction {
        name: "metadata-filter-template",
        group: "parameters",
        subject: "GET /apps/{app_name}/machines query:metadata.{key}",
        detail: "removed *",
        reason: "`metadata.{key}` stands for one query name per metadata key (metadata.role=db), not a \
                 parameter named with braces; a generated client would send the braces, so callers add \
                 such pairs as extra query pairs instead",
    },
    Correction {
        name: "process-sort-keys",
        group: "parameters",
        subject: "GET /apps/{app_name}/machines/{machine_id}/ps query:sort_by",
        detail: "string -> ProcessSortKey",
        reason: "the sort keys are the field names of a process entry; declared as one enum so the \
                 client and the emulator read the same generated type instead of two word lists",
    },
    Correction {
        name: "process-sort-keys",
        group: "schemas",
        subject: "ProcessSortKey",
        detail: "added (string)",
        reason: "the enum of the sort keys (see above)",
    },
    Correction {
        name: "process-sort-keys",
        group: "enum values",
        subject: "ProcessSortKey",
        detail: "added *",
        reason: "the sort keys: ProcessStat's own field names",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_go_prefixes() {
        assert_eq!(our_schema_name("fly.MachineConfig"), "MachineConfig");
        assert_eq!(our_schema_name("main.statusCode"), "StatusCode");
        assert_eq!(our_schema_name("assignIPRequest"), "AssignIPRequest");
        assert_eq!(our_schema_name(""), "");
    }

    #[test]
    fn nullable_only_rejects_type_changes() {
        let rule = CORRECTIONS
            .iter()
            .find(|c| c.name == "nullable-collections")
            .unwrap();
        let diff = |detail: &str| Difference {
            group: "properties",
            subject: "Machine.events".into(),
            detail: detail.into(),
        };
        assert!(rule.explains(&diff("array<MachineEvent> -> array<MachineEvent>?")));
        assert!(!rule.explains(&diff("array<MachineEvent> -> array<string>?")));
        assert!(!rule.explains(&diff("array<MachineEvent> -> array<MachineEvent>")));
    }

    #[test]
    fn glob_matches_runs() {
        assert!(glob("*.Version", "SetSecretkeyResponse.Version"));
        assert!(glob(
            "GET /apps/*/wait query:state",
            "GET /apps/{app_name}/machines/{machine_id}/wait query:state"
        ));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXcYYb"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("*", ""));
    }
}
