//! Counts the retries the client makes on its own, from its trace events.
//!
//! The client's request policy emits a `retrying` event (with a `reason`) each time it sends a
//! request again. Counting those gives the exact number of automatic retries, apart from the
//! calls the orchestrator chose to repeat itself.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Retries seen so far, by reason (`http_503`, `interrupted`, ...).
#[derive(Debug, Clone, Default)]
pub struct Retries(Arc<Mutex<BTreeMap<String, u64>>>);

impl Retries {
    /// Installs the counter for the current thread (the test's runtime runs on it).
    pub fn install() -> (Retries, tracing::subscriber::DefaultGuard) {
        let retries = Retries::default();
        let subscriber = tracing_subscriber::registry().with(retries.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (retries, guard)
    }

    pub fn total(&self) -> u64 {
        self.0.lock().unwrap().values().sum()
    }

    pub fn by_reason(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    reason: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "reason" => self.reason = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "reason" => self.reason = format!("{value:?}").trim_matches('"').to_string(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Retries {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "retrying" {
            *self.0.lock().unwrap().entry(fields.reason).or_default() += 1;
        }
    }
}
