//! App creates made safe by an idempotency key (and `ensure` on top), machines listed and
//! fetched with their lease, and exec in the machine's own namespace. Then (module
//! `paging_and_versions`): listings that follow cursors, machine versions and optimistic
//! updates, and the interop fixes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fly_machines::{Client, RetryPolicy, types};
use fly_machines_httpmock::{FlyErrors, MockServerExt, ServerError};
use httpmock::{HttpMockResponse, MockServer};
use serde_json::{Value, json};

const APP: &str = "my-app-name";
const MACHINE: &str = "3d8d413b29d089";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .test_server(server.base_url())
        .retry(RetryPolicy::default().jitter(false).max_attempts(3))
        .build()
        .unwrap()
}

/// The apps [`app_registry`] made: by idempotency key (name and id), and by name (id).
#[derive(Default)]
struct Registry {
    by_key: HashMap<String, (String, String)>,
    by_name: HashMap<String, String>,
}

/// A stand-in for Fly's app create: a repeat with the same key and name answers with the app
/// the first made; a new key for a taken name is `name_taken`; the same key with another name
/// is refused. Returns the server and how many apps it made.
async fn app_registry() -> (MockServer, Arc<Mutex<usize>>) {
    let server = MockServer::start_async().await;
    let made = Arc::new(Mutex::new(0usize));
    let counter = made.clone();
    let state: Arc<Mutex<Registry>> = Arc::default();
    server
        .mock_async(move |when, then| {
            when.method("POST").path("/v1/apps");
            then.respond_with(move |req| {
                let body: Value = serde_json::from_slice(&req.body().0).unwrap();
                let name = body["name"].as_str().unwrap().to_string();
                let key = body["idempotency_key"].as_str().map(str::to_string);
                let mut guard = state.lock().unwrap();
                let Registry { by_key, by_name } = &mut *guard;
                let answer = |status: u16, value: Value| {
                    HttpMockResponse::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(value.to_string())
                        .build()
                };
                if let Some((first_name, id)) = key.as_ref().and_then(|k| by_key.get(k)) {
                    return if *first_name == name {
                        answer(201, json!({"id": id, "created_at": 1_708_631_799_000u64}))
                    } else {
                        answer(
                            422,
                            json!({"error": "idempotency key reused for another name"}),
                        )
                    };
                }
                if by_name.contains_key(&name) {
                    return answer(
                        422,
                        json!({"error": "Name has already been taken", "status": "name_taken"}),
                    );
                }
                let mut made = counter.lock().unwrap();
                *made += 1;
                let id = format!("app-{made}");
                by_name.insert(name.clone(), id.clone());
                if let Some(k) = key {
                    by_key.insert(k, (name, id.clone()));
                }
                answer(201, json!({"id": id, "created_at": 1_708_631_799_000u64}))
            });
        })
        .await;
    (server, made)
}

#[tokio::test]
async fn ensure_with_the_same_key_gives_the_same_app() {
    let (server, made) = app_registry().await;
    let apps = client(&server).apps();
    let first = apps.ensure("web", "personal").await.unwrap();
    let again = apps.ensure("web", "personal").await.unwrap();
    assert_eq!(first.id(), "app-1");
    assert_eq!(again.id(), first.id());
    assert!(first.created() && again.created());
    assert_eq!(again.app().name(), "web");
    assert_eq!(*made.lock().unwrap(), 1);
    // The same explicit key twice: one app; a plain create of the taken name: `name_taken`.
    let a = apps
        .create("jobs", "personal")
        .idempotency_key("k-1")
        .await
        .unwrap();
    let b = apps
        .create("jobs", "personal")
        .idempotency_key("k-1")
        .await
        .unwrap();
    assert_eq!(a.id(), b.id());
    let taken = apps.create("jobs", "personal").await.unwrap_err();
    assert!(taken.is_name_taken(), "{taken}");
    assert_eq!(*made.lock().unwrap(), 2);
}

/// An app made without a key is found, not an error, when it is in the organization asked for;
/// in another organization the name is taken.
#[tokio::test]
async fn ensure_accepts_an_existing_app_of_the_same_org_only() {
    let (server, _) = app_registry().await;
    server.apps_get(|when, then| {
        when.app_name("legacy");
        then.ok(&serde_json::from_value::<types::App>(json!({
            "id": "app-legacy", "name": "legacy", "organization": {"slug": "personal"}
        }))
        .unwrap());
    });
    let apps = client(&server).apps();
    apps.create("legacy", "personal").await.unwrap();
    let found = apps.ensure("legacy", "personal").await.unwrap();
    assert_eq!(found.id(), "app-legacy");
    assert!(!found.created());
    let err = apps.ensure("legacy", "acme-corp").await.unwrap_err();
    assert!(err.is_name_taken(), "{err}");
}

/// A keyed create is safe to repeat, so a 503 is retried; an unkeyed one is not.
#[tokio::test]
async fn a_keyed_app_create_is_retried_and_a_plain_one_is_not() {
    let server = MockServer::start_async().await;
    let keyed = server.apps_create(|when, then| {
        when.body(&types::CreateAppRequest {
            app_name: Some("web".into()),
            name: Some("web".into()),
            org_slug: Some("personal".into()),
            idempotency_key: Some("deploy-7".into()),
            ..Default::default()
        });
        then.fly_server_error(ServerError::Unavailable);
    });
    let plain = server.apps_create(|when, then| {
        when.body(&types::CreateAppRequest {
            app_name: Some("web".into()),
            name: Some("web".into()),
            org_slug: Some("personal".into()),
            ..Default::default()
        });
        then.fly_server_error(ServerError::Unavailable);
    });
    let apps = client(&server).apps();
    let err = apps
        .create("web", "personal")
        .idempotency_key("deploy-7")
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    let err = apps.create("web", "personal").await.unwrap_err();
    assert_eq!(err.attempts(), Some(1));
    keyed.assert_calls_async(3).await;
    plain.assert_calls_async(1).await;
}

/// `include_leases` reaches the wire, and the lease comes back typed (owner, description, expiry
/// as a time), never with a nonce.
#[tokio::test]
async fn machines_come_with_their_lease_when_asked() {
    let server = MockServer::start_async().await;
    let leased: types::Machine = serde_json::from_value(json!({
        "id": MACHINE,
        "state": "started",
        "lease": {"owner": "ops@example.com", "description": "deploy", "expires_at": 1_708_569_778}
    }))
    .unwrap();
    let list = server.machines_list(|when, then| {
        when.app_name(APP).include_leases(true);
        then.ok(&vec![leased.clone()]);
    });
    let get = server.machines_get(|when, then| {
        when.app_name(APP).machine_id(MACHINE).include_leases(true);
        then.ok(&leased);
    });
    let c = client(&server);
    let listed = c.app(APP).machines().list().include_leases().await.unwrap();
    let lease = listed[0].lease().expect("a lease");
    assert_eq!(lease.owner(), "ops@example.com");
    assert_eq!(lease.description(), "deploy");
    assert_eq!(
        lease.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_708_569_778))
    );
    let one = c
        .app(APP)
        .machine(MACHINE)
        .get()
        .include_leases()
        .await
        .unwrap();
    assert_eq!(one.lease().map(|l| l.owner()), Some("ops@example.com"));
    list.assert_calls_async(1).await;
    get.assert_calls_async(1).await;
}

#[tokio::test]
async fn exec_runs_in_the_machine_namespace_on_request() {
    let server = MockServer::start_async().await;
    let exec = server.machines_exec(|when, then| {
        when.app_name(APP)
            .machine_id(MACHINE)
            .body(&types::MachineExecRequest {
                command: Some(vec!["ip".into(), "addr".into()]),
                machine: Some(true),
                ..Default::default()
            });
        then.ok(&types::ExecResponse {
            exit_code: Some(0),
            ..Default::default()
        });
    });
    let m = client(&server).app(APP).machine(MACHINE);
    m.exec(["ip", "addr"]).in_machine().await.unwrap();
    exec.assert_calls_async(1).await;
    // A container and the machine namespace at once is refused before sending.
    let err = m
        .exec(["ip", "addr"])
        .in_machine()
        .container("sidecar")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in_machine"), "{err}");
    exec.assert_calls_async(1).await;
}

mod paging_and_versions {
    //! Cursor paging, machine versions and optimistic updates, and the interop fixes, through
    //! the client, against the emulator and against httpmock servers.

    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use fly_machines::paging::PagingError;
    use fly_machines::{Client, Error, ProcessSort, RateLimits, RetryPolicy, WaitState, types};
    use fly_machines_api::OperationId;
    use fly_machines_httpmock::{FlyErrors, MockServerExt};
    use fly_machines_sim::{Sim, SimHandle};
    use futures::{StreamExt, TryStreamExt, stream};
    use httpmock::{HttpMockResponse, MockServer};
    use serde_json::json;

    fn machine_json(value: serde_json::Value) -> types::Machine {
        serde_json::from_value(value).unwrap()
    }

    /// A client for the emulator: no pacing, no retries worth waiting for.
    fn sim_client(sim: &SimHandle) -> Client {
        Client::builder()
            .base_url(sim.base_url())
            .token(sim.token())
            .rate_limits(RateLimits::off())
            .retry(RetryPolicy::default().jitter(false).max_attempts(1))
            .build()
            .unwrap()
    }

    async fn emulator(short_pages: bool) -> SimHandle {
        let builder = Sim::builder()
            .no_rate_limits()
            .transition_time(Duration::ZERO);
        let builder = if short_pages {
            builder.short_pages()
        } else {
            builder
        };
        builder.start().await.unwrap()
    }

    fn config(image: &str) -> types::MachineConfig {
        types::MachineConfig {
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn list_calls(sim: &SimHandle, op: OperationId) -> usize {
        let id = op.operation().id;
        sim.requests()
            .iter()
            .filter(|r| r.operation == Some(id))
            .count()
    }

    /// 2,500 machines, pages of 1,000 asked for, pages forced short (and some empty): every
    /// machine comes back exactly once, as a stream and as a `Vec`.
    #[tokio::test]
    async fn paging_2500_machines_with_short_pages_gives_each_id_once() {
        let sim = emulator(true).await;
        let client = sim_client(&sim);
        client.apps().create("fleet", "personal").await.unwrap();
        let app = client.app("fleet");
        let made: Vec<String> = stream::iter(0..2500)
            .map(|_| {
                let app = app.clone();
                async move {
                    let m = app.machines().create(config("nginx")).skip_launch().await?;
                    Ok::<_, Error>(m.id().to_string())
                }
            })
            .buffer_unordered(16)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(made.iter().collect::<HashSet<_>>().len(), 2500);
        sim.clear_requests();

        let mut seen = HashSet::new();
        let mut listed = 0usize;
        let mut machines = app.machines().list().page_size(1000).stream();
        while let Some(m) = machines.next().await {
            let m = m.unwrap();
            listed += 1;
            assert!(seen.insert(m.id().to_string()), "{} listed twice", m.id());
        }
        assert_eq!(listed, 2500);
        assert_eq!(seen, made.iter().cloned().collect::<HashSet<_>>());
        // Short pages (500) and every third one empty: far more than three pages, and the empty
        // ones did not end the listing.
        let pages = list_calls(&sim, OperationId::MachinesList);
        println!(
            "2,500 machines in {pages} pages of at most 500 (1,000 asked, short pages forced)"
        );
        assert!(pages >= 7, "{pages} pages");

        let all = app.machines().list().page_size(1000).await.unwrap();
        assert_eq!(all.len(), 2500);
        // Without a page size the emulator answers everything at once, as before pagination.
        sim.clear_requests();
        assert_eq!(app.machines().list().await.unwrap().len(), 2500);
        assert_eq!(list_calls(&sim, OperationId::MachinesList), 1);
    }

    /// Apps page through `next_cursor` in the body, volumes through the header.
    #[tokio::test]
    async fn apps_and_volumes_page_through_body_and_header_cursors() {
        let sim = emulator(true).await;
        let client = sim_client(&sim);
        for i in 0..5 {
            client
                .apps()
                .create(format!("app-{i}"), "personal")
                .await
                .unwrap();
        }
        sim.clear_requests();
        let apps = client.apps().list("personal").page_size(2).await.unwrap();
        let names: Vec<_> = apps.iter().map(|a| a.name.clone().unwrap()).collect();
        assert_eq!(names, ["app-0", "app-1", "app-2", "app-3", "app-4"]);
        assert_eq!(list_calls(&sim, OperationId::AppsList), 3);

        let app = client.app("app-0");
        for i in 0..4 {
            app.volumes()
                .create(format!("data_{i}"), "iad", 1)
                .await
                .unwrap();
        }
        sim.clear_requests();
        let volumes = app.volumes().list().page_size(2).await.unwrap();
        let ids: HashSet<_> = volumes.iter().map(|v| v.id.clone().unwrap()).collect();
        assert_eq!((volumes.len(), ids.len()), (4, 4));
        assert!(list_calls(&sim, OperationId::VolumesList) > 2);
    }

    /// A cursor used after 30 minutes on the emulator's clock is refused, and the error says
    /// the cursor expired.
    #[tokio::test]
    async fn an_expired_cursor_is_an_error_that_says_so() {
        let sim = Sim::builder()
            .no_rate_limits()
            .manual_clock()
            .start()
            .await
            .unwrap();
        let client = sim_client(&sim);
        client.apps().create("slow", "personal").await.unwrap();
        let app = client.app("slow");
        for _ in 0..3 {
            app.machines()
                .create(config("nginx"))
                .skip_launch()
                .await
                .unwrap();
        }
        let mut listing = app.machines().list().page_size(1).stream();
        assert!(listing.next().await.unwrap().is_ok());
        sim.advance(Duration::from_secs(31 * 60));
        let err = listing.next().await.unwrap().unwrap_err();
        assert!(
            matches!(
                err.paging(),
                Some(PagingError::CursorRefused { page: 2, .. })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(listing.next().await.is_none());
    }

    /// A server that hands back the same cursor gets an error, not a loop; one that hands out
    /// fresh cursors forever is stopped at the bound.
    #[tokio::test]
    async fn a_repeating_or_endless_server_is_refused() {
        let server = MockServer::start_async().await;
        let repeating = server.mock(|when, then| {
            when.method("GET").path("/v1/apps/loop/machines");
            then.status(200)
                .header("content-type", "application/json")
                .header("fly-next-cursor", "same")
                .body("[]");
        });
        let client = Client::builder()
            .test_server(server.base_url())
            .build()
            .unwrap();
        let err = client
            .app("loop")
            .machines()
            .list()
            .page_size(10)
            .await
            .unwrap_err();
        assert!(
            matches!(err.paging(), Some(PagingError::RepeatedCursor { .. })),
            "{err:?}"
        );
        // First page, then the page its cursor names, which repeats it: two requests.
        repeating.assert_calls(2);

        let endless = MockServer::start_async().await;
        let counter = std::sync::Arc::new(AtomicUsize::new(0));
        let count = counter.clone();
        endless.mock(move |when, then| {
            when.method("GET").path("/v1/apps/loop/volumes");
            then.respond_with(move |_| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("fly-next-cursor", format!("c{n}"))
                    .body("[]")
                    .build()
            });
        });
        let client = Client::builder()
            .test_server(endless.base_url())
            .build()
            .unwrap();
        let err = client
            .app("loop")
            .volumes()
            .list()
            .page_size(5)
            .max_pages(50)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.paging(),
                Some(PagingError::TooManyPages { pages: 50, .. })
            ),
            "{err:?}"
        );
        assert_eq!(counter.load(Ordering::SeqCst), 50);
    }

    /// Two writers read the same version and race their updates: one wins, the other gets the
    /// version conflict, and the machine holds exactly one of the two configs.
    #[tokio::test]
    async fn two_writers_racing_an_optimistic_update_one_wins() {
        let sim = emulator(false).await;
        let client = sim_client(&sim);
        client.apps().create("race", "personal").await.unwrap();
        let app = client.app("race");
        let created = app.machines().create(config("app:v1")).await.unwrap();
        let machine = created.handle().clone();
        let read = machine.get().await.unwrap();
        let v1 = read.version().unwrap().to_string();
        assert_eq!(created.version(), Some(v1.as_str()));

        let a = machine
            .update_config(config("app:a"))
            .if_version(v1.clone());
        let b = machine
            .update_config(config("app:b"))
            .if_version(v1.clone());
        let (a, b) = tokio::join!(a.send(), b.send());
        let (won, lost, winner) = match (a, b) {
            (Ok(w), Err(l)) => (w, l, "app:a"),
            (Err(l), Ok(w)) => (w, l, "app:b"),
            other => panic!("exactly one writer must win: {other:?}"),
        };
        assert!(lost.is_version_conflict(), "{lost}");
        assert!(!lost.is_lease_conflict(), "{lost}");
        let now = machine.get().await.unwrap();
        assert_eq!(now.image(), Some(winner));
        assert_eq!(now.version(), won.version());
        assert_ne!(now.version(), Some(v1.as_str()));

        // The older version is still there to read.
        let old = machine.get().version(v1.clone()).await.unwrap();
        assert_eq!(
            (old.version(), old.image()),
            (Some(v1.as_str()), Some("app:v1"))
        );
    }

    /// `modify_config` sends the version it read: a change made in between (here by a writer
    /// that ignores leases, on a handle that already holds one) is a typed conflict, and the
    /// machine keeps the other writer's config.
    #[tokio::test]
    async fn modify_config_never_overwrites_a_change_made_after_its_read() {
        let server = MockServer::start_async().await;
        let read = server.machines_get(|when, then| {
            when.app_name("race").machine_id("m1");
            then.ok(&machine_json(
                json!({"id": "m1", "state": "started", "version": "v1",
                            "instance_id": "v1", "config": {"image": "app:v1"}}),
            ));
        });
        let refused = server.machines_update(|when, then| {
            when.app_name("race")
                .machine_id("m1")
                .body(&types::UpdateMachineRequest {
                    config: Some(types::MachineConfig {
                        image: Some("app:mine".into()),
                        ..Default::default()
                    }),
                    current_version: Some("v1".into()),
                    ..Default::default()
                });
            then.fly_error(
                409,
                "current_version v1 does not match the machine's version v2",
                Some("version_mismatch"),
            );
        });
        let client = Client::builder()
            .test_server(server.base_url())
            .build()
            .unwrap();
        let leased = client.app("race").machine("m1").with_lease_nonce("held");
        let err = leased
            .modify_config(|c| c.image = Some("app:mine".into()))
            .await
            .unwrap_err();
        assert!(err.is_version_conflict(), "{err}");
        read.assert_calls(1);
        refused.assert_calls(1);
    }

    /// The version accessor reads `version`, and `instance_id` from older servers.
    #[test]
    fn version_falls_back_to_instance_id() {
        let new: types::Machine =
            serde_json::from_value(json!({"version": "v2", "instance_id": "old"})).unwrap();
        assert_eq!(new.version(), Some("v2"));
        let old: types::Machine = serde_json::from_value(json!({"instance_id": "v1"})).unwrap();
        assert_eq!(old.version(), Some("v1"));
    }

    /// Sorting processes by memory sends Fly's key, `rss`, which the emulator reads with the
    /// same generated type (before, the client sent `mem` and the emulator refused it).
    #[tokio::test]
    async fn processes_sort_by_memory_with_fly_s_key() {
        let sim = emulator(false).await;
        let client = sim_client(&sim);
        client.apps().create("ps", "personal").await.unwrap();
        let m = client
            .app("ps")
            .machines()
            .create(config("nginx"))
            .await
            .unwrap();
        m.wait_started(Duration::from_secs(10)).await.unwrap();
        let procs = m
            .handle()
            .processes()
            .sort_by(ProcessSort::Rss)
            .order(fly_machines::SortOrder::Descending)
            .await
            .unwrap();
        assert!(procs.windows(2).all(|w| w[0].rss >= w[1].rss), "{procs:?}");
    }

    /// One app-name rule for the client and the emulator: a name the emulator refuses never
    /// leaves the client, and one the client sends is taken.
    #[tokio::test]
    async fn client_and_emulator_hold_the_same_app_name_rule() {
        let sim = emulator(false).await;
        let client = sim_client(&sim);
        for bad in ["My_App", "my_app", "-app", "app-", "UPPER"] {
            let err = client.apps().create(bad, "personal").await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{bad}: {err}");
        }
        assert!(sim.requests().is_empty());
        client.apps().create("my-app-1", "personal").await.unwrap();
    }

    /// `/wait` answering `200 {"ok":true}` alone: one GET finds the state, and the success is
    /// never reported as a timeout.
    #[tokio::test]
    async fn a_wait_answered_ok_alone_is_a_success() {
        let server = MockServer::start_async().await;
        let wait = server.machines_wait_for(|when, then| {
            when.app_name("a").machine_id("m1");
            then.ok(&types::WaitMachineResponse {
                ok: Some(true),
                ..Default::default()
            });
        });
        let get = server.machines_get(|when, then| {
            when.app_name("a").machine_id("m1");
            then.ok(&machine_json(
                json!({"id": "m1", "state": "started", "version": "v1"}),
            ));
        });
        let client = Client::builder()
            .test_server(server.base_url())
            .build()
            .unwrap();
        let outcome = client
            .app("a")
            .machine("m1")
            .wait_for([WaitState::Started])
            .timeout(Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(outcome.state, fly_machines::MachineState::Started);
        assert_eq!(outcome.version.as_deref(), Some("v1"));
        wait.assert_calls(1);
        get.assert_calls(1);
    }

    /// App create against a server that requires `app_name` (Fly's documented request), and
    /// one that requires `name`: both take what the client sends.
    #[tokio::test]
    async fn app_create_works_with_servers_requiring_either_spelling() {
        for field in ["app_name", "name"] {
            let server = MockServer::start_async().await;
            let create = server.apps_create(|when, then| {
                when.into_inner()
                    .json_body_includes(json!({ field: "web" }).to_string());
                then.created(&types::CreateAppResponse {
                    id: Some("app-1".into()),
                    created_at: Some(1),
                });
            });
            let client = Client::builder()
                .test_server(server.base_url())
                .build()
                .unwrap();
            client.apps().create("web", "personal").await.unwrap();
            create.assert_calls(1);
        }
        // And the emulator in its documented shapes, which refuses a create without `app_name`.
        let sim = Sim::builder()
            .no_rate_limits()
            .documented_shapes()
            .start()
            .await
            .unwrap();
        sim_client(&sim)
            .apps()
            .create("documented", "personal")
            .await
            .unwrap();
    }
}
