//! Every request is confined to its organization, and root key scopes hold.

use crate::helpers::{assert_problem, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn another_organizations_objects_answer_404_on_every_route() {
    let app = spawn_app().await;
    let project = app.create_project("Mine", "mine", &["data"]).await;
    let key = app
        .create_key(json!({"name": "mine", "project_id": project["id"], "scopes": ["data:read"]}))
        .await;
    let (key_id, project_id) = (key["id"].as_str().unwrap(), project["id"].as_str().unwrap());
    let intruder = app.new_org("Intruder").await;
    let as_intruder = |method: Method, path: String, body: Option<serde_json::Value>| {
        let app = &app;
        let root = intruder.root_key.clone();
        async move { app.call(method, &path, &root, body).await }
    };

    for (method, path, body) in [
        (Method::GET, format!("/v1/keys/{key_id}"), None),
        (
            Method::PATCH,
            format!("/v1/keys/{key_id}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::POST,
            format!("/v1/keys/{key_id}/regenerate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/keys/{key_id}/disable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/keys/{key_id}/enable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/keys/{key_id}/revoke"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/keys/{key_id}/archive"),
            Some(json!({})),
        ),
        (Method::GET, format!("/v1/projects/{project_id}"), None),
        (
            Method::PATCH,
            format!("/v1/projects/{project_id}"),
            Some(json!({"name": "pwned"})),
        ),
    ] {
        let (status, body) = as_intruder(method.clone(), path.clone(), body).await;
        assert_problem(status, &body, 404, "not_found");
        let _ = (method, path);
    }
    // Lists show nothing of the other organization.
    let (_, keys) = as_intruder(Method::GET, "/v1/keys".into(), None).await;
    assert_eq!(keys["data"], json!([]));
    let (_, projects) = as_intruder(Method::GET, "/v1/projects".into(), None).await;
    assert!(
        projects["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != project["id"])
    );
    // Naming the other organization's project in a body or a filter fails as unknown.
    let (status, body) = as_intruder(
        Method::POST,
        "/v1/keys".into(),
        Some(json!({"name": "x", "project_id": project_id})),
    )
    .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = as_intruder(
        Method::GET,
        format!("/v1/keys?project_id={project_id}"),
        None,
    )
    .await;
    assert_problem(status, &body, 422, "validation_failed");
    // Each organization has its own shared secret.
    let (_, mine) = app.get("/v1/shared-secret").await;
    let (_, theirs) = as_intruder(Method::GET, "/v1/shared-secret".into(), None).await;
    assert_ne!(mine["shared_secret"], theirs["shared_secret"]);

    // Nothing changed.
    assert_eq!(
        app.verify(json!({"key": key["key"], "scopes": ["data:read"]}))
            .await["code"],
        "VALID"
    );
    let (_, after) = app.get(&format!("/v1/keys/{key_id}")).await;
    assert_eq!(after["name"], "mine");
}

#[tokio::test]
async fn a_keys_read_root_key_reads_but_cannot_change() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "target"})).await;
    let id = key["id"].as_str().unwrap();
    let reader = app.root_key_with(&["keys:read"]).await;
    let (status, _) = app.call(Method::GET, "/v1/keys", &reader, None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(Method::GET, &format!("/v1/keys/{id}"), &reader, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.call(Method::GET, "/v1/projects", &reader, None).await;
    assert_eq!(status, 200);
    for (method, path) in [
        (Method::POST, "/v1/keys".to_owned()),
        (Method::PATCH, format!("/v1/keys/{id}")),
        (Method::POST, format!("/v1/keys/{id}/revoke")),
        (Method::POST, format!("/v1/keys/{id}/regenerate")),
        (Method::POST, format!("/v1/keys/{id}/archive")),
        (Method::POST, format!("/v1/keys/{id}/disable")),
        (Method::POST, "/v1/projects".to_owned()),
        (Method::POST, "/v1/shared-secret/rotate".to_owned()),
        (Method::GET, "/v1/shared-secret".to_owned()),
    ] {
        let (status, body) = app
            .call(method, &path, &reader, Some(json!({"name": "x"})))
            .await;
        assert_problem(status, &body, 403, "insufficient_scope");
    }
    assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
}

#[tokio::test]
async fn root_keys_need_org_admin_to_create_or_change_root_keys() {
    let app = spawn_app().await;
    let management = app.management_project().await;
    let writer = app.root_key_with(&["keys:write", "keys:read"]).await;
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/keys",
            &writer,
            Some(json!({"name": "ordinary"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/keys",
            &writer,
            Some(json!({"name": "root", "project_id": management, "role": "admin"})),
        )
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");
    let (_, roots) = app.get(&format!("/v1/keys?project_id={management}")).await;
    let root_id = roots["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/keys/{root_id}/revoke"),
            &writer,
            None,
        )
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");

    let admin = app
        .root_key_with(&["org:admin", "keys:write", "keys:read"])
        .await;
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({"name": "ci", "project_id": management, "scopes": ["keys:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["key"].as_str().unwrap().starts_with("kwroot_sk_"));
    // Root key scopes come from the management scope list.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({"name": "bad", "project_id": management, "scopes": ["data:read"]})),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({"name": "bad", "project_id": management, "type": "publishable"})),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");

    // A revoked root key stops authenticating at once.
    let new_root = created["key"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::GET, "/v1/keys", &new_root, None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &format!("/v1/keys/{}/revoke", created["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.call(Method::GET, "/v1/keys", &new_root, None).await;
    assert_problem(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn a_root_key_cannot_make_or_take_over_a_more_powerful_root_key() {
    let app = spawn_app().await;
    let management = app.management_project().await;
    let limited = app
        .root_key_with(&["keys:write", "keys:read", "org:admin"])
        .await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/keys",
            &limited,
            Some(json!({"name": "boss", "project_id": management, "role": "admin"})),
        )
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");
    // Its own scopes cannot grow either.
    let (_, roots) = app
        .call(
            Method::GET,
            &format!("/v1/keys?project_id={management}"),
            &limited,
            None,
        )
        .await;
    let own = roots["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "scoped root")
        .unwrap()["id"]
        .clone();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/keys/{}", own.as_str().unwrap()),
            &limited,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");
    // Nor can it regenerate (and so read) the organization's `*` root key.
    let initial = roots["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "Initial root key")
        .unwrap()["id"]
        .clone();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/keys/{}/regenerate", initial.as_str().unwrap()),
            &limited,
            Some(json!({})),
        )
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");
    // Within its own powers it may act.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/keys",
            &limited,
            Some(json!({"name": "reader", "project_id": management, "scopes": ["keys:read"]})),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn control_characters_are_refused_not_stored() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/v1/keys", json!({"name": "k", "description": "a\u{0}b"}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app.get("/v1/keys?q=%00").await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app.get("/v1/audit?actor=%00").await;
    assert_problem(status, &body, 422, "validation_failed");
    let key = app
        .create_key(json!({"name": "k", "description": "line one\nline two\tend"}))
        .await;
    assert_eq!(key["description"], "line one\nline two\tend");
    let (status, body) = app
        .post(
            &format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()),
            json!({"reason": "x\u{7}"}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}
