//! Model-based test: random sequences of Managed Postgres operations on one cluster, run against
//! the emulator and against a small reference model, must agree on every status code, and the
//! cluster's users, databases and status must match the model after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::*;
use proptest::prelude::*;
use serde_json::json;

/// One Postgres phase, in ms.
const STEP_MS: u64 = 1_000;
const USERS: &[&str] = &["alice", "bob", "fly-user"];
const ROLES: &[&str] = &["schema_admin", "writer", "reader"];
const DATABASES: &[&str] = &["shop", "logs", "fly-db"];

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    CreateUser(usize, usize),
    SetRole(usize, usize),
    DeleteUser(usize),
    Rotate(usize),
    CreateDatabase(usize),
    DeleteDatabase(usize),
    Backup,
    Delete,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..2_500).prop_map(Op::Advance),
        2 => (0..USERS.len(), 0..ROLES.len()).prop_map(|(u, r)| Op::CreateUser(u, r)),
        1 => (0..USERS.len(), 0..ROLES.len()).prop_map(|(u, r)| Op::SetRole(u, r)),
        1 => (0..USERS.len()).prop_map(Op::DeleteUser),
        1 => (0..USERS.len()).prop_map(Op::Rotate),
        2 => (0..DATABASES.len()).prop_map(Op::CreateDatabase),
        1 => (0..DATABASES.len()).prop_map(Op::DeleteDatabase),
        1 => Just(Op::Backup),
        1 => Just(Op::Delete),
    ]
}

/// What Fly's documentation says a cluster does, reduced to what these operations touch.
struct Model {
    now: u64,
    deleting_at: Option<u64>,
    users: BTreeMap<&'static str, &'static str>,
    databases: BTreeSet<&'static str>,
    backup_until: Option<u64>,
}

impl Model {
    fn status(&self) -> &'static str {
        match self.deleting_at {
            Some(t) if self.now >= t + STEP_MS => "deleted",
            Some(_) => "deleting",
            None if self.now < STEP_MS => "creating",
            None if self.now < 2 * STEP_MS => "initializing",
            None => "ready",
        }
    }

    /// The status an operation needing the database gets before its own checks, if any
    /// (`gone`: the operation documents a 410 for a cluster being deleted or deleted).
    fn gate_for(&self, gone: bool) -> Option<u16> {
        match (self.status(), gone) {
            ("ready", _) => None,
            ("creating" | "initializing", _) => Some(503),
            (_, true) => Some(410),
            ("deleting", false) => Some(503),
            _ => Some(404),
        }
    }

    fn gate(&self) -> Option<u16> {
        self.gate_for(false)
    }

    fn apply(&mut self, op: &Op) -> u16 {
        match *op {
            Op::Advance(_) => 0,
            Op::CreateUser(u, r) => self.gate().unwrap_or_else(|| {
                if self.users.contains_key(USERS[u]) {
                    409
                } else {
                    self.users.insert(USERS[u], ROLES[r]);
                    201
                }
            }),
            Op::SetRole(u, r) => {
                self.gate()
                    .unwrap_or_else(|| match self.users.get_mut(USERS[u]) {
                        Some(role) => {
                            *role = ROLES[r];
                            204
                        }
                        None => 404,
                    })
            }
            Op::DeleteUser(u) => self.gate().unwrap_or_else(|| {
                if self.users.remove(USERS[u]).is_some() {
                    204
                } else {
                    404
                }
            }),
            Op::Rotate(u) => self.gate_for(true).unwrap_or_else(|| {
                if self.users.contains_key(USERS[u]) {
                    200
                } else {
                    404
                }
            }),
            Op::CreateDatabase(d) => self.gate().unwrap_or_else(|| {
                if self.databases.insert(DATABASES[d]) {
                    201
                } else {
                    422
                }
            }),
            Op::DeleteDatabase(d) => self.gate().unwrap_or_else(|| {
                if self.databases.remove(DATABASES[d]) {
                    200
                } else {
                    404
                }
            }),
            Op::Backup => self.gate().unwrap_or_else(|| {
                if self.backup_until.is_some_and(|t| self.now < t) {
                    409
                } else {
                    self.backup_until = Some(self.now + STEP_MS);
                    202
                }
            }),
            Op::Delete => match self.status() {
                "deleting" | "deleted" => 410,
                _ => {
                    self.deleting_at = Some(self.now);
                    202
                }
            },
        }
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let sim = manual()
        .postgres_step(Duration::from_millis(STEP_MS))
        .start()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let http = Http::new(&sim);
    let created = http
        .post(
            "/postgres",
            json!({ "org_slug": "personal", "plan": "basic", "region": "iad" }),
        )
        .await;
    prop_assert_eq!(created.status, 201);
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let p = |s: String| format!("/postgres/{id}{s}");
    let mut model = Model {
        now: 0,
        deleting_at: None,
        users: BTreeMap::from([("fly-user", "schema_admin")]),
        databases: BTreeSet::from(["fly-db"]),
        backup_until: None,
    };

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        let answer = match *op {
            Op::Advance(ms) => {
                sim.advance(Duration::from_millis(ms));
                model.now += ms;
                None
            }
            Op::CreateUser(u, r) => Some(
                http.post(
                    &p("/users".into()),
                    json!({ "username": USERS[u], "role": ROLES[r] }),
                )
                .await,
            ),
            Op::SetRole(u, r) => Some(
                http.patch(
                    &p(format!("/users/{}", USERS[u])),
                    json!({ "role": ROLES[r] }),
                )
                .await,
            ),
            Op::DeleteUser(u) => Some(http.delete(&p(format!("/users/{}", USERS[u]))).await),
            Op::Rotate(u) => Some(
                http.post_empty(&p(format!("/users/{}/rotate_password", USERS[u])))
                    .await,
            ),
            Op::CreateDatabase(d) => Some(
                http.post(&p("/databases".into()), json!({ "name": DATABASES[d] }))
                    .await,
            ),
            Op::DeleteDatabase(d) => Some(
                http.delete(&p(format!("/databases/{}", DATABASES[d])))
                    .await,
            ),
            Op::Backup => Some(
                http.post(&p("/backups".into()), json!({ "type": "full" }))
                    .await,
            ),
            Op::Delete => Some(http.delete(&p(String::new())).await),
        };
        let expected = model.apply(op);
        if let Some(a) = answer {
            prop_assert_eq!(a.status, expected, "{} answered {}", ctx, a.text);
        }

        // The cluster agrees with the model after every step.
        let shown = http.get(&p(String::new())).await;
        match model.status() {
            "deleted" => prop_assert_eq!(shown.status, 404, "{}", ctx),
            status => prop_assert_eq!(
                shown.body["data"]["status"].as_str(),
                Some(status),
                "{}",
                ctx
            ),
        }
        if model.status() == "ready" {
            let users = http.get(&p("/users".into())).await;
            let seen: BTreeMap<String, String> = users.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|u| {
                    (
                        u["username"].as_str().unwrap_or("").to_string(),
                        u["role"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            let want: BTreeMap<String, String> = model
                .users
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            prop_assert_eq!(seen, want, "{}", ctx);
            let dbs = http.get(&p("/databases".into())).await;
            let seen: BTreeSet<String> = dbs.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["name"].as_str().unwrap_or("").to_string())
                .collect();
            let want: BTreeSet<String> = model.databases.iter().map(|d| d.to_string()).collect();
            prop_assert_eq!(seen, want, "{}", ctx);
        }
    }
    sim.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn emulator_agrees_with_the_postgres_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run(ops))?;
    }
}
