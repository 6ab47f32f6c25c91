//! Keyward stopped, slow, failing or talking nonsense: the client fails closed, in time.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Extension, Router};
use keyward_client::{Error, Guard, Keyward, Verification};
use serde_json::json;

use crate::support::{Server, blackhole, capture_logs, dead_url, scripted, serve};

const KEY: &str = "kw_sk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const VALID: &str = r#"{"valid": true, "code": "VALID", "key_id": "key_x", "scopes": []}"#;
const NONE: &[&str] = &[];

#[tokio::test]
async fn a_stopped_keyward_is_unavailable_after_bounded_retries() {
    let mut server = Server::start().await;
    let created = server.key(&server.project().await, json!({})).await;
    let key = created["key"].as_str().unwrap();
    let keyward = Keyward::builder(&server.url)
        .retries(2)
        .backoff(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(keyward.verify(key, NONE).await.unwrap().valid);
    server.stop();

    let started = Instant::now();
    let failed = keyward.verify(key, NONE).await.unwrap_err();
    assert!(matches!(failed, Error::Unreachable(_)), "{failed:?}");
    assert!(failed.is_unavailable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "two short backoffs, not the budget"
    );
}

#[tokio::test]
async fn a_slow_keyward_times_out_within_the_budget() {
    let url = blackhole().await;
    let keyward = Keyward::builder(&url)
        .timeout(Duration::from_millis(500))
        .retries(3)
        .build()
        .unwrap();
    let started = Instant::now();
    let failed = keyward.verify(KEY, NONE).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(failed, Error::Timeout(_)), "{failed:?}");
    assert!(failed.is_unavailable());
    assert!(
        // The budget is for the whole call: four tries would take 2 s.
        elapsed > Duration::from_millis(450) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );

    let started = Instant::now();
    let failed = Keyward::new(&url)
        .unwrap()
        .verify(KEY, NONE)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(failed, Error::Timeout(_)));
    assert!(
        // 2 s by default, for the whole call.
        elapsed > Duration::from_millis(1900) && elapsed < Duration::from_millis(3500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_a_bounded_number_of_times() {
    let problem =
        r#"{"code": "storage_unavailable", "status": 503, "title": "Storage unavailable"}"#;
    let (url, seen) = scripted(vec![(503, problem)]).await;
    let keyward = Keyward::builder(&url)
        .retries(2)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let failed = keyward.verify(KEY, NONE).await.unwrap_err();
    assert!(matches!(failed, Error::Server(_)), "{failed:?}");
    assert!(failed.is_unavailable());
    assert_eq!(failed.code(), Some("storage_unavailable"));
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    let (url, seen) = scripted(vec![(502, "{}"), (500, "oops"), (200, VALID)]).await;
    let keyward = Keyward::builder(&url)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    assert!(keyward.verify(KEY, NONE).await.unwrap().valid);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_unsafe_calls_are_not_replayed() {
    let problem =
        r#"{"code": "validation_failed", "errors": [{"field": "scopes[0]", "message": "no"}]}"#;
    let (url, seen) = scripted(vec![(422, problem)]).await;
    let keyward = Keyward::builder(&url)
        .retries(3)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let failed = keyward.verify(KEY, &["x:y"]).await.unwrap_err();
    assert_eq!(failed.code(), Some("validation_failed"));
    assert_eq!(failed.api().unwrap().errors[0].field, "scopes[0]");
    assert!(!failed.is_unavailable());
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (url, seen) = scripted(vec![(429, r#"{"code": "rate_limited"}"#)]).await;
    let admin = Keyward::builder(&url).root_key("r").build().unwrap();
    let _ = admin.projects().list().await.unwrap_err();
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (url, seen) = scripted(vec![(503, "{}")]).await;
    let admin = Keyward::builder(&url)
        .root_key("r")
        .retries(3)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    for call in 0..3 {
        let failed = match call {
            0 => admin.keys().revoke("key_1", None).await,
            1 => admin.keys().archive("key_1").await,
            _ => admin.keys().regenerate("key_1", None).await,
        };
        assert!(matches!(failed, Err(Error::Server(_))));
    }
    // A revocation, archive or regeneration that may have applied is not sent again.
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_of_a_429_is_in_the_error() {
    let server = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [
                ("retry-after", "7"),
                ("content-type", "application/problem+json"),
            ],
            r#"{"code": "rate_limited", "status": 429}"#,
        )
    });
    let url = serve(server).await;
    let admin = Keyward::builder(&url).root_key("r").build().unwrap();
    let failed = admin.projects().list().await.unwrap_err();
    assert_eq!(failed.code(), Some("rate_limited"));
    assert_eq!(failed.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn unreadable_answers_fail_closed() {
    for body in [
        "not json",
        "[]",
        r#"{"valid": true}"#,
        r#"{"valid": true, "code": "REVOKED"}"#,
        r#"{"valid": "yes", "code": "VALID"}"#,
        r#"{"valid": true, "code": "VALID", "scopes": "data:read"}"#,
    ] {
        let (url, _) = scripted(vec![(200, body)]).await;
        let failed = Keyward::new(&url)
            .unwrap()
            .verify(KEY, NONE)
            .await
            .unwrap_err();
        assert!(matches!(failed, Error::Unreadable(_)), "{body}: {failed:?}");
        let app = serve(crate::middleware::app(Guard::new(
            Keyward::new(&url).unwrap(),
        )))
        .await;
        let answer = reqwest::Client::new()
            .get(format!("{app}/data"))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503, "{body}");
    }
}

#[tokio::test]
async fn fail_open_is_explicit_and_logs_every_use_without_the_key() {
    let (logs, _guard) = capture_logs();
    let client = Keyward::builder(dead_url()).retries(0).build().unwrap();
    let orders = |guard: Guard| {
        Router::new()
            .route(
                "/orders",
                get(|Extension(key): Extension<Verification>| async move {
                    format!("{} {}", key.code, key.fail_open)
                }),
            )
            .route_layer(guard.layer(["data:read"]))
    };
    let closed = serve(orders(Guard::new(client.clone()))).await;
    let open = serve(orders(Guard::new(client).fail_open(true))).await;
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{closed}/orders"))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);

    for _ in 0..2 {
        let answer = http
            .get(format!("{open}/orders"))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "UNVERIFIED true");
    }
    // A refused key stays refused, whatever fail_open says.
    let missing = http.get(format!("{open}/orders")).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let uses: Vec<_> = logs
        .lines()
        .filter(|line| line.contains("failing open"))
        .collect();
    assert_eq!(uses.len(), 2, "{logs}");
    assert!(uses[0].contains("WARN"), "{logs}");
    assert!(
        uses[0]
            .contains("keyward: failing open for GET /orders: unreachable: cannot reach Keyward"),
        "{logs}"
    );
    assert!(
        logs.contains("keyward: refusing GET /orders: unreachable"),
        "{logs}"
    );
    assert!(!logs.contains(KEY), "the key was logged:\n{logs}");
}
