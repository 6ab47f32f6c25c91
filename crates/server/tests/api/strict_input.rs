//! Input read strictly: one JSON object and nothing after it, `null` only
//! where it means something, timestamps and numbers only in the ranges the
//! OpenAPI document declares, and every refusal in the problem shape.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn send(app: &TestApp, method: Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
    let response = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.org.root_key)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        },
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn only_one_json_object_is_a_body() {
    let app = spawn_app().await;
    let bodies: [&[u8]; 6] = [
        br#"{"name":"a"}{"name":"b","role":"admin"}"#,
        br#"{"name":"x"} junk"#,
        b"{\"name\":\"x\"}\0",
        br#"["renamed"]"#,
        br#""name""#,
        br#"null"#,
    ];
    for body in bodies {
        let (status, problem) = send(&app, Method::POST, "/v1/keys", body).await;
        assert_problem(status, &problem, 400, "malformed_json");
    }
    let (_, keys) = app.get("/v1/keys").await;
    assert!(
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["name"] != "a" && k["name"] != "x"),
        "nothing was created"
    );

    let key = app.create_key(json!({"name": "kept"})).await;
    let path = format!("/v1/keys/{}", key["id"].as_str().unwrap());
    let (status, problem) = send(&app, Method::PATCH, &path, br#"["renamed"]"#).await;
    assert_problem(status, &problem, 400, "malformed_json");
    let (status, problem) = send(&app, Method::PATCH, &path, br#"{"name":"renamed"} {}"#).await;
    assert_problem(status, &problem, 400, "malformed_json");
    assert_eq!(app.get(&path).await.1["name"], "kept");

    // Verification reads its body by the same rule.
    let secret = key["key"].as_str().unwrap();
    for body in [
        format!(r#"{{"key":"{secret}"}} junk"#),
        format!(r#"["{secret}"]"#),
    ] {
        let response = app
            .http
            .post(format!("{}/v1/verify", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_problem(
            status,
            &response.json().await.unwrap(),
            400,
            "malformed_json",
        );
    }
}

#[tokio::test]
async fn null_is_refused_where_it_means_nothing() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "kept", "description": "d"}))
        .await;
    let path = format!("/v1/keys/{}", key["id"].as_str().unwrap());
    for field in [
        "name",
        "role",
        "scopes",
        "enabled",
        "meta",
        "trusted_origins",
        "allowed_ips",
    ] {
        let (status, problem) = app.patch(&path, json!({ field: null })).await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let (status, problem) = app
        .post("/v1/keys", json!({"name": "n", "type": null}))
        .await;
    assert_problem(status, &problem, 422, "validation_failed");
    // Where null means "none", it still does.
    let (status, body) = app
        .patch(&path, json!({"description": null, "expires_at": null}))
        .await;
    assert_eq!(status, 200);
    assert_ne!(body["description"], "d");
    assert_eq!(body["name"], "kept");
}

#[tokio::test]
async fn timestamps_and_limits_stay_within_what_the_documents_represent() {
    let app = spawn_app().await;
    for expires_at in [
        "+10000-01-01T00:00:00Z",
        "2031-01-01T00:00:60Z",
        "2031-01-01",
        "-0001-01-01T00:00:00Z",
    ] {
        let (status, problem) = app
            .post("/v1/keys", json!({"name": "t", "expires_at": expires_at}))
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "expires_at", "{expires_at}");
    }
    let key = app
        .create_key(json!({"name": "t", "expires_at": "2031-01-01T01:00:00+01:00"}))
        .await;
    assert_eq!(key["expires_at"], "2031-01-01T00:00:00Z");

    let too_big = [
        json!({"name": "r", "ratelimit": {"limit": 2_147_483_648_u64, "window_seconds": 1}}),
        json!({"name": "r", "ratelimit": {"limit": 4_294_967_295_u64, "window_seconds": 1}}),
        json!({"name": "q", "quota": {"limit": 9_007_199_254_740_992_u64, "period": "day"}}),
        json!({"name": "q", "quota": {"limit": 9_223_372_036_854_775_808_u64, "period": "day"}}),
    ];
    for body in too_big {
        let (status, problem) = app.post("/v1/keys", body.clone()).await;
        assert_problem(status, &problem, 422, "validation_failed");
    }
    let largest = app
        .create_key(
            json!({"name": "max", "ratelimit": {"limit": 2_147_483_647, "window_seconds": 86_400},
                           "quota": {"limit": 9_007_199_254_740_991_u64, "period": "none"}}),
        )
        .await;
    assert_eq!(largest["quota"]["limit"], 9_007_199_254_740_991_u64);

    // A whole number written with a fraction is the same integer; any other is not.
    let whole = app
        .create_key(
            json!({"name": "w", "ratelimit": {"limit": 10.0, "window_seconds": 60.0},
                           "quota": {"limit": 5.0, "period": "day"}}),
        )
        .await;
    assert_eq!(whole["ratelimit"]["limit"], 10);
    assert_eq!(whole["quota"]["limit"], 5);
    for ratelimit in [
        json!({"limit": 10.5, "window_seconds": 60}),
        json!({"limit": -1, "window_seconds": 60}),
    ] {
        let (status, problem) = app
            .post("/v1/keys", json!({"name": "f", "ratelimit": ratelimit}))
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
    }
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_problem() {
    let app = spawn_app().await;
    let (status, problem) = send(&app, Method::PATCH, "/v1/keys/%FF%FE", br#"{"name":"x"}"#).await;
    assert_problem(status, &problem, 400, "invalid_path");
    let (status, problem) = send(&app, Method::POST, "/v1/keys/%FF/revoke", b"{}").await;
    assert_problem(status, &problem, 400, "invalid_path");
}

#[tokio::test]
async fn time_filters_read_timestamps_as_bodies_do() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let id = key["id"].as_str().unwrap();
    for bad in ["%2B10000-01-01T00:00:00Z", "2030-01-01T00:00:60Z"] {
        let (status, problem) = app.get(&format!("/v1/audit?from={bad}")).await;
        assert_problem(status, &problem, 422, "validation_failed");
        let (status, problem) = app.get(&format!("/v1/keys/{id}/usage?to={bad}")).await;
        assert_problem(status, &problem, 422, "validation_failed");
    }
    let (status, _) = app.get("/v1/audit?from=2029-12-31T23:00:00Z").await;
    assert_eq!(status, 200);
}
