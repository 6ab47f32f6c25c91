//! The tower layer and the axum extractor in a small real app, served on 127.0.0.1:0,
//! answering as `GET /v1/auth` does.

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use keyward_client::{Guard, Keyward, Verification, Verified, scopes};
use serde_json::{Value, json};

use crate::support::{Server, dead_url, serve};

scopes!(PushWrite = ["push:write"]);

async fn echo(Extension(key): Extension<Verification>) -> Json<Value> {
    Json(json!({
        "key_id": key.key_id, "org_id": key.org_id, "project_id": key.project_id,
        "scopes": key.scopes, "meta": key.meta, "fail_open": key.fail_open, "code": key.code,
    }))
}

async fn push(key: Verified<PushWrite>) -> String {
    format!("pushed by {}", key.key_id.as_deref().unwrap_or("?"))
}

async fn any(key: Verified) -> String {
    format!("hello {}", key.code)
}

/// `/data` behind the layer (`data:read`), `/push` and `/any` with the extractor.
pub fn app(guard: Guard) -> Router {
    Router::new()
        .route("/data", get(echo).route_layer(guard.layer(["data:read"])))
        .route("/push", post(push))
        .route("/any", get(any))
        .with_state(guard)
}

struct Answer {
    status: u16,
    code: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(method: reqwest::Method, url: String, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let code = headers
        .get("x-keyward-code")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        code,
        headers,
        body,
    }
}

async fn get_(url: String, headers: &[(&str, &str)]) -> Answer {
    call(reqwest::Method::GET, url, headers).await
}

/// Keyward's own forward-auth answer for the same key and scopes.
async fn forward_auth(server: &Server, key: Option<&str>, scopes: &str) -> (u16, Option<String>) {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let mut headers = vec![("x-keyward-scopes", scopes)];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let answer = get_(format!("{}/v1/auth", server.url), &headers).await;
    (answer.status, answer.code)
}

#[tokio::test]
async fn the_layer_lets_valid_keys_in_and_refuses_like_forward_auth() {
    let server = Server::start().await;
    let project = server.project().await;
    let guard = Guard::new(Keyward::new(&server.url).unwrap());
    let app = serve(app(guard)).await;
    let data = format!("{app}/data");

    let created = server.key(&project, json!({"meta": {"plan": "pro"}})).await;
    let key = created["key"].as_str().unwrap();
    let bearer = format!("Bearer {key}");
    let through = get_(data.clone(), &[("authorization", &bearer)]).await;
    assert_eq!(through.status, 200, "{:?}", through.body);
    assert_eq!(through.body["key_id"], created["id"]);
    assert_eq!(through.body["org_id"], server.org_id.as_str());
    assert_eq!(through.body["project_id"], project.as_str());
    assert_eq!(through.body["scopes"], json!(["data:read"]));
    assert_eq!(through.body["meta"], json!({"plan": "pro"}));
    assert_eq!(get_(data.clone(), &[("x-api-key", key)]).await.status, 200);

    let missing = get_(data.clone(), &[]).await;
    assert_eq!(
        (missing.status, missing.code.as_deref()),
        (401, Some("MALFORMED"))
    );
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert_eq!(missing.headers["content-type"], "application/problem+json");
    assert_eq!(missing.body["code"], "MALFORMED");
    assert_eq!(missing.body["status"], 401);
    assert_eq!(missing.body["type"], "urn:keyward:problem:malformed");
    assert_eq!(
        forward_auth(&server, None, "data:read").await,
        (401, Some("MALFORMED".into()))
    );

    let narrow = server.key(&project, json!({"scopes": ["push:read"]})).await;
    let narrow = narrow["key"].as_str().unwrap();
    let refused = get_(data.clone(), &[("x-api-key", narrow)]).await;
    assert_eq!(
        (refused.status, refused.code.as_deref()),
        (403, Some("INSUFFICIENT_SCOPE"))
    );
    assert_eq!(refused.body["code"], "INSUFFICIENT_SCOPE");
    assert!(refused.headers.get("www-authenticate").is_none());
    assert_eq!(
        forward_auth(&server, Some(narrow), "data:read").await,
        (403, Some("INSUFFICIENT_SCOPE".into()))
    );

    let origins = server
        .key(
            &project,
            json!({"trusted_origins": ["https://app.acme.com"]}),
        )
        .await;
    let origins = origins["key"].as_str().unwrap();
    let good = get_(
        data.clone(),
        &[("x-api-key", origins), ("origin", "https://app.acme.com")],
    )
    .await;
    assert_eq!(good.status, 200);
    let bad = get_(
        data.clone(),
        &[("x-api-key", origins), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        (bad.status, bad.code.as_deref()),
        (403, Some("ORIGIN_NOT_ALLOWED"))
    );

    // The TCP peer (127.0.0.1) is passed to Keyward.
    let local = server
        .key(&project, json!({"allowed_ips": ["127.0.0.0/8"]}))
        .await;
    let far = server
        .key(&project, json!({"allowed_ips": ["10.0.0.0/8"]}))
        .await;
    let local_answer = get_(
        data.clone(),
        &[("x-api-key", local["key"].as_str().unwrap())],
    )
    .await;
    assert_eq!(local_answer.status, 200);
    let far_answer = get_(data.clone(), &[("x-api-key", far["key"].as_str().unwrap())]).await;
    assert_eq!(
        (far_answer.status, far_answer.code.as_deref()),
        (403, Some("IP_NOT_ALLOWED"))
    );

    let limited = server
        .key(
            &project,
            json!({"ratelimit": {"limit": 1, "window_seconds": 60}}),
        )
        .await;
    let limited = limited["key"].as_str().unwrap();
    assert_eq!(
        get_(data.clone(), &[("x-api-key", limited)]).await.status,
        200
    );
    let throttled = get_(data.clone(), &[("x-api-key", limited)]).await;
    assert_eq!(
        (throttled.status, throttled.code.as_deref()),
        (429, Some("RATE_LIMITED"))
    );
    let retry: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        forward_auth(&server, Some(limited), "data:read").await,
        (429, Some("RATE_LIMITED".into()))
    );

    server
        .raw(
            axum::http::Method::POST,
            &format!("/v1/keys/{}/revoke", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    let revoked = get_(data, &[("authorization", &bearer)]).await;
    assert_eq!(
        (revoked.status, revoked.code.as_deref()),
        (401, Some("REVOKED"))
    );
    assert_eq!(revoked.headers["www-authenticate"], "Bearer");
    assert_eq!(
        forward_auth(&server, Some(key), "data:read").await,
        (401, Some("REVOKED".into()))
    );
}

#[tokio::test]
async fn the_extractor_requires_its_routes_scopes() {
    let server = Server::start().await;
    let project = server.project().await;
    let app = serve(app(Guard::new(Keyward::new(&server.url).unwrap()))).await;

    let reader = server.key(&project, json!({})).await;
    let reader = reader["key"].as_str().unwrap();
    let writer = server
        .key(&project, json!({"scopes": ["push:write"]}))
        .await;

    let refused = call(
        reqwest::Method::POST,
        format!("{app}/push"),
        &[("x-api-key", reader)],
    )
    .await;
    assert_eq!(
        (refused.status, refused.code.as_deref()),
        (403, Some("INSUFFICIENT_SCOPE"))
    );
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    let bearer = format!("Bearer {}", writer["key"].as_str().unwrap());
    let pushed = call(
        reqwest::Method::POST,
        format!("{app}/push"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(pushed.status, 200);
    assert_eq!(
        pushed.body,
        Value::String(format!("pushed by {}", writer["id"].as_str().unwrap()))
    );

    assert_eq!(
        get_(format!("{app}/any"), &[("x-api-key", reader)])
            .await
            .status,
        200
    );
    let missing = get_(format!("{app}/any"), &[]).await;
    assert_eq!(
        (missing.status, missing.code.as_deref()),
        (401, Some("MALFORMED"))
    );
    let unknown = get_(format!("{app}/any"), &[("x-api-key", "wid_sk_notakey")]).await;
    assert_eq!(
        (unknown.status, unknown.code.as_deref()),
        (401, Some("MALFORMED"))
    );
}

#[tokio::test]
async fn keyward_stopped_means_503_unavailable() {
    let mut server = Server::start().await;
    let project = server.project().await;
    let key = server.key(&project, json!({})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    let client = Keyward::builder(&server.url)
        .backoff(Duration::from_millis(20))
        .build()
        .unwrap();
    let app = serve(app(Guard::new(client))).await;
    assert_eq!(
        get_(format!("{app}/data"), &[("x-api-key", &key)])
            .await
            .status,
        200
    );

    server.stop();
    for path in ["/data", "/any"] {
        let refused = get_(format!("{app}{path}"), &[("x-api-key", &key)]).await;
        assert_eq!(
            (refused.status, refused.code.as_deref()),
            (503, Some("UNAVAILABLE"))
        );
        assert_eq!(refused.body["code"], "UNAVAILABLE");
        assert_eq!(refused.headers["content-type"], "application/problem+json");
    }
    let nowhere = serve(self::app(Guard::new(Keyward::new(dead_url()).unwrap()))).await;
    let refused = get_(format!("{nowhere}/data"), &[("x-api-key", &key)]).await;
    assert_eq!(refused.status, 503);
}
