//! `GET /v1/openapi.json` describes every route with its schemas.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/v1/keys", &["post", "get"][..]),
        ("/v1/keys/{id}", &["get", "patch"]),
        ("/v1/keys/{id}/regenerate", &["post"]),
        ("/v1/keys/{id}/disable", &["post"]),
        ("/v1/keys/{id}/enable", &["post"]),
        ("/v1/keys/{id}/revoke", &["post"]),
        ("/v1/keys/{id}/archive", &["post"]),
        ("/v1/projects", &["post", "get"]),
        ("/v1/projects/{id}", &["get", "patch"]),
        ("/v1/members", &["get", "post"]),
        ("/v1/members/{id}", &["patch", "delete"]),
        ("/v1/members/{id}/reset-password", &["post"]),
        ("/v1/teams", &["get", "post"]),
        ("/v1/teams/{id}", &["patch", "delete"]),
        ("/v1/shared-secret", &["get"]),
        ("/v1/shared-secret/rotate", &["post"]),
        ("/v1/audit", &["get"]),
        ("/v1/audit/export", &["get"]),
        ("/v1/verify", &["post"]),
        ("/v1/auth", &["get"]),
        ("/v1/keys/{id}/usage", &["get"]),
        ("/v1/openapi.json", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        for method in methods {
            let operation = &paths[path][method];
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "CreateKey",
        "UpdateKey",
        "KeyView",
        "VerifyRequest",
        "VerifyResponse",
        "Problem",
        "CreateProject",
        "ProjectView",
        "SharedSecret",
        "Code",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    let codes = serde_json::to_string(&schemas["Code"]).unwrap();
    for code in [
        "VALID",
        "MALFORMED",
        "NOT_FOUND",
        "INSUFFICIENT_SCOPE",
        "USAGE_EXCEEDED",
    ] {
        assert!(codes.contains(code));
    }
    assert!(doc["paths"]["/v1/keys"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["root_key"].is_object());
}
