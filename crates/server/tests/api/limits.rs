//! Rate limits, quotas, the usage endpoint and forward-auth.

use crate::helpers::{TestApp, assert_problem, eventually, spawn_app};
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn rate_limits_count_only_valid_answers_in_fixed_windows() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data"]).await;
    let key = app
        .create_key(json!({"name": "k", "project_id": project["id"], "scopes": ["data:read"], "ratelimit": {"limit": 2, "window_seconds": 60}}))
        .await;
    assert_eq!(key["ratelimit"], json!({"limit": 2, "window_seconds": 60}));
    let ok = json!({"key": key["key"], "scopes": ["data:read"]});
    let denied = json!({"key": key["key"], "scopes": ["data:write"]});

    let first = app.verify(ok.clone()).await;
    assert_eq!(first["code"], "VALID");
    assert_eq!(
        first["ratelimit"],
        json!({"limit": 2, "remaining": 1, "reset_at": "2030-01-01T00:01:00Z"})
    );
    // A refused verification consumes nothing.
    assert_eq!(app.verify(denied).await["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(app.verify(ok.clone()).await["ratelimit"]["remaining"], 0);
    let limited = app.verify(ok.clone()).await;
    assert_eq!(limited["code"], "RATE_LIMITED");
    assert_eq!(limited["valid"], false);
    assert_eq!(limited["ratelimit"]["remaining"], 0);

    app.advance(Duration::seconds(60));
    assert_eq!(app.verify(ok.clone()).await["code"], "VALID");

    // Removed with null, the limit no longer applies.
    let (_, updated) = app
        .patch(
            &format!("/v1/keys/{}", key["id"].as_str().unwrap()),
            json!({"ratelimit": null}),
        )
        .await;
    assert_eq!(updated["ratelimit"], Value::Null);
    for _ in 0..3 {
        assert_eq!(app.verify(ok.clone()).await["code"], "VALID");
    }
}

#[tokio::test]
async fn quotas_refill_per_period_and_are_shown_on_the_key() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "quota": {"limit": 2, "period": "day"}}))
        .await;
    assert_eq!(
        key["quota"],
        json!({"limit": 2, "period": "day", "remaining": 2, "refills_at": "2030-01-02T00:00:00Z"})
    );
    let secret = key["key"].as_str().unwrap();
    assert_eq!(
        app.verify(json!({"key": secret})).await["quota"]["remaining"],
        1
    );
    assert_eq!(
        app.verify(json!({"key": secret})).await["quota"]["remaining"],
        0
    );
    let exceeded = app.verify(json!({"key": secret})).await;
    assert_eq!(exceeded["code"], "USAGE_EXCEEDED");
    assert_eq!(exceeded["quota"]["refills_at"], "2030-01-02T00:00:00Z");

    // Written behind: the key object catches up within the flush interval.
    let id = key["id"].as_str().unwrap();
    let path = format!("/v1/keys/{id}");
    eventually(
        async || app.get(&path).await.1["quota"]["remaining"] == 0,
        "the key object showing its quota used up",
    )
    .await;

    app.advance(Duration::days(1));
    assert_eq!(app.verify_code(secret).await, "VALID");
}

#[tokio::test]
async fn lifetime_quotas_never_refill_and_limits_are_validated() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "quota": {"limit": 1, "period": "none"}}))
        .await;
    let secret = key["key"].as_str().unwrap();
    assert_eq!(app.verify_code(secret).await, "VALID");
    app.advance(Duration::days(400));
    let exceeded = app.verify(json!({"key": secret})).await;
    assert_eq!(exceeded["code"], "USAGE_EXCEEDED");
    assert_eq!(exceeded["quota"]["refills_at"], Value::Null);

    let (status, body) = app
        .post("/v1/keys", json!({"name": "x", "ratelimit": {"limit": 0, "window_seconds": 999999}, "quota": {"limit": 0, "period": "day"}}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ratelimit", "quota"]);
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "x", "quota": {"limit": 5, "period": "week"}}),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}

pub(crate) async fn wait_for_usage(app: &TestApp, path: &str, total: u64) -> Value {
    let sum = |usage: &Value| -> u64 {
        usage["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["total"].as_u64().unwrap())
            .sum()
    };
    eventually(
        async || {
            let (status, usage) = app.get(path).await;
            assert_eq!(status, 200, "{usage}");
            sum(&usage) == total
        },
        &format!("{path} reaching {total}"),
    )
    .await;
    app.get(path).await.1
}

#[tokio::test]
async fn usage_counts_per_hour_and_day_by_outcome() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "trusted_origins": ["https://acme.com"]}))
        .await;
    let id = key["id"].as_str().unwrap();
    app.advance(Duration::minutes(90));
    for origin in ["https://acme.com", "https://acme.com", "https://evil.com"] {
        app.verify(json!({"key": key["key"], "origin": origin}))
            .await;
    }
    let hourly = wait_for_usage(&app, &format!("/v1/keys/{id}/usage?granularity=hour"), 3).await;
    assert_eq!(hourly["granularity"], "hour");
    let buckets = hourly["data"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    let busy = buckets.iter().find(|b| b["total"] == 3).unwrap();
    assert_eq!(busy["start"], "2030-01-01T01:00:00Z");
    assert_eq!(busy["counts"], json!({"VALID": 2, "ORIGIN_NOT_ALLOWED": 1}));

    let daily = wait_for_usage(&app, &format!("/v1/keys/{id}/usage"), 3).await;
    assert_eq!(daily["data"].as_array().unwrap().len(), 30);
    assert_eq!(daily["data"][29]["start"], "2030-01-01T00:00:00Z");
    assert_eq!(daily["data"][29]["counts"]["VALID"], 2);

    let (status, body) = app
        .get(&format!("/v1/keys/{id}/usage?granularity=week"))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}

async fn forward(
    app: &TestApp,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    build(app.http.get(format!("{}/v1/auth", app.base)))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forward_auth_answers_with_statuses_and_headers() {
    let app = spawn_app().await;
    let project = app.create_project("P", "p", &["data"]).await;
    let key = app
        .create_key(json!({
            "name": "k", "project_id": project["id"], "scopes": ["data:read"],
            "trusted_origins": ["https://acme.com"], "ratelimit": {"limit": 3, "window_seconds": 10},
        }))
        .await;
    let secret = key["key"].as_str().unwrap().to_owned();

    let missing = forward(&app, |r| r).await;
    assert_eq!(missing.status(), 401);
    let ok = forward(&app, |r| {
        r.bearer_auth(&secret)
            .header("origin", "https://acme.com")
            .header("x-keyward-scopes", "data:read")
    })
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["x-keyward-key-id"],
        key["id"].as_str().unwrap()
    );
    assert_eq!(ok.headers()["x-keyward-org-id"], app.org.id.as_str());
    assert_eq!(
        ok.headers()["x-keyward-project-id"],
        project["id"].as_str().unwrap()
    );
    assert_eq!(ok.headers()["x-keyward-scopes"], "data:read");
    let via_header = forward(&app, |r| {
        r.header("x-api-key", &secret)
            .header("origin", "https://acme.com")
    })
    .await;
    assert_eq!(via_header.status(), 200);
    let scope = forward(&app, |r| {
        r.query(&[("scopes", "data:write")])
            .bearer_auth(&secret)
            .header("origin", "https://acme.com")
    })
    .await;
    assert_eq!(scope.status(), 403);
    let origin = forward(&app, |r| {
        r.bearer_auth(&secret).header("origin", "https://evil.com")
    })
    .await;
    assert_eq!(origin.status(), 403);
    let malformed = forward(&app, |r| r.bearer_auth("kw_sk_nope")).await;
    assert_eq!(malformed.status(), 401);
    // The third valid call goes to a suffixed path, as Envoy's ext_authz sends.
    let third = app
        .http
        .get(format!("{}/v1/auth/orders/42", app.base))
        .bearer_auth(&secret)
        .header("origin", "https://acme.com")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 200);
    assert_eq!(
        third.headers()["x-keyward-key-id"],
        key["id"].as_str().unwrap()
    );
    let limited = forward(&app, |r| {
        r.bearer_auth(&secret).header("origin", "https://acme.com")
    })
    .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "10");

    app.post(
        &format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let revoked = forward(&app, |r| {
        r.bearer_auth(&secret).header("origin", "https://acme.com")
    })
    .await;
    assert_eq!(revoked.status(), 401);
    assert_eq!(revoked.headers()["x-keyward-code"], "REVOKED");
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_root_key_that_sent_them() {
    let app = spawn_app().await;
    let other_root = app.root_key_with(&["keys:write"]).await;
    let send = |root: String| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/v1/keys", app.base))
                .bearer_auth(root)
                .header("idempotency-key", "shared")
                .json(&json!({"name": "same"}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mine = send(app.org.root_key.clone()).await;
    let theirs = send(other_root).await;
    assert_ne!(
        mine["id"], theirs["id"],
        "another caller never gets my response"
    );
    assert_ne!(mine["key"], theirs["key"]);
}

#[tokio::test]
async fn root_keys_take_only_management_scopes_and_honour_their_restrictions() {
    let app = spawn_app().await;
    let management = app.management_project().await;
    for body in [
        json!({"name": "r", "project_id": management, "scopes": ["projects:read"]}),
        json!({"name": "r", "project_id": management, "role": "readonly"}),
        json!({"name": "r", "project_id": management}),
    ] {
        let (status, response) = app.post("/v1/keys", body).await;
        assert_problem(status, &response, 422, "validation_failed");
    }
    let fenced = app
        .create_key(json!({"name": "r", "project_id": management, "scopes": ["keys:read"], "allowed_ips": ["10.0.0.0/8"]}))
        .await;
    let (status, body) = app
        .call(
            Method::GET,
            "/v1/keys",
            fenced["key"].as_str().unwrap(),
            None,
        )
        .await;
    assert_problem(status, &body, 401, "unauthorized");
    let open = app
        .create_key(json!({"name": "r2", "project_id": management, "scopes": ["keys:read"], "allowed_ips": ["127.0.0.0/8"]}))
        .await;
    let (status, _) = app
        .call(Method::GET, "/v1/keys", open["key"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_root_key_over_its_own_rate_limit_is_throttled_with_429() {
    let app = spawn_app().await;
    let management = app.management_project().await;
    let root = app
        .create_key(json!({"name": "r", "project_id": management, "scopes": ["keys:read"], "ratelimit": {"limit": 1, "window_seconds": 60}}))
        .await;
    let secret = root["key"].as_str().unwrap();
    let (status, _) = app.call(Method::GET, "/v1/keys", secret, None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call(Method::GET, "/v1/keys", secret, None).await;
    assert_problem(status, &body, 429, "rate_limited");
}

#[tokio::test]
async fn forward_auth_takes_any_method_and_names_a_missing_key_malformed() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    // Envoy forwards the original method.
    let response = app
        .http
        .post(format!("{}/v1/auth/orders", app.base))
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let missing = app
        .http
        .delete(format!("{}/v1/auth", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["x-keyward-code"], "MALFORMED");
}

#[tokio::test]
async fn forward_auth_always_says_when_to_retry() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "k", "quota": {"limit": 1, "period": "none"}}))
        .await;
    let secret = key["key"].as_str().unwrap();
    assert_eq!(forward(&app, |r| r.bearer_auth(secret)).await.status(), 200);
    let spent = forward(&app, |r| r.bearer_auth(secret)).await;
    assert_eq!(spent.status(), 429);
    assert_eq!(spent.headers()["retry-after"], "86400");
}
