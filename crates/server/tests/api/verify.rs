//! `POST /v1/verify`: every code, in the contract's order.

use crate::helpers::{assert_problem, spawn_app, start_time};
use chrono::Duration;
use serde_json::json;

#[tokio::test]
async fn a_new_key_verifies_and_reports_its_details() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "billing", "role": "admin", "meta": {"tier": "gold"}}))
        .await;
    let answer = app.verify(json!({"key": key["key"]})).await;
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["key_id"], key["id"]);
    assert_eq!(answer["org_id"], app.org.id);
    assert_eq!(answer["project_id"], key["project_id"]);
    assert_eq!(answer["meta"]["tier"], "gold");
    assert_eq!(answer["scopes"], json!(["*"]));
    assert_eq!(answer["deprecated"], false);
}

#[tokio::test]
async fn malformed_and_unknown_keys() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let key = key["key"].as_str().unwrap();
    // One character changed: the checksum fails, no storage involved.
    let mut changed = key.to_owned();
    let last = changed.pop().unwrap();
    changed.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(app.verify_code(&changed).await, "MALFORMED");
    assert_eq!(app.verify_code("").await, "MALFORMED");
    assert_eq!(app.verify_code("not a key at all").await, "MALFORMED");
    // A well-formed key that was never issued.
    let other = keyward_core::key_format::FullKey::generate(
        &keyward_core::key_format::KeyPrefix::default(),
        keyward_core::key_format::KeyType::Secret,
    )
    .unwrap();
    assert_eq!(app.verify_code(other.expose()).await, "NOT_FOUND");
    // Asked twice: the negative cache answers the same.
    assert_eq!(app.verify_code(other.expose()).await, "NOT_FOUND");
}

#[tokio::test]
async fn keys_nobody_stored_are_not_looked_up_and_new_keys_are_found_at_once() {
    let app = spawn_app().await;
    let verifier = &app.state.verifier;
    verifier.load_stored_hashes().await.unwrap();
    // Created after the load, so missing from the node's copy of the hashes.
    let created_here = app.create_key(json!({"name": "fresh"})).await;
    let reads = verifier.storage_reads();

    // Well-formed keys nobody stored: each is unknown, and none is looked up.
    for _ in 0..20 {
        let unknown = keyward_core::key_format::FullKey::generate(
            &keyward_core::key_format::KeyPrefix::default(),
            keyward_core::key_format::KeyType::Secret,
        )
        .unwrap();
        assert_eq!(app.verify_code(unknown.expose()).await, "NOT_FOUND");
    }
    assert_eq!(verifier.storage_reads(), reads);

    // A key this node stored after the load is found at its first verification.
    let key = created_here["key"].as_str().unwrap();
    assert_eq!(app.verify_code(key).await, "VALID");
    assert_eq!(verifier.storage_reads(), reads + 1);

    // So is one stored by another process or node on the same database.
    let elsewhere = keyward_server::app::open_store(&app.state.settings)
        .await
        .unwrap();
    let created_elsewhere = keyward_server::bootstrap::create_organization(
        elsewhere.as_ref(),
        &app.state.master_key,
        app.clock.as_ref(),
        "keyward org create",
        "Elsewhere",
        "owner@elsewhere.example",
        Some(secrecy::SecretString::from(
            "correct horse battery staple".to_owned(),
        )),
    )
    .await
    .unwrap();
    assert_eq!(
        app.verify_code(created_elsewhere.root_key.expose()).await,
        "VALID"
    );
    assert_eq!(verifier.storage_reads(), reads + 2);
}

#[tokio::test]
async fn scopes_with_wildcards() {
    let app = app_with_catalog().await;
    let project = app.0;
    let app = app.1;
    let key = app
        .create_key(json!({"name": "k", "project_id": project, "scopes": ["push:*", "data:read"]}))
        .await;
    let check = |scopes: serde_json::Value| {
        let app = &app;
        let key = key["key"].clone();
        async move { app.verify(json!({"key": key, "scopes": scopes})).await["code"].clone() }
    };
    assert_eq!(check(json!(["push:send"])).await, "VALID");
    assert_eq!(check(json!(["push:send", "data:read"])).await, "VALID");
    assert_eq!(check(json!(["data:write"])).await, "INSUFFICIENT_SCOPE");
    assert_eq!(
        check(json!(["push:send", "data:write"])).await,
        "INSUFFICIENT_SCOPE"
    );
    assert_eq!(check(json!([])).await, "VALID");

    let readonly = app
        .create_key(json!({"name": "ro", "project_id": project, "role": "readonly"}))
        .await;
    let answer = app
        .verify(json!({"key": readonly["key"], "scopes": ["segmentation:read"]}))
        .await;
    assert_eq!(answer["code"], "VALID");
    let answer = app
        .verify(json!({"key": readonly["key"], "scopes": ["segmentation:write"]}))
        .await;
    assert_eq!(answer["code"], "INSUFFICIENT_SCOPE");
}

async fn app_with_catalog() -> (String, crate::helpers::TestApp) {
    let app = spawn_app().await;
    let project = app
        .create_project("Mobile", "acme", &["data", "push", "segmentation"])
        .await;
    (project["id"].as_str().unwrap().to_owned(), app)
}

#[tokio::test]
async fn invalid_required_scopes_or_ip_are_a_bad_request_not_an_outcome() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let response = app
        .http
        .post(format!("{}/v1/verify", app.base))
        .json(&json!({"key": key["key"], "scopes": ["no colon"]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap();
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "scopes[0]");

    let response = app
        .http
        .post(format!("{}/v1/verify", app.base))
        .json(&json!({"key": key["key"], "ip": "300.1.1.1"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap();
    assert_problem(status, &body, 422, "validation_failed");
}

#[tokio::test]
async fn trusted_origins_with_subdomain_wildcards() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "web", "type": "publishable", "trusted_origins": ["https://*.acme.com", "http://localhost:3000"]}))
        .await;
    assert!(key["key"].as_str().unwrap().starts_with("kw_pk_"));
    for (origin, code) in [
        (json!("https://app.acme.com"), "VALID"),
        (json!("https://a.b.acme.com"), "VALID"),
        (json!("http://localhost:3000"), "VALID"),
        (json!("https://acme.com"), "ORIGIN_NOT_ALLOWED"),
        (json!("https://evil-acme.com"), "ORIGIN_NOT_ALLOWED"),
        (json!("http://app.acme.com"), "ORIGIN_NOT_ALLOWED"),
        (json!("null"), "ORIGIN_NOT_ALLOWED"),
        (json!(null), "ORIGIN_NOT_ALLOWED"),
    ] {
        let answer = app
            .verify(json!({"key": key["key"], "origin": origin}))
            .await;
        assert_eq!(answer["code"], code, "{origin}");
    }
}

#[tokio::test]
async fn allowed_ips_as_ipv4_and_ipv6_cidr() {
    let app = spawn_app().await;
    let key = app
        .create_key(
            json!({"name": "srv", "allowed_ips": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]}),
        )
        .await;
    assert_eq!(
        key["allowed_ips"],
        json!(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"])
    );
    for (ip, code) in [
        (json!("10.1.2.3"), "VALID"),
        (json!("192.0.2.7"), "VALID"),
        (json!("::ffff:10.9.9.9"), "VALID"),
        (json!("2001:db8:1::5"), "VALID"),
        (json!("192.0.2.8"), "IP_NOT_ALLOWED"),
        (json!("11.0.0.1"), "IP_NOT_ALLOWED"),
        (json!("2001:db9::1"), "IP_NOT_ALLOWED"),
        (json!(null), "IP_NOT_ALLOWED"),
    ] {
        let answer = app.verify(json!({"key": key["key"], "ip": ip})).await;
        assert_eq!(answer["code"], code, "{ip}");
    }
}

#[tokio::test]
async fn checks_run_in_the_contract_order() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data"]).await;
    let key = app
        .create_key(json!({
            "name": "k", "project_id": project["id"], "scopes": ["data:read"],
            "trusted_origins": ["https://acme.com"], "allowed_ips": ["10.0.0.0/8"],
            "expires_at": "2030-01-02T00:00:00Z",
        }))
        .await;
    let id = key["id"].as_str().unwrap();
    let all_wrong = json!({"key": key["key"], "scopes": ["data:write"], "origin": "https://evil.com", "ip": "8.8.8.8"});
    assert_eq!(
        app.verify(all_wrong.clone()).await["code"],
        "INSUFFICIENT_SCOPE"
    );
    let origin_and_ip_wrong = json!({"key": key["key"], "scopes": ["data:read"], "origin": "https://evil.com", "ip": "8.8.8.8"});
    assert_eq!(
        app.verify(origin_and_ip_wrong).await["code"],
        "ORIGIN_NOT_ALLOWED"
    );
    let ip_wrong = json!({"key": key["key"], "origin": "https://acme.com", "ip": "8.8.8.8"});
    assert_eq!(app.verify(ip_wrong).await["code"], "IP_NOT_ALLOWED");

    // Expiry comes before scope, origin and IP; revocation is final and
    // answers REVOKED even for an expired key.
    app.advance(Duration::days(2));
    assert_eq!(app.verify(all_wrong.clone()).await["code"], "EXPIRED");
    let (status, _) = app.post(&format!("/v1/keys/{id}/revoke"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(app.verify(all_wrong.clone()).await["code"], "REVOKED");
}

#[tokio::test]
async fn disabled_beats_expired_and_revoked_or_archived_beat_both() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "expires_at": "2030-01-01T01:00:00Z"}))
        .await;
    let id = key["id"].as_str().unwrap();
    let (status, _) = app.post(&format!("/v1/keys/{id}/disable"), json!({})).await;
    assert_eq!(status, 200);
    app.advance(Duration::hours(2));
    assert_eq!(
        app.verify_code(key["key"].as_str().unwrap()).await,
        "DISABLED"
    );
    let (status, _) = app.post(&format!("/v1/keys/{id}/archive"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.verify_code(key["key"].as_str().unwrap()).await,
        "REVOKED"
    );
}

#[tokio::test]
async fn expiry_follows_the_injected_clock() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "expires_at": "2030-01-01T00:10:00Z"}))
        .await;
    let key = key["key"].as_str().unwrap();
    assert_eq!(app.verify_code(key).await, "VALID");
    app.advance(Duration::minutes(9));
    assert_eq!(app.verify_code(key).await, "VALID");
    app.advance(Duration::minutes(1));
    assert_eq!(app.verify_code(key).await, "EXPIRED");
}

#[tokio::test]
async fn last_used_at_is_written_behind() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    assert_eq!(key["last_used_at"], serde_json::Value::Null);
    let id = key["id"].as_str().unwrap();
    app.advance(Duration::minutes(5));
    assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
    let key = app.wait_for_use(id, start_time()).await;
    assert_eq!(key["last_used_at"], "2030-01-01T00:05:00Z");
}
