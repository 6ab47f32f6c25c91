//! Errors: one problem+json shape, unknown fields, body limits, media types,
//! idempotency.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw(
    app: &crate::helpers::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.org.root_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_400_wrong_values_422() {
    let app = spawn_app().await;
    let (status, body) = raw(
        &app,
        "/v1/keys",
        "application/json",
        b"{\"name\": ".to_vec(),
    )
    .await;
    assert_problem(status, &body, 400, "malformed_json");
    let (status, body) = app
        .post("/v1/keys", json!({"name": "k", "colour": "blue"}))
        .await;
    assert_problem(status, &body, 400, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "colour");
    let (status, body) = app.post("/v1/keys", json!({"name": 5})).await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "name");
    let (status, body) = app
        .post("/v1/keys", json!({"name": "k", "type": "weird"}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "type");
    let (status, body) = app
        .post("/v1/keys", json!({"description": "no name"}))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = raw(&app, "/v1/keys", "text/plain", b"{}".to_vec()).await;
    assert_problem(status, &body, 415, "unsupported_media_type");
    let (_, list) = app.get("/v1/keys").await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app_with(|s| s.body_limit = 1024).await;
    let big = json!({"name": "k", "description": "x".repeat(4096)})
        .to_string()
        .into_bytes();
    let (status, body) = raw(&app, "/v1/keys", "application/json", big.clone()).await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (status, body) = raw(&app, "/v1/verify", "application/json", big).await;
    assert_problem(status, &body, 413, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_ids_and_methods() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = app.get("/v1/keys/not-an-id").await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = app.get("/v1/keys/key_AAAAAAAAAAAAAAAAAAAA").await;
    assert_problem(status, &body, 404, "not_found");
    let response = app
        .http
        .delete(format!("{}/v1/verify", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap();
    assert_problem(status, &body, 405, "method_not_allowed");
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/v1/keys", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = app
        .call(reqwest::Method::GET, "/v1/keys", "kw_sk_nonsense", None)
        .await;
    assert_problem(status, &body, 401, "unauthorized");
    // An ordinary (non-root) key is not a management credential.
    let key = app.create_key(json!({"name": "k", "role": "admin"})).await;
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/v1/keys",
            key["key"].as_str().unwrap(),
            None,
        )
        .await;
    assert_problem(status, &body, 401, "unauthorized");
}

async fn post_idempotent(
    app: &crate::helpers::TestApp,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/keys", app.base))
        .bearer_auth(&app.org.root_key)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotency_key_replays_the_same_response_and_creates_nothing_more() {
    let app = spawn_app().await;
    let body = json!({"name": "once", "meta": {"a": 1, "b": 2}});
    let first = post_idempotent(&app, "req-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    // Same request, keys reordered: the same response, including the key.
    let again = post_idempotent(
        &app,
        "req-1",
        &json!({"meta": {"b": 2, "a": 1}, "name": "once"}),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);

    let (_, list) = app.get("/v1/keys").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let other = post_idempotent(&app, "req-1", &json!({"name": "different"})).await;
    assert_eq!(other.status(), 409);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["code"], "idempotency_key_reused");

    // Another organization may use the same idempotency key independently.
    let second_org = app.new_org("Globex").await;
    let response = app
        .http
        .post(format!("{}/v1/keys", app.base))
        .bearer_auth(&second_org.root_key)
        .header("idempotency-key", "req-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let theirs: Value = response.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_create_one_key() {
    let app = spawn_app().await;
    let body = json!({"name": "raced"});
    let responses = futures_join(&app, &body).await;
    let ids: Vec<Value> = responses.iter().map(|r| r["id"].clone()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let (_, list) = app.get("/v1/keys").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn futures_join(app: &crate::helpers::TestApp, body: &Value) -> Vec<Value> {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = app
            .http
            .post(format!("{}/v1/keys", app.base))
            .bearer_auth(&app.org.root_key)
            .header("idempotency-key", "same")
            .json(body);
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().json::<Value>().await.unwrap()
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn responses_carry_a_request_id_and_are_not_cached() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers()["x-request-id"].is_empty());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// POSTs `chunks` to `/v1/verify` as a chunked body (no `Content-Length`),
/// each chunk written and flushed on its own, over a plain connection. The
/// body is ended only when `complete`; otherwise the answer must come first.
async fn verify_chunked(
    app: &crate::helpers::TestApp,
    content_type: &str,
    chunks: &[&[u8]],
    complete: bool,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        // Each chunk in one write: an answer sent before a chunk's last bytes
        // arrive would leave them unread, and the close would reset.
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        stream.write_all(&framed).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if complete {
        stream.write_all(b"0\r\n\r\n").await.unwrap();
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "answers carry a Content-Length: {head}"
    );
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn verification_bodies_in_several_chunks_are_read_whole_and_within_the_limit() {
    let app = spawn_app_with(|s| s.body_limit = 1024).await;
    let key = app.create_key(json!({"name": "k"})).await;
    let body = json!({"key": key["key"]}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let (second, third) = rest.split_at(rest.len() / 2);

    let (status, answer) =
        verify_chunked(&app, "application/json", &[first, second, third], true).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["key_id"], key["id"]);

    // Parameters and `+json` types are JSON too; other types are not.
    for content_type in [
        "Application/JSON; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let (status, answer) = verify_chunked(&app, content_type, &[body.as_bytes()], true).await;
        assert_eq!(
            (status, &answer["code"]),
            (200, &json!("VALID")),
            "{content_type}"
        );
    }
    let (status, answer) = verify_chunked(&app, "text/plain", &[body.as_bytes()], true).await;
    assert_problem(
        StatusCode::from_u16(status).unwrap(),
        &answer,
        415,
        "unsupported_media_type",
    );

    // No length announced: the limit is enforced as the chunks arrive.
    let padding = format!(r#"{{"key":"{}","#, key["key"].as_str().unwrap());
    let filler = vec![b' '; 600];
    let (status, answer) = verify_chunked(
        &app,
        "application/json",
        &[padding.as_bytes(), &filler, &filler],
        false,
    )
    .await;
    assert_problem(
        StatusCode::from_u16(status).unwrap(),
        &answer,
        413,
        "payload_too_large",
    );
}
