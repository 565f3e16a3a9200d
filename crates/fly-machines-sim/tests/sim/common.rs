//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use fly_machines_sim::{Sim, SimBuilder, SimHandle};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// One transition step in these tests.
pub const STEP: Duration = Duration::from_millis(100);

/// A builder with a manual clock, 100 ms transitions and no rate limits.
pub fn manual() -> SimBuilder {
    Sim::builder()
        .manual_clock()
        .transition_time(STEP)
        .no_rate_limits()
        .token("test-token")
}

pub async fn start() -> SimHandle {
    manual().start().await.expect("sim starts")
}

/// A thin raw-HTTP client that authenticates with the sim's token.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// An answer: status, headers and the body parsed as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Http {
    pub fn new(sim: &SimHandle) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: sim.base_url(),
            token: sim.token().to_string(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        nonce: Option<&str>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(n) = nonce {
            req = req.header("fly-machine-lease-nonce", n);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }
    pub async fn post_empty(&self, path: &str) -> Answer {
        self.send(reqwest::Method::POST, path, None, None).await
    }
    pub async fn post_nonce(&self, path: &str, body: Option<Value>, nonce: &str) -> Answer {
        self.send(reqwest::Method::POST, path, body, Some(nonce))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, path, Some(body), None)
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(body), None)
            .await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    /// Creates an app, asserting 201.
    pub async fn app(&self, name: &str) {
        let a = self
            .post("/apps", json!({ "name": name, "org_slug": "personal" }))
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
    }

    /// Creates a machine, asserting 200, and returns its JSON.
    pub async fn machine(&self, app: &str, extra: Value) -> Value {
        let mut body = json!({ "config": { "image": "nginx:1.27" } });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let a = self.post(&format!("/apps/{app}/machines"), body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body
    }

    /// Creates a machine, asserting 200, and returns its id.
    pub async fn machine_id(&self, app: &str, extra: Value) -> String {
        let created = self.machine(app, extra).await;
        created["id"].as_str().expect("a machine id").to_string()
    }

    pub async fn state(&self, app: &str, id: &str) -> String {
        let a = self.get(&format!("/apps/{app}/machines/{id}")).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["state"].as_str().unwrap_or_default().to_string()
    }
}

/// The generated raw client, authenticating with the sim's token.
pub fn raw_client(sim: &SimHandle) -> fly_machines_api::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", sim.token())).expect("header"),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    fly_machines_api::Client::new_with_client(
        &sim.base_url(),
        http,
        fly_machines_api::Inner::default(),
    )
}

/// Advances the sim far enough for any transition chain to finish.
pub fn settle(sim: &SimHandle) {
    sim.advance(STEP * 5);
}
