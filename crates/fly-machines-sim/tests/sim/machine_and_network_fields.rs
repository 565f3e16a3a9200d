//! Machine and network fields: `include_leases`, `cordoned`, spot config, mount growth, exec
//! in the machine's namespace, egress and Flycast IP assignments, `mpg_available` regions and
//! the app's `network_cidr`.

use std::time::Duration;

use crate::common::*;
use fly_machines_sim::types;
use serde_json::json;

#[tokio::test]
async fn include_leases_shows_the_lease_without_its_nonce() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("app").await;
    let id = http.machine_id("app", json!({})).await;
    let leased = http
        .post(
            &format!("/apps/app/machines/{id}/lease"),
            json!({ "ttl": 60, "description": "deploying" }),
        )
        .await;
    assert_eq!(leased.status, 201, "{}", leased.text);
    let nonce = leased.body["data"]["nonce"].as_str().unwrap().to_string();

    // Without the flag there is no lease in the view.
    let plain = http.get(&format!("/apps/app/machines/{id}")).await;
    assert!(plain.body.get("lease").is_none(), "{}", plain.text);

    let shown = http
        .get(&format!("/apps/app/machines/{id}?include_leases=true"))
        .await;
    let machine: types::Machine = serde_json::from_value(shown.body).unwrap();
    let lease = machine.lease.expect("the lease");
    assert_eq!(lease.description.as_deref(), Some("deploying"));
    assert_eq!(lease.owner.as_deref(), Some("user@fly-machines-sim.test"));
    let expected_expiry = (fly_machines_sim::MANUAL_EPOCH_MS / 1000 + 60) as i64;
    assert_eq!(lease.expires_at, Some(expected_expiry));

    let listed = http.get("/apps/app/machines?include_leases=true").await;
    assert_eq!(listed.body[0]["lease"]["description"], "deploying");
    assert!(
        !listed.text.contains(&nonce),
        "the nonce never appears in a listing"
    );
    assert!(
        http.get("/apps/app/machines").await.body[0]
            .get("lease")
            .is_none()
    );

    // An expired lease is not shown.
    sim.advance(Duration::from_secs(61));
    let later = http
        .get(&format!("/apps/app/machines/{id}?include_leases=true"))
        .await;
    assert!(later.body.get("lease").is_none(), "{}", later.text);
    let bad = http
        .get(&format!("/apps/app/machines/{id}?include_leases=sometimes"))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("include_leases"), "{}", bad.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn cordoned_follows_cordon_and_uncordon() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("app").await;
    let id = http.machine_id("app", json!({})).await;
    settle(&sim);
    let cordoned = |a: &Answer| a.body["cordoned"].as_bool();
    assert_eq!(
        cordoned(&http.get(&format!("/apps/app/machines/{id}")).await),
        Some(false)
    );
    assert_eq!(
        http.post_empty(&format!("/apps/app/machines/{id}/cordon"))
            .await
            .status,
        200
    );
    assert_eq!(
        cordoned(&http.get(&format!("/apps/app/machines/{id}")).await),
        Some(true)
    );
    assert_eq!(
        http.get("/apps/app/machines").await.body[0]["cordoned"],
        true
    );
    assert_eq!(
        http.post_empty(&format!("/apps/app/machines/{id}/uncordon"))
            .await
            .status,
        200
    );
    assert_eq!(
        cordoned(&http.get(&format!("/apps/app/machines/{id}")).await),
        Some(false)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn spot_config_and_mount_growth_are_echoed_and_checked() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("app").await;
    let vol = http
        .post(
            "/apps/app/volumes",
            json!({ "name": "data", "size_gb": 10, "region": "iad" }),
        )
        .await;
    assert_eq!(vol.status, 200, "{}", vol.text);
    let vol_id = vol.body["id"].as_str().unwrap().to_string();
    let config = json!({
        "image": "nginx:1.27",
        "spot": { "max_price_fraction": 0.4 },
        "mounts": [{ "volume": vol_id, "path": "/data", "add_size_percent": 20,
                     "min_add_size_gb": 2, "extend_threshold_percent": 80 }],
    });
    let created = http
        .machine("app", json!({ "config": config, "region": "iad" }))
        .await;
    let machine: types::Machine = serde_json::from_value(created).unwrap();
    let config = machine.config.unwrap();
    assert_eq!(config.spot.unwrap().max_price_fraction, Some(0.4));
    let mount = &config.mounts.unwrap()[0];
    assert_eq!(
        (mount.add_size_percent, mount.min_add_size_gb),
        (Some(20), Some(2))
    );

    for (bad, needle) in [
        (
            json!({ "image": "a:1", "spot": { "max_price_fraction": 0 } }),
            "max_price_fraction",
        ),
        (
            json!({ "image": "a:1", "spot": { "max_price_fraction": 1.5 } }),
            "max_price_fraction",
        ),
        (
            json!({ "image": "a:1", "mounts": [{ "volume": vol_id, "path": "/d",
                    "add_size_gb": 1, "add_size_percent": 10 }] }),
            "mutually exclusive",
        ),
        (
            json!({ "image": "a:1", "mounts": [{ "volume": vol_id, "path": "/d",
                    "min_add_size_gb": 0 }] }),
            "min_add_size_gb",
        ),
    ] {
        let a = http
            .post("/apps/app/machines", json!({ "config": bad }))
            .await;
        assert_eq!(a.status, 400, "{}", a.text);
        assert!(a.text.contains(needle), "{}", a.text);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn exec_in_the_machine_namespace_is_accepted() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.app("app").await;
    let id = http.machine_id("app", json!({})).await;
    settle(&sim);
    let path = format!("/apps/app/machines/{id}/exec");
    let ran = http
        .post(&path, json!({ "command": ["echo", "hi"], "machine": true }))
        .await;
    assert_eq!(ran.status, 200, "{}", ran.text);
    let out: types::ExecResponse = serde_json::from_value(ran.body).unwrap();
    assert_eq!(out.stdout.as_deref(), Some("hi\n"));
    let both = http
        .post(
            &path,
            json!({ "command": ["true"], "machine": true, "container": "app" }),
        )
        .await;
    assert_eq!(both.status, 400);
    assert!(both.text.contains("mutually exclusive"), "{}", both.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn egress_and_flycast_addresses_carry_their_new_fields() {
    let sim = start().await;
    let http = Http::new(&sim);
    http.post("/apps", json!({ "name": "app", "org_slug": "acme" }))
        .await;
    let path = "/apps/app/ip_assignments";

    let pair = http
        .post(path, json!({ "type": "egress_pair", "region": "ams" }))
        .await;
    assert_eq!(pair.status, 200, "{}", pair.text);
    let pair: types::AssignIpResponse = serde_json::from_value(pair.body).unwrap();
    assert_eq!(pair.ip, None, "a pair answers ip_pair instead of ip");
    assert_eq!(pair.egress, Some(true));
    let ip_pair = pair.ip_pair.unwrap();
    assert!(ip_pair.v4.unwrap().contains('.') && ip_pair.v6.unwrap().contains(':'));

    let flycast = http
        .post(path, json!({ "type": "private_v6", "network": "tenant-a" }))
        .await;
    let flycast: types::AssignIpResponse = serde_json::from_value(flycast.body).unwrap();
    let network = flycast.network.unwrap();
    assert_eq!(network.name.as_deref(), Some("tenant-a"));
    assert_eq!(network.org_slug.as_deref(), Some("acme"));
    assert_eq!(flycast.egress, Some(false));

    let list: types::ListIpAssignmentsResponse =
        serde_json::from_value(http.get(path).await.body).unwrap();
    let ips = list.ips.unwrap();
    assert_eq!(ips.len(), 3, "a pair is two assignments");
    assert_eq!(ips.iter().filter(|i| i.egress == Some(true)).count(), 2);
    assert!(
        ips.iter()
            .filter(|i| i.egress == Some(true))
            .all(|i| i.region.as_deref() == Some("ams"))
    );

    let no_region = http.post(path, json!({ "type": "egress_v4" })).await;
    assert_eq!(no_region.status, 400);
    assert!(no_region.text.contains("region"), "{}", no_region.text);
    let unknown = http.post(path, json!({ "type": "v5" })).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.text.contains("egress_pair"), "{}", unknown.text);

    // The app's private network range holds its Flycast address.
    let app: types::App = serde_json::from_value(http.get("/apps/app").await.body).unwrap();
    let cidr = app.network_cidr.unwrap();
    let prefix = cidr.trim_end_matches("::/48");
    assert!(cidr.ends_with("::/48"));
    assert!(
        flycast.ip.unwrap().starts_with(&format!("{prefix}:")),
        "{cidr}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn regions_say_where_managed_postgres_runs() {
    let sim = start().await;
    let http = Http::new(&sim);
    let regions: types::RegionResponse =
        serde_json::from_value(http.get("/platform/regions").await.body).unwrap();
    let rows = regions.regions.unwrap();
    let mpg = |code: &str| {
        rows.iter()
            .find(|r| r.code.as_deref() == Some(code))
            .and_then(|r| r.mpg_available)
    };
    assert_eq!(mpg("iad"), Some(true));
    assert_eq!(mpg("arn"), Some(false));
    // A cluster can be created exactly where the listing says.
    for r in &rows {
        let code = r.code.clone().unwrap();
        let a = http
            .post(
                "/postgres",
                json!({ "org_slug": "personal", "plan": "basic", "region": code }),
            )
            .await;
        assert_eq!(
            a.status == 201,
            r.mpg_available == Some(true),
            "{code}: {}",
            a.text
        );
    }
    sim.shutdown().await;
}
