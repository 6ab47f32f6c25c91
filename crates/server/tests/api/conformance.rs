//! Requests the OpenAPI document calls valid are accepted, and those it calls
//! invalid are refused: regressions of what schemathesis found
//! (`.ci/schemathesis.sh`).

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::openapi::document;
use regex::Regex;
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

/// Asks the server whether it takes `value` where the pattern at
/// `pointer` applies: 2xx is yes, 400 or 422 no, anything else a failure.
async fn takes(app: &TestApp, request: reqwest::RequestBuilder) -> bool {
    let response = request.bearer_auth(&app.org.root_key).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(
        matches!(status, 200..=299 | 400 | 422),
        "{status}: {}",
        response.text().await.unwrap()
    );
    status < 300
}

/// The document's patterns are the server's rules: on values either side
/// of each rule, the pattern and the server agree.
#[tokio::test]
async fn documented_patterns_are_the_servers_rules() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schema = |pointer: &str| {
        let pattern = doc.pointer(pointer).unwrap_or_else(|| panic!("{pointer}"));
        Regex::new(pattern.as_str().unwrap()).unwrap()
    };
    let field = |s: &str, f: &str| format!("/components/schemas/{s}/properties/{f}/pattern");
    let items = |s: &str, f: &str| format!("/components/schemas/{s}/properties/{f}/items/pattern");
    let url = |path: &str| format!("{}{path}", app.base);
    let long = |n: usize| "x".repeat(n);
    let mut projects = 0;
    let mut project = |body: Value| {
        projects += 1;
        let mut body = body;
        body["name"] = json!(format!("project {projects}"));
        app.http.post(url("/v1/projects")).json(&body)
    };

    type Cases = Vec<(String, bool)>;
    let cases = |values: &[(&str, bool)]| -> Cases {
        values
            .iter()
            .map(|(v, ok)| ((*v).to_owned(), *ok))
            .collect()
    };
    let names: Cases = [
        ("billing".to_owned(), true),
        (" billing\n".to_owned(), true),
        ("bill\u{a0}ing".to_owned(), true),
        (long(200), true),
        (format!("  {}\t", long(200)), true),
        (long(201), false),
        (String::new(), false),
        (" \u{3000}\t".to_owned(), false),
        ("bill\ting".to_owned(), false),
        ("bill\u{85}ing".to_owned(), false),
    ]
    .into();
    let pattern = schema(&field("CreateKey", "name"));
    for (value, valid) in &names {
        assert_eq!(pattern.is_match(value), *valid, "pattern, name {value:?}");
        let request = app.http.post(url("/v1/keys")).json(&json!({"name": value}));
        assert_eq!(takes(&app, request).await, *valid, "server, name {value:?}");
    }

    let descriptions: Cases = [
        (String::new(), true),
        ("two\nlines\tand a tab".to_owned(), true),
        ("\u{85}trimmed\u{b}".to_owned(), true),
        (format!(" {}\n", long(2000)), true),
        (long(2001), false),
        ("bell\u{7}".to_owned(), false),
        ("a\u{85}b".to_owned(), false),
    ]
    .into();
    let pattern = schema(&field("CreateKey", "description"));
    for (value, valid) in &descriptions {
        assert_eq!(
            pattern.is_match(value),
            *valid,
            "pattern, description {value:?}"
        );
        let body = json!({"name": "d", "description": value});
        let request = app.http.post(url("/v1/keys")).json(&body);
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, description {value:?}"
        );
    }

    let prefixes = cases(&[("kw", true), ("a1", true), ("x234567890123456", true)]);
    let prefixes = [
        prefixes,
        cases(&[("", false), ("KW", false), ("k_w", false)]),
    ]
    .concat();
    let pattern = schema(&field("CreateProject", "key_prefix"));
    for (value, valid) in &prefixes {
        assert_eq!(pattern.is_match(value), *valid, "pattern, prefix {value:?}");
        let request = project(json!({"key_prefix": value}));
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, prefix {value:?}"
        );
    }
    let apis = [
        cases(&[
            ("data", true),
            ("0.v1_x-y", true),
            ("Data", false),
            ("-x", false),
        ]),
        cases(&[("a:b", false), ("", false)]),
        vec![(long(64), true), (long(65), false)],
    ]
    .concat();
    let pattern = schema(&items("CreateProject", "apis"));
    for (value, valid) in &apis {
        assert_eq!(pattern.is_match(value), *valid, "pattern, API {value:?}");
        let request = project(json!({"apis": [value]}));
        assert_eq!(takes(&app, request).await, *valid, "server, API {value:?}");
    }

    let scopes = cases(&[
        ("*", true),
        ("data:read", true),
        ("*:*", true),
        ("data:*", true),
        ("*:read", true),
        ("data", false),
        ("Data:read", false),
        ("data:read:x", false),
        (":read", false),
        ("", false),
    ]);
    let pattern = schema(&items("VerifyRequest", "scopes"));
    for (value, valid) in &scopes {
        assert_eq!(pattern.is_match(value), *valid, "pattern, scope {value:?}");
        let body = json!({"key": "kw_sk_x", "scopes": [value]});
        let request = app.http.post(url("/v1/verify")).json(&body);
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, scope {value:?}"
        );
    }

    let origins = cases(&[
        ("https://acme.example", true),
        ("HTTP://*.acme.example:8080/", true),
        ("http://localhost:+080", true),
        ("ftp://acme.example", false),
        ("https://", false),
        ("https://acme.example:0", false),
        ("https://acme.example:65536", false),
        ("https://-acme.example", false),
        ("https://a_b.example", false),
    ]);
    let pattern = schema(&items("CreateKey", "trusted_origins"));
    for (value, valid) in &origins {
        assert_eq!(pattern.is_match(value), *valid, "pattern, origin {value:?}");
        let body = json!({"name": "o", "trusted_origins": [value]});
        let request = app.http.post(url("/v1/keys")).json(&body);
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, origin {value:?}"
        );
    }

    // IPv6 with an IPv4 tail (`::ffff:1.2.3.4`) is taken by the server but
    // left out of the pattern, which is a part of what the server takes.
    let networks = cases(&[
        ("10.0.0.0/8", true),
        ("192.168.1.1", true),
        ("::1", true),
        ("2001:db8::/32", true),
        ("::", true),
        ("10.0.0.0/33", false),
        ("1.2.3", false),
        ("::1/129", false),
        ("256.1.1.1", false),
        ("10.0.0.1 ", false),
    ]);
    let pattern = schema(&items("CreateKey", "allowed_ips"));
    for (value, valid) in &networks {
        assert_eq!(
            pattern.is_match(value),
            *valid,
            "pattern, network {value:?}"
        );
        let body = json!({"name": "n", "allowed_ips": [value]});
        let request = app.http.post(url("/v1/keys")).json(&body);
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, network {value:?}"
        );
    }

    let cursor = doc["paths"]["/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .unwrap()["schema"]["pattern"]
        .as_str()
        .unwrap();
    let pattern = Regex::new(cursor).unwrap();
    let cursors = cases(&[
        ("seq_1", true),
        ("seq_999999999999999999", true),
        ("seq_9999999999999999999", false),
        ("seq_+1", false),
        ("seq_", false),
        ("1", false),
    ]);
    for (value, valid) in &cursors {
        assert_eq!(pattern.is_match(value), *valid, "pattern, cursor {value:?}");
        let request = app.http.get(url("/v1/audit")).query(&[("cursor", value)]);
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, cursor {value:?}"
        );
    }

    let header = doc["paths"]["/v1/keys"]["post"]["parameters"][0]["schema"]["pattern"]
        .as_str()
        .unwrap();
    let pattern = Regex::new(header).unwrap();
    let idempotency = [
        cases(&[("retry-1", true), ("", false), ("a b", false)]),
        vec![("!".repeat(255), true), ("!".repeat(256), false)],
    ]
    .concat();
    for (value, valid) in &idempotency {
        assert_eq!(
            pattern.is_match(value),
            *valid,
            "pattern, Idempotency-Key {value:?}"
        );
        let request = app
            .http
            .post(url("/v1/keys"))
            .header("idempotency-key", value)
            .json(&json!({"name": "i"}));
        assert_eq!(
            takes(&app, request).await,
            *valid,
            "server, Idempotency-Key {value:?}"
        );
    }
}
