//! Requests the OpenAPI document calls valid are accepted, and those it calls
//! invalid are refused: regressions of what schemathesis found
//! (`.ci/schemathesis.sh`).

use crate::helpers::{TestApp, assert_problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post_raw(app: &TestApp, path: &str, body: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.org.root_key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// JSON Schema counts `60.0` as the integer 60, so the document's
/// `"type": "integer"` admits it: the server must too.
#[tokio::test]
async fn a_grace_period_written_as_a_whole_float_is_that_many_seconds() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "rotated"})).await;
    let path = format!("/v1/keys/{}/regenerate", key["id"].as_str().unwrap());
    let (status, regenerated) = post_raw(&app, &path, r#"{"grace_period_seconds": 60.0}"#).await;
    assert_eq!(status, StatusCode::OK, "{regenerated}");
    assert_eq!(
        regenerated["previous_secret_expires_at"], "2030-01-01T00:01:00Z",
        "{regenerated}"
    );
    assert_eq!(
        app.verify_code(key["key"].as_str().unwrap()).await,
        "VALID",
        "the old secret is in its grace period"
    );
    // Not whole, negative or past the document's maximum: refused.
    for body in [
        r#"{"grace_period_seconds": 60.5}"#,
        r#"{"grace_period_seconds": -1}"#,
        r#"{"grace_period_seconds": -1.0}"#,
        r#"{"grace_period_seconds": 2592001.0}"#,
        r#"{"grace_period_seconds": 1e300}"#,
        r#"{"grace_period_seconds": null}"#,
        r#"{"grace_period_seconds": "60"}"#,
    ] {
        let (status, problem) = post_raw(&app, &path, body).await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(
            problem["errors"][0]["field"], "grace_period_seconds",
            "{body}"
        );
    }
}

/// The audit cursor is documented as `seq_` and 1 to 18 digits, which is
/// what `next_cursor` writes; a sign or anything longer is refused.
#[tokio::test]
async fn an_audit_cursor_is_only_what_next_cursor_writes() {
    let app = spawn_app().await;
    app.create_key(json!({"name": "one"})).await;
    app.create_key(json!({"name": "two"})).await;
    let (status, page) = app.get("/v1/audit?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, next) = app.get(&format!("/v1/audit?limit=1&cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(next["data"].as_array().unwrap().len(), 1);
    for bad in ["seq_%2B5", "seq_-5", "seq_", "seq_1234567890123456789", "5"] {
        let (status, problem) = app.get(&format!("/v1/audit?cursor={bad}")).await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "cursor", "{bad}");
    }
}
