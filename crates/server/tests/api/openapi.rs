//! `GET /v1/openapi.json` describes every route with its schemas.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

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
        ("/v1/audit/export/email", &["post"]),
        ("/v1/audit/export/download", &["get"]),
        ("/v1/verify", &["post"]),
        ("/v1/auth", &["get"]),
        ("/v1/keys/{id}/usage", &["get"]),
        ("/v1/usage", &["get"]),
        ("/v1/openapi.json", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/v1/policy", &["get", "patch"]),
        ("/v1/webhooks", &["get", "post"]),
        ("/v1/webhooks/{id}", &["get", "patch", "delete"]),
        ("/v1/webhooks/{id}/test", &["post"]),
        ("/v1/leaks", &["post"]),
        ("/v1/leaks/github", &["post"]),
        ("/v1/webhooks/{id}/deliveries", &["get"]),
        (
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            &["post"],
        ),
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

/// The served document.
pub async fn document(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// Every operation: `(method, path, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

/// Forward auth answers the proxy `{valid, code}` and readiness a `Health`:
/// their errors are not problem documents.
fn answers_problems(path: &str) -> bool {
    !matches!(path, "/v1/auth" | "/readyz")
}

fn has_param(operation: &Value, location: &str) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
}

fn documents(operation: &Value, status: &str) -> bool {
    operation["responses"].get(status).is_some()
}

#[tokio::test]
async fn operation_ids_are_unique_and_name_their_resource() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut seen = HashSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(seen.insert(id.to_owned()), "operationId {id} repeats");
        assert!(
            !id.is_empty()
                && id
                    .split('_')
                    .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())),
            "{id}: lowercase words joined by `_`"
        );
        // `/v1/<resource>…` is `<resource>_<action>`, `-` written `_`.
        let resource = path
            .strip_prefix("/v1/")
            .map(|rest| rest.split('/').next().unwrap().replace('-', "_"));
        if let Some(resource) =
            resource.filter(|r| !matches!(r.as_str(), "verify" | "auth" | "openapi.json"))
        {
            assert!(
                id.starts_with(&format!("{resource}_")),
                "{method} {path}: {id} does not start with {resource}_"
            );
        }
    }
    assert!(seen.contains("keys_list") && seen.contains("teams_list"));
}

#[tokio::test]
async fn every_error_answer_is_a_problem_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut errors = 0;
    for (method, path, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
            if !status.starts_with(['4', '5']) || !answers_problems(&path) {
                continue;
            }
            errors += 1;
            let content = response["content"].as_object().unwrap();
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                ["application/problem+json"],
                "{method} {path} {status}"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
        }
    }
    assert!(errors > 100, "{errors} error answers");
    let problem = &doc["components"]["schemas"]["Problem"];
    let required: Vec<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // `errors` is left out when empty.
    assert!(!required.contains(&"errors"), "{required:?}");
}

#[tokio::test]
async fn every_operation_documents_the_answers_its_shape_allows() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path, operation) in operations(&doc) {
        if !answers_problems(&path) {
            continue;
        }
        let mut expected = Vec::new();
        if let Some(body) = operation.get("requestBody") {
            let types: Vec<_> = body["content"].as_object().unwrap().keys().collect();
            assert_eq!(types, ["application/json"], "{method} {path}");
            expected.extend(["400", "413", "415", "422"]);
        }
        if has_param(&operation, "path") {
            expected.extend(["400", "404"]);
        }
        if has_param(&operation, "query") {
            expected.extend(["400", "422"]);
        }
        if operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
        {
            expected.extend(["401", "403", "429", "503"]);
        }
        for status in expected {
            assert!(
                documents(&operation, status),
                "{method} {path} lacks {status}"
            );
        }
    }
    // Verification reads storage without a root key.
    assert!(documents(&doc["paths"]["/v1/verify"]["post"], "503"));
    for (path, code) in [
        ("/v1/keys/{id}", "invalid_path"),
        ("/v1/keys", "invalid_query"),
        ("/v1/keys", "malformed_json"),
        ("/v1/keys", "invalid_idempotency_key"),
    ] {
        let operations = doc["paths"][path].as_object().unwrap();
        assert!(
            operations
                .values()
                .any(|o| o["responses"]["400"]["description"]
                    .as_str()
                    .unwrap()
                    .contains(code)),
            "{path}: 400 does not name {code}"
        );
    }
}

/// Whatever the document says, the server's answers are what it documents:
/// a body of another media type, no credentials, an unknown id.
#[tokio::test]
async fn the_answers_the_server_gives_are_documented() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        if !answers_problems(&path) || path == "/v1/verify" {
            continue;
        }
        let url = format!("{}{}", app.base, path.replace("{id}", "key_unknown"));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut asked: Vec<(reqwest::RequestBuilder, &str)> = vec![(
            app.http.request(method.clone(), &url),
            if operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                "401"
            } else {
                match path.as_str() {
                    // Public, but not without a JSON body.
                    "/v1/leaks" | "/v1/leaks/github" => "415",
                    // Public, but not without the link's token.
                    "/v1/audit/export/download" => "400",
                    _ => "200",
                }
            },
        )];
        if operation.get("requestBody").is_some() {
            let text = app
                .http
                .request(method.clone(), &url)
                .bearer_auth(&app.org.root_key)
                .header("content-type", "text/plain")
                .body("{}");
            asked.push((text, "415"));
        }
        if has_param(&operation, "path") {
            let unknown = app
                .http
                .request(method.clone(), &url)
                .bearer_auth(&app.org.root_key)
                .header("content-type", "application/json")
                .body("{}");
            asked.push((unknown, "404"));
        }
        for (request, expected) in asked {
            let response = request.send().await.unwrap();
            let status = response.status().as_str().to_owned();
            assert_eq!(status, expected, "{method} {path}");
            assert!(
                documents(&operation, &status),
                "{method} {path} answered {status}"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[tokio::test]
async fn parameter_and_field_ranges_are_the_servers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, id) in [("/v1/keys", "keys_list"), ("/v1/audit", "audit_list")] {
        let (_, _, operation) = operations(&doc)
            .into_iter()
            .find(|(_, _, o)| o["operationId"] == id)
            .unwrap();
        let limit = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["type"], "integer", "{id}");
        let (min, max) = (&limit["schema"]["minimum"], &limit["schema"]["maximum"]);
        assert_eq!((min, max), (&json!(1), &json!(100)), "{id}");
        for (limit, expected) in [(0, 422), (1, 200), (100, 200), (101, 422)] {
            let (status, body) = app.get(&format!("{path}?limit={limit}")).await;
            assert_eq!(status.as_u16(), expected, "{path}?limit={limit}: {body}");
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["RateLimit"]["properties"]["limit"]["maximum"],
        json!(i32::MAX)
    );
    assert_eq!(
        schemas["Quota"]["properties"]["limit"]["maximum"],
        json!((1_u64 << 53) - 1)
    );
    assert_eq!(
        schemas["RegenerateKey"]["properties"]["grace_period_seconds"]["maximum"],
        json!(keyward_core::keys::MAX_GRACE_SECONDS)
    );
    for (schema, field) in [("CreateKey", "expires_at"), ("UpdateKey", "expires_at")] {
        assert_eq!(
            schemas[schema]["properties"][field]["format"], "date-time",
            "{schema}.{field}"
        );
    }
    for (schema, field) in [
        ("CreateKey", "project_id"),
        ("CreateKey", "name"),
        ("UpdateKey", "name"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert!(
            !property["type"].to_string().contains("null"),
            "{schema}.{field} is not nullable"
        );
    }
}

#[tokio::test]
async fn optional_bodies_are_not_required_and_null_is_not_one() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for path in ["/v1/keys/{id}/regenerate", "/v1/keys/{id}/revoke"] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_eq!(body["required"], false, "{path}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(schema["$ref"].is_string(), "{path}: {schema}");
    }
    assert_eq!(
        doc["paths"]["/v1/keys"]["post"]["requestBody"]["required"],
        true
    );
}
