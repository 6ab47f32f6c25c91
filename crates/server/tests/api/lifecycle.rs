//! Regenerate, disable/enable, revoke, archive: each visible to the very next
//! verification, each final where the contract says so.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use chrono::Duration;
use serde_json::json;

#[tokio::test]
async fn regenerate_without_grace_stops_the_old_secret_at_once() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let id = key["id"].as_str().unwrap();
    let old = key["key"].as_str().unwrap();
    assert_eq!(app.verify_code(old).await, "VALID"); // now cached

    let (status, regenerated) = app
        .post(&format!("/v1/keys/{id}/regenerate"), json!({}))
        .await;
    assert_eq!(status, 200, "{regenerated}");
    let new = regenerated["key"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(regenerated["id"], key["id"]);
    assert_eq!(regenerated["name"], "k");
    assert_ne!(regenerated["hint"], key["hint"]);
    assert_eq!(app.verify_code(old).await, "NOT_FOUND");
    assert_eq!(app.verify_code(new).await, "VALID");
}

#[tokio::test]
async fn regenerate_with_a_grace_period_keeps_the_old_secret_deprecated_until_it_ends() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let id = key["id"].as_str().unwrap();
    let old = key["key"].as_str().unwrap();
    assert_eq!(app.verify_code(old).await, "VALID");

    let (status, regenerated) = app
        .post(
            &format!("/v1/keys/{id}/regenerate"),
            json!({"grace_period_seconds": 3600}),
        )
        .await;
    assert_eq!(status, 200, "{regenerated}");
    assert_eq!(
        regenerated["previous_secret_expires_at"],
        "2030-01-01T01:00:00Z"
    );
    let new = regenerated["key"].as_str().unwrap();

    let answer = app.verify(json!({"key": old})).await;
    assert_eq!(
        (answer["code"].as_str(), answer["deprecated"].as_bool()),
        (Some("VALID"), Some(true))
    );
    let answer = app.verify(json!({"key": new})).await;
    assert_eq!(
        (answer["code"].as_str(), answer["deprecated"].as_bool()),
        (Some("VALID"), Some(false))
    );

    app.advance(Duration::minutes(59));
    assert_eq!(app.verify(json!({"key": old})).await["deprecated"], true);
    app.advance(Duration::minutes(1));
    assert_eq!(app.verify_code(old).await, "NOT_FOUND");
    assert_eq!(app.verify_code(new).await, "VALID");

    // Regenerating again drops the first secret for good.
    let (_, again) = app
        .post(
            &format!("/v1/keys/{id}/regenerate"),
            json!({"grace_period_seconds": 60}),
        )
        .await;
    assert_eq!(app.verify_code(new).await, "VALID");
    assert_eq!(
        app.verify_code(again["key"].as_str().unwrap()).await,
        "VALID"
    );
    assert_eq!(app.verify_code(old).await, "NOT_FOUND");
}

#[tokio::test]
async fn regenerate_rejects_an_overlong_grace_period() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let (status, body) = app
        .post(
            &format!("/v1/keys/{}/regenerate", key["id"].as_str().unwrap()),
            json!({"grace_period_seconds": 99_999_999}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "grace_period_seconds");
    assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
}

#[tokio::test]
async fn disable_and_enable_take_effect_on_the_next_verification() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    assert_eq!(app.verify_code(secret).await, "VALID");
    let (_, disabled) = app.post(&format!("/v1/keys/{id}/disable"), json!({})).await;
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(app.verify_code(secret).await, "DISABLED");
    let (_, enabled) = app.post(&format!("/v1/keys/{id}/enable"), json!({})).await;
    assert_eq!(enabled["status"], "active");
    assert_eq!(app.verify_code(secret).await, "VALID");
    // Through PATCH as well.
    let (_, patched) = app
        .patch(&format!("/v1/keys/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(patched["enabled"], false);
    assert_eq!(app.verify_code(secret).await, "DISABLED");
}

#[tokio::test]
async fn update_changes_what_verification_sees_immediately() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data", "push"]).await;
    let key = app
        .create_key(json!({"name": "k", "project_id": project["id"], "scopes": ["data:read"]}))
        .await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    assert_eq!(key["access"], "partial");
    let ask = json!({"key": secret, "scopes": ["push:send"]});
    assert_eq!(app.verify(ask.clone()).await["code"], "INSUFFICIENT_SCOPE");

    let (status, updated) = app
        .patch(
            &format!("/v1/keys/{id}"),
            json!({"name": "renamed", "scopes": ["data:read", "push:*"], "meta": {"a": 1}, "description": "d"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["role"], "custom");
    assert_eq!(updated["access"], "full");
    assert_eq!(updated["description"], "d");
    let answer = app.verify(ask).await;
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["name"], "renamed");
    assert_eq!(answer["meta"], json!({"a": 1}));

    // `null` clears; absent leaves alone.
    let (_, cleared) = app
        .patch(&format!("/v1/keys/{id}"), json!({"description": null}))
        .await;
    assert_eq!(cleared["description"], "");
    assert_eq!(cleared["name"], "renamed");

    // Origins added later restrict at once.
    app.patch(
        &format!("/v1/keys/{id}"),
        json!({"trusted_origins": ["https://acme.com"]}),
    )
    .await;
    assert_eq!(app.verify_code(secret).await, "ORIGIN_NOT_ALLOWED");
    // And an expiry set in the past is refused.
    let (status, body) = app
        .patch(
            &format!("/v1/keys/{id}"),
            json!({"expires_at": "2029-01-01T00:00:00Z"}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}

#[tokio::test]
async fn revoke_is_immediate_and_final() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    assert_eq!(app.verify_code(secret).await, "VALID");
    let (status, revoked) = app
        .post(
            &format!("/v1/keys/{id}/revoke"),
            json!({"reason": "leaked"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_reason"], "leaked");
    assert_eq!(revoked["revoked_at"], "2030-01-01T00:00:00Z");
    // Revoked comes before the scope check.
    let answer = app
        .verify(json!({"key": secret, "scopes": ["anything:write"]}))
        .await;
    assert_eq!(answer["code"], "REVOKED");

    for (path, body) in [
        (format!("/v1/keys/{id}/revoke"), json!({})),
        (format!("/v1/keys/{id}/regenerate"), json!({})),
        (format!("/v1/keys/{id}/enable"), json!({})),
        (format!("/v1/keys/{id}/disable"), json!({})),
    ] {
        let (status, body) = app.post(&path, body).await;
        assert_problem(status, &body, 409, "invalid_state");
    }
    let (status, body) = app
        .patch(&format!("/v1/keys/{id}"), json!({"name": "x"}))
        .await;
    assert_problem(status, &body, 409, "invalid_state");
    assert_eq!(app.verify_code(secret).await, "REVOKED");
}

#[tokio::test]
async fn archived_keys_answer_revoked_leave_the_list_and_are_purged_beyond_the_limit() {
    let app = spawn_app_with(|s| s.archived_keep = 2).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        app.advance(Duration::seconds(1));
        keys.push(app.create_key(json!({"name": format!("k{i}")})).await);
    }
    for key in &keys {
        app.advance(Duration::seconds(1));
        let (status, archived) = app
            .post(
                &format!("/v1/keys/{}/archive", key["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{archived}");
        assert_eq!(archived["status"], "archived");
        assert_eq!(
            app.verify_code(key["key"].as_str().unwrap()).await,
            "REVOKED"
        );
    }
    let (_, list) = app.get("/v1/keys").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| !k["name"].as_str().unwrap().starts_with('k'))
    );
    let (_, archived) = app.get("/v1/keys?status=archived").await;
    let names: Vec<&str> = archived["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["k3", "k2"]);
    // Purged keys are gone for good; the two kept still answer REVOKED.
    assert_eq!(
        app.verify_code(keys[0]["key"].as_str().unwrap()).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.verify_code(keys[3]["key"].as_str().unwrap()).await,
        "REVOKED"
    );
    let (status, _) = app
        .get(&format!("/v1/keys/{}", keys[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 404);

    // Their audit events stay, and the purge itself is recorded.
    let org = keyward_core::id::OrgId::parse(&app.org.id).unwrap();
    let events = app.state.store.audit_events(&org, 0, 1000).await.unwrap();
    let purged: Vec<&str> = events
        .iter()
        .filter(|e| e.action == "key.purged")
        .map(|e| e.target.name.as_str())
        .collect();
    assert_eq!(purged, ["k0", "k1"]);
    assert!(
        events
            .iter()
            .any(|e| e.action == "key.created" && e.target.name == "k0")
    );
    assert!(keyward_core::audit::verify_chain(&events).is_ok());

    let (status, body) = app
        .post(
            &format!("/v1/keys/{}/archive", keys[3]["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_problem(status, &body, 409, "invalid_state");
}

#[tokio::test]
async fn every_change_is_audited_without_secrets() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "type": "publishable"}))
        .await;
    let id = key["id"].as_str().unwrap();
    app.patch(&format!("/v1/keys/{id}"), json!({"name": "k2"}))
        .await;
    let (_, regenerated) = app
        .post(&format!("/v1/keys/{id}/regenerate"), json!({}))
        .await;
    app.post(&format!("/v1/keys/{id}/disable"), json!({})).await;
    app.post(&format!("/v1/keys/{id}/enable"), json!({})).await;
    app.post(&format!("/v1/keys/{id}/revoke"), json!({})).await;
    app.post(&format!("/v1/keys/{id}/archive"), json!({})).await;

    let org = keyward_core::id::OrgId::parse(&app.org.id).unwrap();
    let events = app.state.store.audit_events(&org, 0, 1000).await.unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.target.id == id)
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "key.created",
            "key.updated",
            "key.regenerated",
            "key.disabled",
            "key.enabled",
            "key.revoked",
            "key.archived"
        ]
    );
    let updated = events.iter().find(|e| e.action == "key.updated").unwrap();
    assert_eq!(
        updated.changes["name"],
        json!({"before": "k", "after": "k2"})
    );
    assert_eq!(updated.actor.kind, keyward_core::audit::ActorType::RootKey);
    let regenerated_event = events
        .iter()
        .find(|e| e.action == "key.regenerated")
        .unwrap();
    assert!(regenerated_event.changes.contains_key("secret"));
    let all = serde_json::to_string(&events).unwrap();
    for secret in [
        key["key"].as_str().unwrap(),
        regenerated["key"].as_str().unwrap(),
    ] {
        let body = &secret[secret.len() - 38..];
        assert!(!all.contains(body), "a key body reached the audit log");
    }
    assert!(keyward_core::audit::verify_chain(&events).is_ok());
}
