//! Webhooks end to end: endpoints managed through the API, deliveries sent
//! over real HTTP to `receiver.py`, which verifies them with the
//! `standardwebhooks` package given the secret `GET /v1/shared-secret`
//! reveals.

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::receiver::Receiver;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration as StdDuration;

/// A server whose endpoints may be local (the receiver is), polling often,
/// retrying a second after each failure (on its injected clock).
pub async fn webhook_app() -> TestApp {
    spawn_app_with(|s| {
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval = StdDuration::from_millis(50);
        s.webhooks.retry_delays = vec![1; 5];
    })
    .await
}

pub async fn shared_secret(app: &TestApp) -> String {
    let (status, body) = app.get("/v1/shared-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["shared_secret"].as_str().unwrap().to_owned()
}

pub async fn add_endpoint(app: &TestApp, url: &str, events: Value) -> Value {
    let (status, body) = app
        .post("/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn types(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn deliveries_verify_with_the_standard_webhooks_library_and_never_carry_a_secret() {
    let app = webhook_app().await;
    let secret = shared_secret(&app).await;
    let receiver = Receiver::start(&[&secret], &[]).await;
    let endpoint = add_endpoint(&app, &receiver.url, json!(["*"])).await;
    let key = app.create_key(json!({"name": "billing"})).await;
    let id = key["id"].as_str().unwrap();
    let (status, _) = app
        .patch(&format!("/v1/keys/{id}"), json!({"name": "billing v2"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(&format!("/v1/keys/{id}/revoke"), json!({"reason": "test"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let accepted = receiver.wait_for_accepted(3).await;
    assert_eq!(
        types(&accepted),
        ["key.created", "key.updated", "key.revoked"]
    );
    for delivery in &accepted {
        assert_eq!(delivery["verified_with"], json!([0]), "{delivery}");
        assert_eq!(delivery["body"]["data"]["key"]["id"], id);
        assert!(delivery["body"]["data"]["key"].get("key").is_none());
        assert!(delivery["webhook_id"].as_str().unwrap().starts_with("msg_"));
    }
    assert_eq!(accepted[1]["body"]["data"]["key"]["name"], "billing v2");
    assert_eq!(accepted[2]["body"]["data"]["key"]["status"], "revoked");
    // The payload names the audit event and its actor.
    let (_, events) = app.get("/v1/audit?action=key.created").await;
    let event = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"]["id"] == id)
        .unwrap();
    assert_eq!(accepted[0]["body"]["data"]["audit_event_id"], event["id"]);
    assert_eq!(accepted[0]["body"]["data"]["actor"], event["actor"]);
    // Neither the key nor the shared secret travels.
    let everything = serde_json::to_string(&receiver.requests()).unwrap();
    assert!(!everything.contains(key["key"].as_str().unwrap()));
    assert!(!everything.contains(&secret));

    // The delivery log shows each attempt.
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let (status, log) = app
        .get(&format!("/v1/webhooks/{endpoint_id}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let deliveries = log["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    for delivery in deliveries {
        assert_eq!(delivery["status"], "succeeded", "{delivery}");
        assert_eq!(delivery["attempts"][0]["response_code"], 204);
        assert!(delivery["next_attempt_at"].is_null());
    }
}

#[tokio::test]
async fn endpoints_are_for_admins_audited_and_confined_to_their_organization() {
    let app = webhook_app().await;
    let endpoint = add_endpoint(&app, "https://hooks.example.com/in", json!(["key.revoked"])).await;
    let id = endpoint["id"].as_str().unwrap();
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint["events"], json!(["key.revoked"]));

    let (status, changed) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            json!({"events": ["key.created", "key.revoked"], "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["enabled"], false);
    let (_, listed) = app.get("/v1/webhooks").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // Another organization sees nothing of it.
    let other = app.new_org("Other").await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::POST, format!("/v1/webhooks/{id}/test")),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries")),
    ] {
        let (status, body) = app.call(method, &path, &other.root_key, None).await;
        assert_problem(status, &body, 404, "not_found");
    }
    // A root key without org:admin may not manage endpoints.
    let writer = app.root_key_with(&["keys:write"]).await;
    let (status, body) = app.call(Method::GET, "/v1/webhooks", &writer, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            &app.org.root_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/v1/audit?action=webhook.*").await;
    let mut actions: Vec<_> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        ["webhook.created", "webhook.updated", "webhook.deleted"]
    );
}

#[tokio::test]
async fn urls_must_be_https_and_public_without_the_flag() {
    let app = spawn_app().await;
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.0.0.7/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
        "https://localhost/in",
        "https://user:password@hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "not a url",
    ] {
        let (status, body) = app
            .post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        assert_problem(status, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    for events in [json!([]), json!(["key.nope"]), json!(["*", "key.created"])] {
        let (status, body) = app
            .post(
                "/v1/webhooks",
                json!({"url": "https://hooks.example.com/in", "events": events}),
            )
            .await;
        assert_problem(status, &body, 422, "validation_failed");
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_every_message_in_order_once_it_recovers() {
    let app = webhook_app().await;
    let secret = shared_secret(&app).await;
    let receiver = Receiver::start(&[&secret], &[]).await;
    let endpoint = add_endpoint(&app, &receiver.url, json!(["key.created"])).await;
    receiver.set_failing(true);
    let mut ids = Vec::new();
    for name in ["one", "two", "three"] {
        ids.push(app.create_key(json!({"name": name})).await["id"].clone());
    }
    // Only the oldest message is tried while the endpoint fails.
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let mut log = Value::Null;
    for _ in 0..600 {
        (_, log) = app
            .get(&format!("/v1/webhooks/{endpoint_id}/deliveries"))
            .await;
        if log["data"][2]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let oldest = &log["data"][2];
    assert_eq!(oldest["status"], "pending", "{log}");
    assert_eq!(oldest["attempts"][0]["response_code"], 503);
    assert!(oldest["next_attempt_at"].is_string());
    assert!(log["data"][0]["attempts"].as_array().unwrap().is_empty());
    let pending = oldest["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/webhooks/{endpoint_id}/deliveries/{pending}/redeliver"),
            json!({}),
        )
        .await;
    assert_problem(status, &body, 409, "conflict");

    receiver.set_failing(false);
    app.advance(Duration::seconds(2));
    let accepted = receiver.wait_for_accepted(3).await;
    let delivered: Vec<_> = accepted
        .iter()
        .map(|r| r["body"]["data"]["key"]["id"].clone())
        .collect();
    assert_eq!(delivered, ids, "in order, each once");
    let failed: Vec<_> = receiver
        .requests()
        .into_iter()
        .filter(|r| r["failed"] == true)
        .collect();
    assert!(
        failed
            .iter()
            .all(|r| r["body"]["data"]["key"]["id"] == ids[0])
    );
    // A retry keeps the message's webhook-id.
    assert_eq!(failed[0]["webhook_id"], accepted[0]["webhook_id"]);
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_for_the_grace_period() {
    let app = webhook_app().await;
    let old = shared_secret(&app).await;
    let receiver = Receiver::start(&[&old], &[]).await;
    add_endpoint(
        &app,
        &receiver.url,
        json!(["key.created", "shared_secret.rotated"]),
    )
    .await;
    let (status, rotated) = app.post("/v1/shared-secret/rotate", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let new = rotated["shared_secret"].as_str().unwrap().to_owned();
    receiver.set_secrets(&[&old, &new]);
    app.create_key(json!({"name": "during grace"})).await;
    let accepted = receiver.wait_for_accepted(2).await;
    assert_eq!(types(&accepted), ["shared_secret.rotated", "key.created"]);
    assert_eq!(accepted[1]["verified_with"], json!([0, 1]));

    app.advance(Duration::hours(25));
    app.create_key(json!({"name": "after grace"})).await;
    let accepted = receiver.wait_for_accepted(3).await;
    assert_eq!(
        accepted[2]["verified_with"],
        json!([1]),
        "only the new secret signs"
    );
}

#[tokio::test]
async fn an_endpoint_that_is_gone_is_disabled_and_the_others_are_told() {
    let app = webhook_app().await;
    let secret = shared_secret(&app).await;
    let gone = Receiver::start(&[&secret], &["--status", "410"]).await;
    let other = Receiver::start(&[&secret], &[]).await;
    let gone_endpoint = add_endpoint(&app, &gone.url, json!(["key.created"])).await;
    add_endpoint(&app, &other.url, json!(["*"])).await;
    app.create_key(json!({"name": "k"})).await;
    let accepted = other.wait_for_accepted(2).await;
    assert_eq!(types(&accepted), ["key.created", "webhook.disabled"]);
    assert_eq!(
        accepted[1]["body"]["data"]["target"]["id"],
        gone_endpoint["id"]
    );
    assert_eq!(accepted[1]["body"]["data"]["actor"]["type"], "system");
    let id = gone_endpoint["id"].as_str().unwrap();
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["enabled"], false);
    assert_eq!(endpoint["disabled_reason"], "gone");
    // Nothing more goes to it.
    app.create_key(json!({"name": "k2"})).await;
    other.wait_for_accepted(3).await;
    assert_eq!(gone.requests().len(), 1);
    let (status, body) = app
        .post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_problem(status, &body, 409, "webhook_disabled");
}

#[tokio::test]
async fn a_test_reaches_only_its_endpoint_and_a_redelivery_keeps_the_message_id() {
    let app = webhook_app().await;
    let secret = shared_secret(&app).await;
    let first = Receiver::start(&[&secret], &[]).await;
    let second = Receiver::start(&[&secret], &[]).await;
    let endpoint = add_endpoint(&app, &first.url, json!(["key.created"])).await;
    add_endpoint(&app, &second.url, json!(["*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (status, delivery) = app
        .post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{delivery}");
    assert_eq!(delivery["event_type"], "webhook.test");
    let accepted = first.wait_for_accepted(1).await;
    assert_eq!(types(&accepted), ["webhook.test"]);

    let delivery_id = delivery["id"].as_str().unwrap();
    let (status, again) = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_ne!(again["id"], delivery["id"]);
    let accepted = first.wait_for_accepted(2).await;
    assert_eq!(accepted[0]["webhook_id"], accepted[1]["webhook_id"]);
    assert!(
        second.requests().is_empty(),
        "a test is for its endpoint only"
    );
    let (status, body) = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/dlv_00000000000000000000/redeliver"),
            json!({}),
        )
        .await;
    assert_problem(status, &body, 404, "not_found");
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_keeps_its_messages() {
    let app = spawn_app_with(|s| {
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval = StdDuration::from_millis(50);
        s.webhooks.retry_delays = vec![3_600; 200];
    })
    .await;
    let secret = shared_secret(&app).await;
    let failing = Receiver::start(&[&secret], &[]).await;
    let other = Receiver::start(&[&secret], &[]).await;
    failing.set_failing(true);
    let endpoint = add_endpoint(&app, &failing.url, json!(["key.created"])).await;
    add_endpoint(&app, &other.url, json!(["webhook.disabled"])).await;
    app.create_key(json!({"name": "k"})).await;
    let id = endpoint["id"].as_str().unwrap();
    attempts_recorded(&app, id, 1).await;
    // Hourly retries (66 minutes covers the ±10 % jitter) for five days:
    // the endpoint stays enabled until an attempt fails five days after the
    // first.
    for step in 1..=110 {
        assert!(
            other.requests().is_empty(),
            "disabled too early, at step {step}"
        );
        app.advance(Duration::minutes(66));
        attempts_recorded(&app, id, step + 1).await;
    }
    let accepted = other.wait_for_accepted(1).await;
    assert_eq!(accepted[0]["type"], "webhook.disabled");
    assert_eq!(
        accepted[0]["body"]["data"]["changes"]["reason"]["after"],
        "failing"
    );
    let (_, disabled) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["disabled_reason"], "failing");
    assert!(disabled["failing_since"].is_string());

    // Enabled again, it resumes where it stopped.
    failing.set_failing(false);
    let (status, _) = app
        .patch(&format!("/v1/webhooks/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.advance(Duration::hours(2));
    let accepted = failing.wait_for_accepted(1).await;
    assert_eq!(accepted[0]["type"], "key.created");
}

/// Waits until the endpoint's oldest delivery has `n` attempts recorded
/// (the receiver may log a request before Keyward records its attempt).
async fn attempts_recorded(app: &TestApp, endpoint: &str, n: usize) {
    for _ in 0..600 {
        let (_, log) = app
            .get(&format!("/v1/webhooks/{endpoint}/deliveries"))
            .await;
        let recorded = log["data"]
            .as_array()
            .and_then(|d| d.last())
            .and_then(|d| d["attempts"].as_array())
            .map_or(0, Vec::len);
        if recorded >= n {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    panic!("{n} attempts were never recorded");
}

#[tokio::test]
async fn an_organization_has_at_most_twenty_endpoints_and_the_audit_log_keeps_their_urls_private() {
    let app = webhook_app().await;
    for i in 0..20 {
        add_endpoint(
            &app,
            &format!("https://hooks.example.com/t/secret-token-{i}"),
            json!(["*"]),
        )
        .await;
    }
    let (status, body) = app
        .post(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/21", "events": ["*"]}),
        )
        .await;
    assert_problem(status, &body, 409, "conflict");
    // A URL's path and query may be a credential: the audit log, which
    // more people read, shows the origin and a fingerprint only.
    let (_, audit) = app.get("/v1/audit?action=webhook.created").await;
    let text = audit.to_string();
    assert!(!text.contains("secret-token"), "{text}");
    assert!(text.contains("https://hooks.example.com/…"));
}
