//! `GET /metrics`: verifications counted by path and final code, management
//! requests by route template, the caches and storage read at the scrape,
//! and no key or key id in any label.

use crate::helpers::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

pub(crate) async fn scrape(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels as exposed).
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn verifications_are_counted_by_path_and_final_code() {
    let app = spawn_app().await;
    let limited = app
        .create_key(json!({"name": "limited", "ratelimit": {"limit": 2, "window_seconds": 60}}))
        .await;
    let key = limited["key"].as_str().unwrap();
    for _ in 0..5 {
        app.verify(json!({"key": key})).await;
    }
    app.verify(json!({"key": "nonsense"})).await;
    let status = app
        .http
        .post(format!("{}/v1/verify", app.base))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..3 {
        let response = app
            .http
            .get(format!("{}/v1/auth", app.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    let text = scrape(&app).await;
    let count = |path: &str, code: &str| {
        sample(
            &text,
            &format!("keyward_verifications_total{{code=\"{code}\",path=\"{path}\"}}"),
        )
    };
    assert_eq!(count("verify", "VALID"), 2.0);
    assert_eq!(
        count("verify", "RATE_LIMITED"),
        3.0,
        "after the final decision"
    );
    assert_eq!(count("verify", "MALFORMED"), 1.0);
    assert_eq!(count("verify", "INVALID_REQUEST"), 1.0);
    assert_eq!(count("auth", "RATE_LIMITED"), 3.0);
    assert_eq!(count("auth", "VALID"), 0.0);
    assert_eq!(
        sample(
            &text,
            "keyward_verification_duration_seconds_count{path=\"verify\"}"
        ),
        7.0
    );
    assert_eq!(
        sample(
            &text,
            "keyward_verification_duration_seconds_count{path=\"auth\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "keyward_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert_eq!(sample(&text, "keyward_storage_up"), 1.0);
    assert!(sample(&text, "keyward_cache_hits_total") >= 7.0, "{text}");
    assert!(sample(&text, "keyward_cache_entries") >= 1.0);
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
}

#[tokio::test]
async fn management_requests_are_counted_by_route_template_and_never_name_a_key() {
    let app = spawn_app().await;
    let created = app.create_key(json!({"name": "k"})).await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = app.get(&format!("/v1/keys/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/keys/key_00000000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.verify(json!({"key": created["key"]})).await;

    let text = scrape(&app).await;
    let requests = |route: &str, method: &str, status: &str| {
        sample(
            &text,
            &format!(
                "keyward_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/v1/keys/{id}", "GET", "200"), 1.0);
    assert_eq!(requests("/v1/keys/{id}", "GET", "404"), 1.0);
    assert_eq!(requests("/v1/keys", "POST", "201"), 1.0);
    let secrets = [
        id,
        created["key"].as_str().unwrap(),
        app.org.root_key.as_str(),
        app.org.id.as_str(),
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}

#[tokio::test]
async fn metrics_addr_moves_metrics_to_a_listener_of_their_own() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = crate::helpers::spawn_app_with(|s| {
        s.metrics_addr = Some(([127, 0, 0, 1], port).into());
    })
    .await;
    let main = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let own = app
        .http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.unwrap().contains("keyward_build_info"));
}

#[tokio::test]
async fn with_metrics_off_nothing_is_served() {
    let app = crate::helpers::spawn_app_with(|s| s.metrics = false).await;
    let key = app.create_key(json!({"name": "k"})).await;
    assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_lookup_is_one_cache_hit_or_one_miss() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "k"})).await;
    let before = scrape(&app).await;
    for _ in 0..5 {
        app.verify(json!({"key": key["key"]})).await;
    }
    let after = scrape(&app).await;
    let delta = |name: &str| sample(&after, name) - sample(&before, name);
    assert_eq!(delta("keyward_cache_misses_total"), 1.0);
    assert_eq!(delta("keyward_cache_hits_total"), 4.0);
    assert_eq!(
        sample(
            &after,
            "keyward_webhook_deliveries_total{outcome=\"failed\"}"
        ),
        0.0,
        "every outcome's series exists from the start"
    );
}
