//! Reading OpenAPI documents with errors that name the file and the place in it.

use std::path::Path;

/// Our document, relative to the workspace root.
pub const SPEC_PATH: &str = "openapi/fly-machines.json";

/// Reads a file as JSON; errors name the file and the line and column.
pub fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid JSON: {e} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// Reads an OpenAPI 3.0 document; a structural error names the JSON path that failed.
pub fn read_openapi(path: &Path) -> Result<(serde_json::Value, openapiv3::OpenAPI), String> {
    let value = read_json(path)?;
    let version = value.get("openapi").and_then(|v| v.as_str()).unwrap_or("");
    if !version.starts_with("3.0.") {
        return Err(format!(
            "{}: field `openapi` is {version:?}; expected an OpenAPI 3.0.x document",
            path.display()
        ));
    }
    let parsed: openapiv3::OpenAPI =
        serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            format!(
                "{}: invalid OpenAPI at `{}`: {}",
                path.display(),
                e.path(),
                e.inner()
            )
        })?;
    Ok((value, parsed))
}
