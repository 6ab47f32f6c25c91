//! Creating, reading and listing keys.

use crate::helpers::{assert_problem, spawn_app};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn create_returns_the_full_key_once() {
    let app = spawn_app().await;
    let project = app
        .create_project("Mobile", "acme", &["data", "push"])
        .await;
    let created = app
        .create_key(json!({
            "name": "  Billing backend ", "description": "charges cards", "project_id": project["id"],
            "scopes": ["data:read", "push:*"], "expires_at": "2031-01-01T00:00:00Z",
            "meta": {"team": "payments"},
        }))
        .await;
    let full = created["key"].as_str().unwrap();
    assert!(full.starts_with("acme_sk_") && full.len() == "acme_sk_".len() + 38);
    let body = &full["acme_sk_".len()..];
    assert_eq!(
        created["hint"],
        format!("acme_sk_{}…{}", &body[..4], &body[34..])
    );
    assert_eq!(created["name"], "Billing backend");
    assert_eq!(created["type"], "secret");
    assert_eq!(created["role"], "custom");
    assert_eq!(created["access"], "full");
    assert_eq!(created["status"], "active");
    assert_eq!(created["created_at"], "2030-01-01T00:00:00Z");
    assert_eq!(created["last_used_at"], Value::Null);
    assert!(created["id"].as_str().unwrap().starts_with("key_"));
    assert!(created["created_by"].as_str().unwrap().starts_with("key_"));

    let (status, read) = app
        .get(&format!("/v1/keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert!(
        read.get("key").is_none(),
        "a secret key is never shown again"
    );
    assert_eq!(read["hint"], created["hint"]);
}

#[tokio::test]
async fn publishable_keys_can_be_shown_again() {
    let app = spawn_app().await;
    let created = app
        .create_key(json!({"name": "web", "type": "publishable"}))
        .await;
    let (_, read) = app
        .get(&format!("/v1/keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(read["key"], created["key"]);
    assert!(read["key"].as_str().unwrap().starts_with("kw_pk_"));
}

#[tokio::test]
async fn roles_and_access() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data", "push"]).await;
    let pid = &project["id"];
    let admin = app
        .create_key(json!({"name": "a", "project_id": pid, "role": "admin"}))
        .await;
    assert_eq!(
        (admin["scopes"].clone(), admin["access"].clone()),
        (json!(["*"]), json!("full"))
    );
    let readonly = app
        .create_key(json!({"name": "r", "project_id": pid}))
        .await;
    assert_eq!(
        (readonly["role"].clone(), readonly["scopes"].clone()),
        (json!("readonly"), json!(["*:read"]))
    );
    let partial = app
        .create_key(json!({"name": "c", "project_id": pid, "scopes": ["push:send"]}))
        .await;
    assert_eq!(partial["access"], "partial");

    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "x", "role": "admin", "scopes": ["data:read"]}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app
        .post("/v1/keys", json!({"name": "x", "role": "custom"}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}

#[tokio::test]
async fn scopes_are_checked_against_the_catalog() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data", "push"]).await;
    let (status, body) = app
        .post("/v1/keys", json!({"name": "x", "project_id": project["id"], "scopes": ["data:read", "billing:read"]}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "scopes[1]");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("billing"),
        "{body}"
    );
    let (status, _) = app
        .post(
            "/v1/keys",
            json!({"name": "x", "project_id": project["id"], "scopes": ["*:read", "push:*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn validation_reports_every_bad_field() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({
                "name": "", "scopes": ["bad scope"], "trusted_origins": ["acme.com"],
                "allowed_ips": ["10.0.0.0/33"], "expires_at": "2020-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "name",
        "scopes[0]",
        "trusted_origins[0]",
        "allowed_ips[0]",
        "expires_at",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    let (_, list) = app.get("/v1/keys").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
}

async fn names(app: &crate::helpers::TestApp, query: &str) -> Vec<String> {
    let (status, list) = app.get(&format!("/v1/keys{query}")).await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_filters_by_status_project_and_search() {
    let app = spawn_app().await;
    let other = app.create_project("Other", "o", &[]).await;
    let active = app
        .create_key(json!({"name": "active one", "description": "Payments"}))
        .await;
    let disabled = app
        .create_key(json!({"name": "disabled one", "enabled": false}))
        .await;
    let _expiring = app
        .create_key(json!({"name": "expired one", "expires_at": "2030-01-01T00:30:00Z"}))
        .await;
    let revoked = app.create_key(json!({"name": "revoked one"})).await;
    app.post(
        &format!("/v1/keys/{}/revoke", revoked["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    app.create_key(json!({"name": "elsewhere", "project_id": other["id"]}))
        .await;
    app.advance(Duration::hours(1));
    assert_eq!(disabled["status"], "disabled");

    assert_eq!(
        names(&app, "?status=active&sort=name").await,
        ["active one", "elsewhere"]
    );
    assert_eq!(names(&app, "?status=disabled").await, ["disabled one"]);
    assert_eq!(names(&app, "?status=expired").await, ["expired one"]);
    assert_eq!(names(&app, "?status=revoked").await, ["revoked one"]);
    assert_eq!(names(&app, "?status=archived").await, Vec::<String>::new());
    assert_eq!(
        names(
            &app,
            &format!("?project_id={}", other["id"].as_str().unwrap())
        )
        .await,
        ["elsewhere"]
    );
    assert_eq!(names(&app, "?q=PAYMENT").await, ["active one"]);
    assert_eq!(names(&app, "?q=one&sort=name").await.len(), 4);
    assert_eq!(
        names(&app, "?q=%25").await,
        Vec::<String>::new(),
        "LIKE wildcards are escaped"
    );
    // Root keys stay out of the main list unless their project is named.
    let management = app.management_project().await;
    assert_eq!(
        names(&app, &format!("?project_id={management}")).await,
        ["Initial root key"]
    );
    let _ = active;
}

#[tokio::test]
async fn list_sorts_and_paginates_with_stable_cursors() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["a", "b"]).await;
    for (i, scopes) in [["b:read"], ["a:write"], ["*"], ["a:read"], ["b:write"]]
        .iter()
        .enumerate()
    {
        app.advance(Duration::seconds(1));
        app.create_key(
            json!({"name": format!("k{i}"), "project_id": project["id"], "scopes": scopes}),
        )
        .await;
    }
    assert_eq!(names(&app, "").await, ["k4", "k3", "k2", "k1", "k0"]);
    assert_eq!(
        names(&app, "?sort=created_at").await,
        ["k0", "k1", "k2", "k3", "k4"]
    );
    assert_eq!(
        names(&app, "?sort=scope").await,
        ["k2", "k3", "k1", "k0", "k4"]
    );

    // Walk every sort two at a time: pages join up to the full list.
    for sort in [
        "created_at",
        "-created_at",
        "scope",
        "name",
        "last_used_at",
        "-last_used_at",
    ] {
        let full = names(&app, &format!("?sort={sort}")).await;
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("/v1/keys?sort={sort}&limit=2&cursor={c}"),
                None => format!("/v1/keys?sort={sort}&limit=2"),
            };
            let (_, page) = app.get(&query).await;
            walked.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["name"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, full, "sort {sort}");
    }

    let (status, body) = app.get("/v1/keys?sort=bogus&limit=0&status=nope").await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 3);
    let (_, page) = app.get("/v1/keys?sort=name&limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, body) = app
        .get(&format!("/v1/keys?sort=scope&cursor={cursor}"))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app.get("/v1/keys?cursor=garbage").await;
    assert_problem(status, &body, 422, "validation_failed");
}

#[tokio::test]
async fn last_used_sorts_put_never_used_keys_at_the_right_end() {
    let app = spawn_app().await;
    let a = app.create_key(json!({"name": "a"})).await;
    let b = app.create_key(json!({"name": "b"})).await;
    app.create_key(json!({"name": "never"})).await;
    app.advance(Duration::seconds(1));
    app.verify_code(b["key"].as_str().unwrap()).await;
    app.advance(Duration::seconds(1));
    app.verify_code(a["key"].as_str().unwrap()).await;
    // Wait for the write-behind (every 50 ms here; longer on a loaded machine).
    for _ in 0..500 {
        if names(&app, "?sort=-last_used_at").await == ["a", "b", "never"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        names(&app, "?sort=-last_used_at").await,
        ["a", "b", "never"]
    );
    assert_eq!(names(&app, "?sort=last_used_at").await, ["never", "b", "a"]);
}
