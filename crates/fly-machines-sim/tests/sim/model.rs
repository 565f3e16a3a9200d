//! Model-based test: random sequences of machine operations run against the emulator and against
//! a small reference model of Fly's state machine must agree on every status and every state.

use std::time::Duration;

use crate::common::*;
use proptest::prelude::*;
use serde_json::json;

const TTL_MS: u64 = 30_000;

#[derive(Debug, Clone)]
enum Op {
    Create { skip_launch: bool },
    Start(usize, bool),
    Stop(usize, bool),
    Suspend(usize, bool),
    Restart(usize, bool),
    Update(usize, bool),
    Destroy { m: usize, force: bool, nonce: bool },
    Get(usize),
    Acquire(usize, bool),
    Release(usize, bool),
    Wait(usize, &'static str),
    Advance,
    AdvanceLong,
}

fn op() -> impl Strategy<Value = Op> {
    let m = 0usize..6;
    let b = any::<bool>;
    prop_oneof![
        3 => b().prop_map(|skip_launch| Op::Create { skip_launch }),
        3 => (m.clone(), b()).prop_map(|(m, n)| Op::Start(m, n)),
        3 => (m.clone(), b()).prop_map(|(m, n)| Op::Stop(m, n)),
        2 => (m.clone(), b()).prop_map(|(m, n)| Op::Suspend(m, n)),
        2 => (m.clone(), b()).prop_map(|(m, n)| Op::Restart(m, n)),
        2 => (m.clone(), b()).prop_map(|(m, n)| Op::Update(m, n)),
        2 => (m.clone(), b(), b()).prop_map(|(m, force, nonce)| Op::Destroy { m, force, nonce }),
        1 => m.clone().prop_map(Op::Get),
        2 => (m.clone(), b()).prop_map(|(m, n)| Op::Acquire(m, n)),
        1 => (m.clone(), b()).prop_map(|(m, n)| Op::Release(m, n)),
        2 => (
            m.clone(),
            prop::sample::select(vec!["started", "stopped", "suspended", "destroyed", "failed", "settled"])
        )
            .prop_map(|(m, s)| Op::Wait(m, s)),
        4 => Just(Op::Advance),
        1 => Just(Op::AdvanceLong),
    ]
}

/// The reference model of one machine.
#[derive(Debug, Clone)]
struct Model {
    state: &'static str,
    /// States still to come, each one step after the previous.
    pending: Vec<&'static str>,
    lease_until: u64,
}

impl Model {
    fn busy(&self) -> bool {
        !self.pending.is_empty()
    }
    fn hidden(&self) -> bool {
        self.state == "destroyed"
    }
    fn gone(&self) -> bool {
        self.state == "destroying" || self.pending.contains(&"destroyed")
    }
    fn leased(&self, now: u64) -> bool {
        now < self.lease_until
    }
    fn begin(&mut self, first: &'static str, then: &[&'static str]) {
        self.state = first;
        self.pending = then.to_vec();
    }
    fn settle(&mut self) {
        if let Some(last) = self.pending.last() {
            self.state = last;
        }
        self.pending.clear();
    }
    fn resting(&self) -> bool {
        !self.busy()
            && matches!(
                self.state,
                "created" | "started" | "stopped" | "suspended" | "failed" | "destroyed"
            )
    }
    fn matches(&self, want: &str) -> bool {
        self.state == want || (want == "settled" && self.resting())
    }
}

/// Expected status of a lifecycle call, applying its effect to the model.
fn lifecycle(m: &mut Model, op: &Op, now: u64) -> u16 {
    if m.hidden() {
        return 404;
    }
    let with_nonce = match op {
        Op::Start(_, n)
        | Op::Stop(_, n)
        | Op::Suspend(_, n)
        | Op::Restart(_, n)
        | Op::Update(_, n) => *n,
        Op::Destroy { nonce, .. } => *nonce,
        _ => true,
    };
    if m.leased(now) && !with_nonce {
        return 409;
    }
    match op {
        Op::Start(..) => {
            if m.busy() || !matches!(m.state, "stopped" | "created" | "suspended") {
                return 412;
            }
            m.begin("starting", &["started"]);
        }
        Op::Stop(..) => {
            if m.busy() || m.gone() {
                return 412;
            }
            if matches!(m.state, "started" | "suspended" | "failed") {
                m.begin("stopping", &["stopped"]);
            }
        }
        Op::Suspend(..) => {
            if m.busy() || m.state != "started" {
                return 412;
            }
            m.begin("suspending", &["suspended"]);
        }
        Op::Restart(..) => {
            if m.busy() || !matches!(m.state, "started" | "failed") {
                return 412;
            }
            m.begin("restarting", &["started"]);
        }
        Op::Update(..) => {
            if m.gone() {
                return 412;
            }
            let destination = *m.pending.last().unwrap_or(&m.state);
            let end = match destination {
                "started" | "failed" => "started",
                "created" => "created",
                _ => "stopped",
            };
            m.begin("replacing", &[end]);
        }
        Op::Destroy { force, .. } => {
            if m.gone() {
                return 200;
            }
            let stoppable =
                !m.busy() && matches!(m.state, "stopped" | "created" | "failed" | "suspended");
            if !stoppable && !force {
                return 412;
            }
            m.begin("destroying", &["destroyed"]);
            m.lease_until = 0;
        }
        _ => unreachable!("not a lifecycle call"),
    }
    200
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("m").await;
    let mut ids: Vec<String> = Vec::new();
    let mut models: Vec<Model> = Vec::new();
    let mut nonces: Vec<Option<String>> = Vec::new();
    let mut now: u64 = 0;

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        if let Op::Create { skip_launch } = op {
            let m = http
                .machine("m", json!({ "skip_launch": skip_launch }))
                .await;
            prop_assert_eq!(m["state"].as_str(), Some("created"), "{}", ctx);
            ids.push(m["id"].as_str().unwrap_or_default().to_string());
            nonces.push(None);
            models.push(Model {
                state: "created",
                pending: if *skip_launch {
                    vec![]
                } else {
                    vec!["starting", "started"]
                },
                lease_until: 0,
            });
        } else if matches!(op, Op::Advance | Op::AdvanceLong) {
            let by = if matches!(op, Op::Advance) {
                500
            } else {
                TTL_MS + 1_000
            };
            sim.advance(Duration::from_millis(by));
            now += by;
            models.iter_mut().for_each(Model::settle);
        } else if !ids.is_empty() {
            let i = match op {
                Op::Start(i, _)
                | Op::Stop(i, _)
                | Op::Suspend(i, _)
                | Op::Restart(i, _)
                | Op::Update(i, _)
                | Op::Destroy { m: i, .. }
                | Op::Get(i)
                | Op::Acquire(i, _)
                | Op::Release(i, _)
                | Op::Wait(i, _) => i % ids.len(),
                _ => unreachable!(),
            };
            let id = ids[i].clone();
            let base = format!("/apps/m/machines/{id}");
            let nonce = nonces[i].clone().unwrap_or_else(|| "none-held".to_string());
            let model = &mut models[i];
            match op {
                Op::Get(_) => {
                    let a = http.get(&base).await;
                    let expected = if model.hidden() { 404 } else { 200 };
                    prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                    if expected == 200 {
                        prop_assert_eq!(a.body["state"].as_str(), Some(model.state), "{}", ctx);
                    }
                }
                Op::Acquire(_, with_nonce) => {
                    let expected = if model.hidden() {
                        404
                    } else if model.gone() {
                        412
                    } else if model.leased(now) && !with_nonce {
                        409
                    } else {
                        201
                    };
                    let a = if *with_nonce {
                        http.post_nonce(
                            &format!("{base}/lease"),
                            Some(json!({ "ttl": 30 })),
                            &nonce,
                        )
                        .await
                    } else {
                        http.post(&format!("{base}/lease"), json!({ "ttl": 30 }))
                            .await
                    };
                    prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                    if expected == 201 {
                        model.lease_until = now + TTL_MS;
                        let got = a.body["data"]["nonce"].as_str().map(str::to_string);
                        prop_assert!(got.is_some(), "{}", ctx);
                        nonces[i] = got;
                    }
                }
                Op::Release(_, with_nonce) => {
                    let sent = if *with_nonce {
                        nonce.clone()
                    } else {
                        "bogus".to_string()
                    };
                    let expected = if model.hidden() || !model.leased(now) {
                        404
                    } else if *with_nonce {
                        200
                    } else {
                        409
                    };
                    let a = http
                        .send(
                            reqwest::Method::DELETE,
                            &format!("{base}/lease"),
                            None,
                            Some(&sent),
                        )
                        .await;
                    prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                    if expected == 200 {
                        model.lease_until = 0;
                    }
                }
                Op::Wait(_, want) => {
                    let path = format!("{base}/wait?state={want}&timeout=1");
                    if model.hidden() {
                        let expected = if matches!(*want, "destroyed" | "settled") {
                            200
                        } else {
                            404
                        };
                        let a = http.get(&path).await;
                        prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                    } else if model.matches(want) {
                        let a = http.get(&path).await;
                        prop_assert_eq!(a.status, 200, "{}: {}", ctx, a.text);
                        prop_assert_eq!(a.body["state"].as_str(), Some(model.state), "{}", ctx);
                    } else {
                        // Parks; two seconds later the machine has settled and the wait is over.
                        let waiter = {
                            let http = http.clone();
                            tokio::spawn(async move { http.get(&path).await })
                        };
                        sim.until_parked(1).await;
                        sim.advance(Duration::from_secs(2));
                        now += 2_000;
                        models.iter_mut().for_each(Model::settle);
                        let model = &models[i];
                        let a = waiter
                            .await
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let expected = if model.hidden() {
                            if matches!(*want, "destroyed" | "settled") {
                                200
                            } else {
                                404
                            }
                        } else if model.matches(want) {
                            200
                        } else {
                            408
                        };
                        prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                    }
                }
                _ => {
                    let expected = lifecycle(model, op, now);
                    let nonce_to_send = match op {
                        Op::Start(_, true)
                        | Op::Stop(_, true)
                        | Op::Suspend(_, true)
                        | Op::Restart(_, true)
                        | Op::Update(_, true)
                        | Op::Destroy { nonce: true, .. } => Some(nonce.as_str()),
                        _ => None,
                    };
                    let (method, path, body) = match op {
                        Op::Start(..) => (reqwest::Method::POST, format!("{base}/start"), None),
                        Op::Stop(..) => (reqwest::Method::POST, format!("{base}/stop"), None),
                        Op::Suspend(..) => (reqwest::Method::POST, format!("{base}/suspend"), None),
                        Op::Restart(..) => (reqwest::Method::POST, format!("{base}/restart"), None),
                        Op::Update(..) => (
                            reqwest::Method::POST,
                            base.clone(),
                            Some(json!({ "config": { "image": format!("img:{step}") } })),
                        ),
                        Op::Destroy { force, .. } => (
                            reqwest::Method::DELETE,
                            format!("{base}?force={force}"),
                            None,
                        ),
                        _ => unreachable!(),
                    };
                    let a = http.send(method, &path, body, nonce_to_send).await;
                    prop_assert_eq!(a.status, expected, "{}: {}", ctx, a.text);
                }
            }
        }
        // After every step, every machine's state agrees with the model.
        for (id, model) in ids.iter().zip(&models) {
            let seen = sim.machine("m", id).and_then(|m| m.state);
            prop_assert_eq!(
                seen.as_deref(),
                Some(model.state),
                "{} (machine {})",
                ctx,
                id
            );
        }
    }
    let live = models.iter().filter(|m| m.state != "destroyed").count();
    prop_assert_eq!(sim.machine_count("m"), live);
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
    fn emulator_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run(ops))?;
    }
}
