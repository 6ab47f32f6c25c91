//! `GET /v1/auth` as a hostile client behind a proxy would try it: what the
//! client sends can only tighten the check, and what cannot be parsed fails
//! closed with a status every proxy understands.

use crate::helpers::{TestApp, spawn_app};
use reqwest::header::HeaderValue;
use serde_json::json;

async fn auth(
    app: &TestApp,
    query: &str,
    headers: &[(&str, HeaderValue)],
    key: &str,
) -> (u16, String) {
    let mut request = app
        .http
        .get(format!("{}/v1/auth{query}", app.base))
        .bearer_auth(key);
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    let response = request.send().await.unwrap();
    let code = response
        .headers()
        .get("x-keyward-code")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), code)
}

async fn data_reader(app: &TestApp) -> String {
    app.create_project("Data", "data", &["data", "push"]).await;
    let projects = app.get("/v1/projects").await.1;
    let project = projects["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Data")
        .unwrap()["id"]
        .clone();
    let key = app
        .create_key(json!({"name": "reader", "project_id": project, "scopes": ["data:read"]}))
        .await;
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_header_cannot_replace_the_proxy_query() {
    let app = spawn_app().await;
    let key = data_reader(&app).await;
    let header = |v: &'static str| vec![("x-keyward-scopes", HeaderValue::from_static(v))];

    assert_eq!(
        auth(&app, "?scopes=push:read", &[], &key).await,
        (403, "INSUFFICIENT_SCOPE".into())
    );
    for value in ["data:read", "", " , "] {
        let answer = auth(&app, "?scopes=push:read", &header(value), &key).await;
        assert_eq!(
            answer,
            (403, "INSUFFICIENT_SCOPE".into()),
            "header {value:?}"
        );
    }
    // Both sources are required together, in either direction.
    assert_eq!(
        auth(&app, "?scopes=data:read", &header("push:read"), &key)
            .await
            .0,
        403
    );
    assert_eq!(
        auth(&app, "?scopes=data:read", &header("data:read"), &key)
            .await
            .0,
        200
    );
    // A repeated parameter adds to the requirement as well.
    assert_eq!(
        auth(&app, "?scopes=data:read&scopes=push:read", &[], &key)
            .await
            .0,
        403
    );
    assert_eq!(
        auth(&app, "?scopes=data:read&scopes=data:read", &[], &key)
            .await
            .0,
        200
    );
    // Two header lines: both count.
    let two = vec![
        ("x-keyward-scopes", HeaderValue::from_static("data:read")),
        ("x-keyward-scopes", HeaderValue::from_static("push:read")),
    ];
    assert_eq!(auth(&app, "", &two, &key).await.0, 403);
}

#[tokio::test]
async fn a_requirement_that_cannot_be_parsed_is_refused_with_403() {
    let app = spawn_app().await;
    let key = data_reader(&app).await;
    let raw: [&[u8]; 3] = [b"d\xd0\xb0ta:write", b"data:write,\xff", b"\xff"];
    for bytes in raw {
        let header = vec![("x-keyward-scopes", HeaderValue::from_bytes(bytes).unwrap())];
        let answer = auth(&app, "", &header, &key).await;
        assert_eq!(answer, (403, "INVALID_REQUIREMENT".into()), "{bytes:?}");
    }
    for query in [
        "?scopes=%FF",
        "?scopes=data:read,%D0%B0",
        "?scopes=not%20a%20scope",
        "?scopes=data:read&scopes=UPPER:case",
    ] {
        let answer = auth(&app, query, &[], &key).await;
        assert_eq!(answer, (403, "INVALID_REQUIREMENT".into()), "{query}");
    }
    // The proxied request's own parameters are not Keyward's business.
    assert_eq!(
        auth(&app, "?page=2&scopes=data:read", &[], &key).await.0,
        200
    );
}

#[tokio::test]
async fn forward_auth_answers_only_what_proxies_understand() {
    let app = spawn_app().await;
    let key = data_reader(&app).await;
    for query in [
        "?scopes",
        "?scopes=&scopes=",
        "?%zz=1",
        "?scopes=data:read&&&",
        "?=",
        "?scopes=%",
    ] {
        let (status, _) = auth(&app, query, &[], &key).await;
        assert!(
            [200, 401, 403, 429, 503].contains(&status),
            "{query}: {status}"
        );
    }
}

/// Behind a trusted proxy, the client is the rightmost address the proxies
/// did not add. An entry that is not a bare address (`ip:port`, as some load
/// balancers append, or garbage) must not make the walk skip to an address
/// the client wrote itself.
#[tokio::test]
async fn a_forwarded_entry_that_is_not_a_bare_address_cannot_let_the_client_choose_its_address() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let key = app
        .create_key(serde_json::json!({"name": "office only", "allowed_ips": ["203.0.113.7/32"]}))
        .await;
    let key = key["key"].as_str().unwrap();
    let forwarded = |value: &'static str| [("x-forwarded-for", HeaderValue::from_static(value))];
    assert_eq!(
        auth(&app, "", &forwarded("203.0.113.7"), key).await,
        (200, "VALID".to_owned()),
        "the office itself"
    );
    for spoofed in [
        // The client wrote the office's address; the balancer appended the
        // real one with its port.
        "203.0.113.7, 198.51.100.1:4711",
        "203.0.113.7, [2001:db8::1]:4711",
        "203.0.113.7, unknown",
    ] {
        let (status, code) = auth(&app, "", &forwarded(spoofed), key).await;
        assert_eq!(
            (status, code.as_str()),
            (403, "IP_NOT_ALLOWED"),
            "{spoofed}"
        );
    }
    // What cannot be read is no address, not the proxy's: a proxy that
    // appends to the client's header still names the client, and an
    // unreadable rightmost entry passes no allow-list.
    let office = key_allowing(&app, "127.0.0.1/32").await;
    for (value, expected) in [
        (&b"\x80, 198.51.100.1"[..], "IP_NOT_ALLOWED"),
        (b"198.51.100.1, \x80", "IP_NOT_ALLOWED"),
        (b"garbage", "IP_NOT_ALLOWED"),
    ] {
        let header = [("x-forwarded-for", HeaderValue::from_bytes(value).unwrap())];
        let (status, code) = auth(&app, "", &header, &office).await;
        assert_eq!((status, code.as_str()), (403, expected), "{value:?}");
    }
    // X-Real-IP counts only without X-Forwarded-For: with every entry a
    // trusted proxy, the leftmost is the client, not what it wrote itself.
    let headers = [
        ("x-forwarded-for", HeaderValue::from_static("127.0.0.1")),
        ("x-real-ip", HeaderValue::from_static("203.0.113.7")),
    ];
    assert_eq!(auth(&app, "", &headers, key).await.0, 403);
    let real_ip = [("x-real-ip", HeaderValue::from_static("203.0.113.7"))];
    assert_eq!(auth(&app, "", &real_ip, key).await.0, 200);
    // A port on the office's own entry still names the office.
    assert_eq!(
        auth(&app, "", &forwarded("203.0.113.7:5100"), key).await,
        (200, "VALID".to_owned())
    );
}

async fn key_allowing(app: &TestApp, network: &str) -> String {
    let key = app
        .create_key(json!({"name": "allow-listed", "allowed_ips": [network]}))
        .await;
    key["key"].as_str().unwrap().to_owned()
}
