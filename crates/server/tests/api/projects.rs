//! Projects and API catalogs; the shared secret.

use crate::helpers::{assert_problem, spawn_app};
use serde_json::json;

#[tokio::test]
async fn projects_have_a_prefix_and_a_catalog() {
    let app = spawn_app().await;
    let (_, list) = app.get("/v1/projects").await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Default") && names.contains(&"Management"),
        "{names:?}"
    );

    let project = app
        .create_project("Mobile", "acme", &["data", "push"])
        .await;
    assert_eq!(project["key_prefix"], "acme");
    let id = project["id"].as_str().unwrap();
    let (status, updated) = app
        .patch(
            &format!("/v1/projects/{id}"),
            json!({"apis": ["data", "push", "segmentation"], "key_prefix": "acme2"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["apis"], json!(["data", "push", "segmentation"]));
    let key = app
        .create_key(json!({"name": "k", "project_id": id, "scopes": ["segmentation:read"]}))
        .await;
    assert!(key["key"].as_str().unwrap().starts_with("acme2_sk_"));
    let (status, read) = app.get(&format!("/v1/projects/{id}")).await;
    assert_eq!(
        (status.as_u16(), read["name"].as_str()),
        (200, Some("Mobile"))
    );
}

#[tokio::test]
async fn project_input_is_validated() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/v1/projects",
            json!({"name": "X", "key_prefix": "Bad_Prefix", "apis": ["ok", "Not OK", "ok"]}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["key_prefix", "apis[1]", "apis[2]"]);
    app.create_project("Same", "s", &[]).await;
    let (status, body) = app.post("/v1/projects", json!({"name": "Same"})).await;
    assert_problem(status, &body, 409, "conflict");
    let management = app.management_project().await;
    let (status, body) = app
        .patch(&format!("/v1/projects/{management}"), json!({"apis": []}))
        .await;
    assert_problem(status, &body, 409, "invalid_state");
}

#[tokio::test]
async fn shared_secret_reveal_and_rotate_are_audited() {
    let app = spawn_app().await;
    let (status, first) = app.get("/v1/shared-secret").await;
    assert_eq!(status, 200, "{first}");
    let first_secret = first["shared_secret"].as_str().unwrap().to_owned();
    assert!(first_secret.starts_with("kwss_"));
    let (_, again) = app.get("/v1/shared-secret").await;
    assert_eq!(again["shared_secret"], first_secret.as_str());
    let (status, rotated) = app.post("/v1/shared-secret/rotate", json!({})).await;
    assert_eq!(status, 200);
    assert_ne!(rotated["shared_secret"], first_secret.as_str());
    let (_, after) = app.get("/v1/shared-secret").await;
    assert_eq!(after["shared_secret"], rotated["shared_secret"]);

    let org = keyward_core::id::OrgId::parse(&app.org.id).unwrap();
    let events = app.state.store.audit_events(&org, 0, 1000).await.unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| a.starts_with("shared_secret"))
        .collect();
    assert_eq!(
        actions,
        [
            "shared_secret.revealed",
            "shared_secret.revealed",
            "shared_secret.rotated",
            "shared_secret.revealed"
        ]
    );
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(&first_secret[5..]));
}
