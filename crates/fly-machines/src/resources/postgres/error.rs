//! Postgres operations answer errors as `{"error": "..."}`, a shape the shared error parsing
//! already reads (the message from `error`, no code); this hands the body to it.

use crate::ErrorBody;
use crate::types::PostgresErrorResponse;

impl ErrorBody for PostgresErrorResponse {
    async fn into_text(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}
