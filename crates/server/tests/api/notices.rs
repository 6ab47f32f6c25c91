//! The key policy and the notices it schedules, on the injected clock: the
//! tests move time and run a sweep instead of waiting.

use crate::helpers::{TestApp, assert_problem, spawn_app, start_time};
use crate::receiver::Receiver;
use crate::webhooks::{add_endpoint, shared_secret, webhook_app};
use chrono::{Duration, SecondsFormat};
use keyward_server::notices::Sweeper;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One sweep of the notice schedule, as the server runs it every minute.
pub(crate) async fn sweep(app: &TestApp) -> usize {
    Sweeper::default().sweep(&app.state).await.unwrap()
}

fn types(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn expiry_notices_fire_once_per_threshold_then_expired() {
    let app = webhook_app().await;
    let receiver = Receiver::start(&[&shared_secret(&app).await], &[]).await;
    add_endpoint(&app, &receiver.url, json!(["key.expiring", "key.expired"])).await;
    let expires_at = start_time() + Duration::days(10);
    let key = app
        .create_key(json!({"name": "temp", "expires_at": expires_at.to_rfc3339()}))
        .await;
    assert_eq!(sweep(&app).await, 0, "ten days ahead: no notice yet");

    app.advance(Duration::days(3) + Duration::hours(12));
    assert_eq!(sweep(&app).await, 1);
    assert_eq!(sweep(&app).await, 0, "each threshold fires once");
    app.advance(Duration::days(6));
    assert_eq!(sweep(&app).await, 1);
    app.advance(Duration::days(1));
    assert_eq!(sweep(&app).await, 1);
    assert_eq!(sweep(&app).await, 0);

    let accepted = receiver.wait_for_accepted(3).await;
    assert_eq!(
        types(&accepted),
        ["key.expiring", "key.expiring", "key.expired"]
    );
    let days: Vec<_> = accepted[..2]
        .iter()
        .map(|r| r["body"]["data"]["changes"]["days_before"]["after"].clone())
        .collect();
    assert_eq!(days, [json!(7), json!(1)]);
    for delivery in &accepted {
        assert_eq!(delivery["body"]["data"]["key"]["id"], key["id"]);
        assert_eq!(delivery["body"]["data"]["actor"]["type"], "system");
    }
    assert_eq!(accepted[2]["body"]["data"]["key"]["status"], "expired");
}

#[tokio::test]
async fn stale_keys_are_reported_and_disabled_when_the_policy_says_so() {
    let app = webhook_app().await;
    let receiver = Receiver::start(&[&shared_secret(&app).await], &[]).await;
    add_endpoint(&app, &receiver.url, json!(["key.stale", "key.disabled"])).await;
    let (status, policy) = app
        .patch(
            "/v1/policy",
            json!({"stale_after_days": 30, "disable_stale_keys": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let unused = app.create_key(json!({"name": "unused"})).await;
    let used = app.create_key(json!({"name": "used"})).await;
    app.advance(Duration::days(20));
    assert_eq!(
        app.verify_code(used["key"].as_str().unwrap()).await,
        "VALID"
    );
    let day_20 = start_time() + Duration::days(20);
    app.wait_for_use(used["id"].as_str().unwrap(), day_20).await;
    // The root key these calls use was used at day 20 too: let that use be
    // written before time moves.
    let management = app.management_project().await;
    let (_, roots) = app.get(&format!("/v1/keys?project_id={management}")).await;
    for root in roots["data"].as_array().unwrap() {
        app.wait_for_use(root["id"].as_str().unwrap(), day_20).await;
    }

    app.advance(Duration::days(11));
    assert_eq!(sweep(&app).await, 1, "only the key unused for 30 days");
    assert_eq!(sweep(&app).await, 0);
    let id = unused["id"].as_str().unwrap();
    let (_, key) = app.get(&format!("/v1/keys/{id}")).await;
    assert_eq!(key["enabled"], false);
    assert_eq!(
        app.verify_code(unused["key"].as_str().unwrap()).await,
        "DISABLED"
    );

    let accepted = receiver.wait_for_accepted(2).await;
    assert_eq!(types(&accepted), ["key.stale", "key.disabled"]);
    assert!(
        accepted
            .iter()
            .all(|r| r["body"]["data"]["key"]["id"] == id)
    );
    let (_, audit) = app.get(&format!("/v1/audit?target={id}")).await;
    let disabled = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "key.disabled")
        .unwrap();
    assert_eq!(disabled["actor"]["type"], "system");
}

#[tokio::test]
async fn the_look_for_stale_keys_reads_a_few_keys_a_sweep_and_goes_on_at_the_next() {
    let app = spawn_app().await;
    let (status, policy) = app
        .patch("/v1/policy", json!({"stale_after_days": 30}))
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    for n in 0..5 {
        app.create_key(json!({"name": format!("unused {n}")})).await;
    }
    app.advance(Duration::days(31));
    // Two keys a page, one page a sweep.
    let mut sweeper = Sweeper::new(2, 1);
    let mut counts = Vec::new();
    for _ in 0..8 {
        counts.push(sweeper.sweep(&app.state).await.unwrap());
    }
    assert!(counts.iter().all(|n| *n <= 2), "{counts:?}");
    assert!(
        counts.iter().filter(|n| **n > 0).count() >= 3,
        "5 keys and the root key over 3 sweeps or more: {counts:?}"
    );
    let (_, stale) = app.get("/v1/audit?action=key.stale&limit=100").await;
    let reported = stale["data"].as_array().unwrap().len();
    assert!(reported >= 6, "every unused key, root keys too: {stale}");
    assert_eq!(counts.iter().sum::<usize>(), reported);

    // Done, the scan starts over: a key that became stale since is found.
    let late = app.create_key(json!({"name": "late"})).await;
    app.advance(Duration::days(31));
    let mut found = 0;
    for _ in 0..10 {
        found += sweeper.sweep(&app.state).await.unwrap();
    }
    let (_, stale) = app.get("/v1/audit?action=key.stale&limit=100").await;
    let targets: Vec<_> = stale["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"]["id"].clone())
        .collect();
    assert!(targets.contains(&late["id"]), "{stale}");
    assert!(found >= 1, "{found}");
}

#[tokio::test]
async fn quota_exhaustion_is_reported_once_per_period() {
    let app = webhook_app().await;
    let receiver = Receiver::start(&[&shared_secret(&app).await], &[]).await;
    add_endpoint(
        &app,
        &receiver.url,
        json!(["key.quota_exhausted", "webhook.test"]),
    )
    .await;
    let key = app
        .create_key(json!({"name": "metered", "quota": {"limit": 1, "period": "day"}}))
        .await;
    let full = key["key"].as_str().unwrap();
    assert_eq!(app.verify_code(full).await, "VALID");
    for _ in 0..3 {
        assert_eq!(app.verify_code(full).await, "USAGE_EXCEEDED");
    }
    receiver.wait_for_accepted(1).await;
    // More refusals in the same period report nothing new: a test message
    // sent after them arrives next.
    assert_eq!(app.verify_code(full).await, "USAGE_EXCEEDED");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, endpoints) = app.get("/v1/webhooks").await;
    let endpoint = endpoints["data"][0]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/webhooks/{endpoint}/test"), json!({}))
        .await;
    let accepted = receiver.wait_for_accepted(2).await;
    assert_eq!(types(&accepted), ["key.quota_exhausted", "webhook.test"]);
    assert_eq!(accepted[0]["body"]["data"]["key"]["id"], key["id"]);

    // The next period reports again.
    app.advance(Duration::days(1));
    assert_eq!(app.verify_code(full).await, "VALID");
    assert_eq!(app.verify_code(full).await, "USAGE_EXCEEDED");
    let accepted = receiver.wait_for_accepted(3).await;
    assert_eq!(accepted[2]["type"], "key.quota_exhausted");
}

#[tokio::test]
async fn the_policy_is_for_admins_checked_and_audited() {
    let app = webhook_app().await;
    let (status, policy) = app.get("/v1/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        policy,
        json!({
            "max_key_lifetime_days": null,
            "expiry_notice_days": [7, 1],
            "stale_after_days": null,
            "disable_stale_keys": false,
            "leak_action": "revoke",
        })
    );
    for bad in [
        json!({"max_key_lifetime_days": 0}),
        json!({"expiry_notice_days": [0]}),
        json!({"disable_stale_keys": true}),
        json!({"stale_after_days": 36501}),
    ] {
        let (status, body) = app.patch("/v1/policy", bad).await;
        assert_problem(status, &body, 422, "validation_failed");
    }
    for bad in [
        json!({"leak_action": "ignore"}),
        json!({"expiry_notice_days": null}),
    ] {
        let (status, body) = app.patch("/v1/policy", bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {body}");
    }
    let reader = app.root_key_with(&["keys:write"]).await;
    let (status, _) = app.call(Method::GET, "/v1/policy", &reader, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, policy) = app
        .patch(
            "/v1/policy",
            json!({"max_key_lifetime_days": 30, "leak_action": "disable"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert_eq!(policy["max_key_lifetime_days"], 30);
    let (_, audit) = app.get("/v1/audit?action=policy.updated").await;
    let event = &audit["data"][0];
    assert_eq!(event["changes"]["max_key_lifetime_days"]["after"], 30);
    assert_eq!(event["changes"]["leak_action"]["after"], "disable");
}

#[tokio::test]
async fn the_longest_key_lifetime_bounds_creation_and_extension() {
    let app = webhook_app().await;
    app.patch("/v1/policy", json!({"max_key_lifetime_days": 30}))
        .await;
    let now = start_time();
    let stamp = |days: i64| (now + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);

    // Without an expiry, a key gets the longest lifetime.
    let key = app.create_key(json!({"name": "bounded"})).await;
    assert_eq!(key["expires_at"], stamp(30));
    let within = app
        .create_key(json!({"name": "short", "expires_at": stamp(7)}))
        .await;
    assert_eq!(within["expires_at"], stamp(7));
    let (status, body) = app
        .post("/v1/keys", json!({"name": "long", "expires_at": stamp(31)}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "expires_at");

    let id = within["id"].as_str().unwrap();
    for extension in [json!(stamp(45)), Value::Null] {
        let (status, body) = app
            .patch(&format!("/v1/keys/{id}"), json!({"expires_at": extension}))
            .await;
        assert_problem(status, &body, 422, "validation_failed");
    }
    let (status, body) = app
        .patch(&format!("/v1/keys/{id}"), json!({"expires_at": stamp(29)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Other changes of a key stay possible.
    let (status, _) = app
        .patch(&format!("/v1/keys/{id}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK);
}
