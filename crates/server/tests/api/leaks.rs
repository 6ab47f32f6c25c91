//! Leak reports: GitHub's signed alerts and anyone's public reports, and
//! what each organization's `leak_action` makes of them.

use crate::admin_pages::page;
use crate::helpers::{TestApp, assert_problem, spawn_app_with};
use crate::receiver::Receiver;
use crate::webhooks::{add_endpoint, shared_secret};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

struct Github {
    keys_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn publish(path: &Path, keys: &[(&str, &SigningKey)]) {
    let public_keys: Vec<_> = keys
        .iter()
        .map(|(id, key)| {
            json!({
                "key_identifier": id,
                "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                "is_current": true,
            })
        })
        .collect();
    std::fs::write(path, json!({ "public_keys": public_keys }).to_string()).unwrap();
}

async fn leak_app() -> (TestApp, Github) {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("github-keys.json");
    publish(&keys_file, &[("github-1", &signing_key(1))]);
    let file = keys_file.clone();
    let app = spawn_app_with(move |s| {
        s.github_keys = keyward_server::leaks::github::KeySource::File(file);
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval = StdDuration::from_millis(50);
    })
    .await;
    (
        app,
        Github {
            keys_file,
            _dir: dir,
        },
    )
}

fn alert(tokens: &[&str]) -> Vec<u8> {
    let alerts: Vec<_> = tokens
        .iter()
        .map(|token| {
            json!({
                "token": token,
                "type": "keyward_secret_key",
                "url": "https://github.com/acme/app/blob/abc/.env#L3",
                "source": "content",
            })
        })
        .collect();
    serde_json::to_vec(&alerts).unwrap()
}

async fn send_alert(
    app: &TestApp,
    identifier: Option<&str>,
    key: &SigningKey,
    signed: &[u8],
    body: &[u8],
) -> (StatusCode, Value) {
    let signature: Signature = key.sign(signed);
    let mut request = app
        .http
        .post(format!("{}/v1/leaks/github", app.base))
        .header("content-type", "application/json")
        .header(
            "github-public-key-signature",
            STANDARD.encode(signature.to_der().as_bytes()),
        )
        .body(body.to_vec());
    if let Some(identifier) = identifier {
        request = request.header("github-public-key-identifier", identifier);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn report(app: &TestApp, body: Value) -> (StatusCode, String) {
    let response = app
        .http
        .post(format!("{}/v1/leaks", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn key(app: &TestApp, id: &Value) -> Value {
    let (status, key) = app.get(&format!("/v1/keys/{}", id.as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    key
}

async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    let (_, events) = app.get(&format!("/v1/audit?action={action}")).await;
    events["data"].as_array().unwrap().clone()
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn github_alerts_act_only_when_github_signed_them() {
    let (app, github) = leak_app().await;
    let leaked = app.create_key(json!({"name": "leaked"})).await;
    let bystander = app.create_key(json!({"name": "bystander"})).await;
    let real = leaked["key"].as_str().unwrap();
    let unknown = "kw_sk_00000000000000000000000000000000000000";
    let (unknown_valid, _) = keyward_core::key_format::FullKey::generate(
        &keyward_core::key_format::KeyPrefix::default(),
        keyward_core::key_format::KeyType::Secret,
    )
    .map(|k| (k.expose().to_owned(), ()))
    .unwrap();

    // Badly signed, or not signed at all: 401, and nothing happens.
    let other = alert(&[bystander["key"].as_str().unwrap()]);
    let first = signing_key(1);
    for (identifier, signer, signed) in [
        (Some("github-1"), &signing_key(9), &other[..]),
        (Some("github-1"), &first, &b"[]"[..]),
        (None, &first, &other[..]),
    ] {
        let (status, body) = send_alert(&app, identifier, signer, signed, &other).await;
        assert_problem(status, &body, 401, "invalid_signature");
    }
    assert_eq!(key(&app, &bystander["id"]).await["status"], "active");
    assert!(events(&app, "key.leaked").await.is_empty());

    // Signed: true positive for the stored key, false for the others.
    let body = alert(&[real, &unknown_valid, unknown]);
    let (status, feedback) = send_alert(&app, Some("github-1"), &first, &body, &body).await;
    assert_eq!(status, StatusCode::OK, "{feedback}");
    assert_eq!(
        feedback,
        json!([
            {"token_hash": sha256_hex(real), "token_type": "keyward_secret_key", "label": "true_positive"},
            {"token_hash": sha256_hex(&unknown_valid), "token_type": "keyward_secret_key", "label": "false_positive"},
            {"token_hash": sha256_hex(unknown), "token_type": "keyward_secret_key", "label": "false_positive"},
        ])
    );
    assert!(
        !feedback.to_string().contains(real),
        "the token is not sent back"
    );
    let after = key(&app, &leaked["id"]).await;
    assert_eq!(
        after["status"], "revoked",
        "the default leak_action revokes"
    );
    assert_eq!(after["leak_source"], "github");
    assert_eq!(
        after["leak_url"],
        "https://github.com/acme/app/blob/abc/.env#L3"
    );
    assert!(after["leaked_at"].is_string());
    assert_eq!(app.verify_code(real).await, "REVOKED");
    let leaked_events = events(&app, "key.leaked").await;
    assert_eq!(leaked_events.len(), 1);
    let event = &leaked_events[0];
    assert_eq!(event["actor"]["type"], "system");
    assert_eq!(event["changes"]["leak_source"]["after"], "github");
    assert_eq!(event["changes"]["github_source"]["after"], "content");
    assert_eq!(events(&app, "key.revoked").await.len(), 1);

    // A key GitHub published after the first load: the unknown identifier
    // makes Keyward read the keys again.
    let second = signing_key(2);
    publish(
        &github.keys_file,
        &[("github-1", &first), ("github-2", &second)],
    );
    let body = alert(&[bystander["key"].as_str().unwrap()]);
    let (status, feedback) = send_alert(&app, Some("github-2"), &second, &body, &body).await;
    assert_eq!(status, StatusCode::OK, "{feedback}");
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(key(&app, &bystander["id"]).await["status"], "revoked");

    // Another unknown identifier so soon: the keys are not read again (at
    // most every five minutes); 503, which GitHub retries later.
    let (status, body) = send_alert(&app, Some("github-unknown"), &first, &body, &body).await;
    assert_problem(status, &body, 503, "github_keys_unavailable");

    // The same leak again: acted on once.
    let body = alert(&[real]);
    let (status, feedback) = send_alert(&app, Some("github-1"), &first, &body, &body).await;
    assert_eq!(
        (status, &feedback[0]["label"]),
        (StatusCode::OK, &json!("true_positive"))
    );
    assert_eq!(events(&app, "key.leaked").await.len(), 2, "one per key");
    assert_eq!(events(&app, "key.revoked").await.len(), 2);

    // Signed but not an alert: refused, after the signature.
    let (status, body) = send_alert(&app, Some("github-1"), &first, b"{}", b"{}").await;
    assert_problem(status, &body, 400, "malformed_json");
}

#[tokio::test]
async fn public_reports_answer_the_same_whatever_the_key_is() {
    let (app, _github) = leak_app().await;
    let active = app.create_key(json!({"name": "active"})).await;
    let revoked = app.create_key(json!({"name": "revoked"})).await;
    let (status, _) = app
        .post(
            &format!("/v1/keys/{}/revoke", revoked["id"].as_str().unwrap()),
            json!({"reason": "rotated"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut answers = Vec::new();
    for key in [
        active["key"].as_str().unwrap(),
        revoked["key"].as_str().unwrap(),
        "kw_sk_not-a-key",
        "kw_sk_00000000000000000000000000000000000000",
        "",
    ] {
        answers.push(
            report(
                &app,
                json!({"key": key, "source_url": "https://pastebin.example/x", "note": "in a paste"}),
            )
            .await,
        );
    }
    assert!(
        answers
            .iter()
            .all(|answer| *answer == (StatusCode::ACCEPTED, String::new())),
        "{answers:?}"
    );
    assert_eq!(key(&app, &active["id"]).await["status"], "revoked");
    let revoked_after = key(&app, &revoked["id"]).await;
    assert_eq!(revoked_after["leak_source"], "report");
    assert_eq!(revoked_after["leak_url"], "https://pastebin.example/x");
    assert_eq!(
        revoked_after["revoked_reason"], "rotated",
        "not revoked a second time"
    );
    let revocations = events(&app, "key.revoked").await;
    assert_eq!(revocations.len(), 2, "the manual one and the leak's");
    let leaks = events(&app, "key.leaked").await;
    assert_eq!(leaks.len(), 2);
    assert!(
        leaks
            .iter()
            .all(|e| e["changes"]["note"]["after"] == "in a paste")
    );

    // The reporter's address is in the audit log, to investigate abuse.
    assert_eq!(leaks[0]["ip"], "127.0.0.1", "{}", leaks[0]);

    // Fields other than the key are checked like anywhere else.
    let (status, body) = report(
        &app,
        json!({"key": "x", "source_url": "javascript:alert(1)"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn public_reports_are_limited_per_client_address() {
    let (app, _github) = leak_app().await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = app
            .http
            .post(format!("{}/v1/leaks", app.base))
            .json(&json!({"key": "kw_sk_unknown"}))
            .send()
            .await
            .unwrap();
        statuses.push((
            response.status(),
            response.headers().get("retry-after").is_some(),
        ));
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == (StatusCode::ACCEPTED, false))
    );
    assert_eq!(statuses[10], (StatusCode::TOO_MANY_REQUESTS, true));
}

#[tokio::test]
async fn each_leak_action_and_the_key_leaked_webhook() {
    let (app, _github) = leak_app().await;
    let receiver = Receiver::start(&[&shared_secret(&app).await], &[]).await;
    add_endpoint(&app, &receiver.url, json!(["key.leaked", "key.disabled"])).await;

    let (status, policy) = app
        .patch("/v1/policy", json!({"leak_action": "disable"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let disabled = app.create_key(json!({"name": "to disable"})).await;
    report(&app, json!({"key": disabled["key"]})).await;
    assert_eq!(
        app.verify_code(disabled["key"].as_str().unwrap()).await,
        "DISABLED"
    );

    app.patch("/v1/policy", json!({"leak_action": "notify"}))
        .await;
    let notified = app.create_key(json!({"name": "to notify"})).await;
    report(
        &app,
        json!({"key": notified["key"], "source_url": "https://paste.example/<b>x</b>"}),
    )
    .await;
    assert_eq!(
        app.verify_code(notified["key"].as_str().unwrap()).await,
        "VALID"
    );
    assert!(key(&app, &notified["id"]).await["leaked_at"].is_string());

    let accepted = receiver.wait_for_accepted(3).await;
    let seen: Vec<_> = accepted
        .iter()
        .map(|r| (r["type"].clone(), r["body"]["data"]["key"]["id"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("key.leaked"), disabled["id"].clone()),
            (json!("key.disabled"), disabled["id"].clone()),
            (json!("key.leaked"), notified["id"].clone()),
        ]
    );
    assert_eq!(accepted[0]["body"]["data"]["actor"]["type"], "system");
    assert_eq!(accepted[0]["body"]["data"]["key"]["leak_source"], "report");
    for delivery in &accepted {
        let text = delivery.to_string();
        assert!(!text.contains(disabled["key"].as_str().unwrap()));
        assert!(!text.contains(notified["key"].as_str().unwrap()));
    }

    // The dashboard says so, with the report's URL as text.
    let (_, admin) = app.member("ada@acme.example", "admin").await;
    let (_, html) = page(
        &app,
        &admin,
        &format!("/keys/{}", notified["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        html.contains("This key&#39;s secret leaked") || html.contains("This key's secret leaked"),
        "{html}"
    );
    assert!(html.contains("A public leak report reported it"), "{html}");
    assert!(
        html.contains("https://paste.example/%3Cb%3Ex%3C/b%3E"),
        "{html}"
    );
    assert!(
        !html.contains("href=\"https://paste.example"),
        "shown, not linked"
    );
    assert!(!html.contains("value=\"86400\""), "no grace period offered");

    // A new secret ends the leak; the leaked one gets no grace period.
    let path = format!("/v1/keys/{}/regenerate", notified["id"].as_str().unwrap());
    let (status, body) = app.post(&path, json!({"grace_period_seconds": 60})).await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["leaked_at"].is_null());
    assert_eq!(
        app.verify_code(notified["key"].as_str().unwrap()).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn publishable_keys_and_dead_secrets_are_no_leaks_and_a_previous_secret_only_stops() {
    let (app, _github) = leak_app().await;
    let first = signing_key(1);
    let publishable = app
        .create_key(json!({"name": "web", "type": "publishable"}))
        .await;
    let rotated = app.create_key(json!({"name": "rotated"})).await;
    let old_secret = rotated["key"].as_str().unwrap().to_owned();
    let path = format!("/v1/keys/{}/regenerate", rotated["id"].as_str().unwrap());
    let (status, regenerated) = app.post(&path, json!({"grace_period_seconds": 3600})).await;
    assert_eq!(status, StatusCode::OK, "{regenerated}");
    let new_secret = regenerated["key"].as_str().unwrap();

    // A publishable key is public by design: no leak, nothing done.
    let body = alert(&[publishable["key"].as_str().unwrap()]);
    let (status, feedback) = send_alert(&app, Some("github-1"), &first, &body, &body).await;
    assert_eq!(
        (status, &feedback[0]["label"]),
        (StatusCode::OK, &json!("false_positive"))
    );
    assert_eq!(key(&app, &publishable["id"]).await["status"], "active");

    // The previous secret, in its grace period: it stops, the new one works on.
    let body = alert(&[&old_secret]);
    let (status, feedback) = send_alert(&app, Some("github-1"), &first, &body, &body).await;
    assert_eq!(
        (status, &feedback[0]["label"]),
        (StatusCode::OK, &json!("true_positive"))
    );
    assert_eq!(app.verify_code(&old_secret).await, "NOT_FOUND");
    assert_eq!(app.verify_code(new_secret).await, "VALID");
    let after = key(&app, &rotated["id"]).await;
    assert!(after["previous_secret_expires_at"].is_null());
    assert!(
        after["leaked_at"].is_null(),
        "the current secret did not leak"
    );
    let leaked = events(&app, "key.leaked").await;
    assert_eq!(leaked.len(), 1);
    assert_eq!(leaked[0]["changes"]["secret"]["after"], "previous");
    assert!(events(&app, "key.revoked").await.is_empty());

    // Reported again, the old secret is dead: nothing to act on.
    let (status, feedback) = send_alert(&app, Some("github-1"), &first, &body, &body).await;
    assert_eq!(
        (status, &feedback[0]["label"]),
        (StatusCode::OK, &json!("false_positive"))
    );
    assert_eq!(events(&app, "key.leaked").await.len(), 1);
}
