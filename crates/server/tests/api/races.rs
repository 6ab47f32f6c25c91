//! Actions that must win a race: revoking, disabling or archiving a key while
//! other requests rotate it never fails because of them, and a change to one
//! key holds up no other key.

use crate::helpers::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Regenerates `id` again and again until `stop` is set; the secrets it got.
async fn keep_regenerating(
    app: &TestApp,
    id: &str,
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<String> {
    let mut secrets = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let (_, body) = app
            .post(
                &format!("/v1/keys/{id}/regenerate"),
                json!({"grace_period_seconds": 60}),
            )
            .await;
        secrets.extend(body["key"].as_str().map(str::to_owned));
    }
    secrets
}

/// Each outcome: every secret the key had, and the action's answer.
async fn racing(
    app: &TestApp,
    action: &str,
) -> Vec<(Value, Vec<String>, reqwest::StatusCode, Value)> {
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let key = app.create_key(json!({"name": "contended"})).await;
        let id = key["id"].as_str().unwrap().to_owned();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let acting = async {
            // Let the rotations start first.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let outcome = app
                .post(&format!("/v1/keys/{id}/{action}"), json!({}))
                .await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            outcome
        };
        let (mut secrets, more, (status, body)) = tokio::join!(
            keep_regenerating(app, &id, &stop),
            keep_regenerating(app, &id, &stop),
            acting
        );
        secrets.extend(more);
        secrets.push(key["key"].as_str().unwrap().to_owned());
        outcomes.push((key, secrets, status, body));
    }
    outcomes
}

#[tokio::test]
async fn a_revoke_racing_regenerations_always_applies() {
    let app = spawn_app().await;
    for (key, secrets, status, body) in racing(&app, "revoke").await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "revoked");
        for secret in &secrets {
            assert_ne!(app.verify_code(secret).await, "VALID");
        }
        let (_, events) = app
            .get(&format!(
                "/v1/audit?target={}&limit=100",
                key["id"].as_str().unwrap()
            ))
            .await;
        let actions: Vec<&str> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        // Newest first: nothing was saved after the revoke.
        assert_eq!(actions.first(), Some(&"key.revoked"), "{actions:?}");
        assert_eq!(actions.iter().filter(|a| **a == "key.revoked").count(), 1);
    }
}

#[tokio::test]
async fn disable_and_archive_racing_regenerations_always_apply() {
    let app = spawn_app().await;
    for (_, secrets, status, body) in racing(&app, "disable").await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["enabled"], false);
        for secret in &secrets {
            assert_ne!(app.verify_code(secret).await, "VALID");
        }
    }
    for (_, _, status, body) in racing(&app, "archive").await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "archived");
    }
}

#[tokio::test]
async fn a_key_being_changed_holds_up_only_changes_to_it_from_its_own_organization() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "busy"})).await;
    let id = key["id"].as_str().unwrap().to_owned();
    let other = app.create_key(json!({"name": "idle"})).await;
    let stranger = app.new_org("Stranger").await;
    // A change to the key is under way on this node.
    let held = app.state.key_locks.lock(&id).await;

    // Another organization naming the key learns nothing and waits for
    // nothing; the organization's other keys change as usual.
    let limit = std::time::Duration::from_secs(30);
    let (status, _) = tokio::time::timeout(
        limit,
        app.call(
            Method::POST,
            &format!("/v1/keys/{id}/revoke"),
            &stranger.root_key,
            Some(json!({})),
        ),
    )
    .await
    .expect("a stranger's request does not wait for the key's lock");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = tokio::time::timeout(
        limit,
        app.post(
            &format!("/v1/keys/{}/disable", other["id"].as_str().unwrap()),
            json!({}),
        ),
    )
    .await
    .expect("another key's change does not wait");
    assert_eq!(status, StatusCode::OK);

    // The organization's own change to the key waits its turn.
    let path = format!("/v1/keys/{id}/revoke");
    let revoke = app.post(&path, json!({}));
    tokio::pin!(revoke);
    let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut revoke).await;
    assert!(
        early.is_err(),
        "the revoke waited for the change ahead of it"
    );
    drop(held);
    let (status, body) = revoke.await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
}
