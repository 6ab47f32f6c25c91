//! Actions that must win a race: revoking, disabling or archiving a key while
//! other requests rotate it never fails because of them.

use crate::helpers::{TestApp, spawn_app};
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
