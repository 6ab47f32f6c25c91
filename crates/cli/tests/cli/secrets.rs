//! Through the real server: keys of both types are created, verified and
//! regenerated; afterwards neither a full key nor its body is found in any
//! file of the data directory or in the server's log. Also: SIGTERM flushes
//! usage, and JSON logs carry request ids.

use crate::support::{Server, create_org};
use serde_json::{Value, json};
use std::path::Path;

async fn post(http: &reqwest::Client, url: String, root: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(root)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

fn every_file(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            every_file(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_full_key_or_body_reaches_the_disk_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", Some("a very long password"));
    let root = org["root_key"].as_str().unwrap().to_owned();
    // Flush usage only at shutdown, so the shutdown flush is what is tested.
    let server = Server::start(dir.path(), &["--usage-flush-ms", "3600000"]);
    let http = reqwest::Client::new();

    let mut secrets = vec![root.clone()];
    let secret = post(
        &http,
        format!("{}/v1/keys", server.base),
        &root,
        json!({"name": "server"}),
    )
    .await;
    let publishable = post(
        &http,
        format!("{}/v1/keys", server.base),
        &root,
        json!({"name": "browser", "type": "publishable"}),
    )
    .await;
    for key in [&secret, &publishable] {
        secrets.push(key["key"].as_str().unwrap().to_owned());
        let answer = post(
            &http,
            format!("{}/v1/verify", server.base),
            &root,
            json!({"key": key["key"]}),
        )
        .await;
        assert_eq!(answer["code"], "VALID");
    }
    let id = secret["id"].as_str().unwrap();
    let regenerated = post(
        &http,
        format!("{}/v1/keys/{id}/regenerate", server.base),
        &root,
        json!({"grace_period_seconds": 60}),
    )
    .await;
    secrets.push(regenerated["key"].as_str().unwrap().to_owned());
    let replayed = http
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(&root)
        .header("idempotency-key", "abc")
        .json(&json!({"name": "idempotent"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    secrets.push(replayed["key"].as_str().unwrap().to_owned());
    let shared = http
        .get(format!("{}/v1/shared-secret", server.base))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    secrets.push(shared["shared_secret"].as_str().unwrap().to_owned());
    let log = server.terminate();

    // JSON lines with request ids.
    let request_line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["span"]["request_id"].is_string())
        .expect("a log line inside a request span");
    assert!(request_line["span"]["request_id"].as_str().unwrap().len() >= 20);
    assert!(log.contains("SIGTERM received"));

    let mut files = Vec::new();
    every_file(dir.path(), &mut files);
    assert!(files.iter().any(|(name, _)| name.ends_with("keyward.db")));
    for secret in &secrets {
        let body = &secret[secret.len() - 38..];
        assert!(!log.contains(body), "a key body reached the log");
        for (name, bytes) in &files {
            assert!(!contains(bytes, body), "a key body reached {name}");
        }
    }

    // What was counted before SIGTERM was written on the way out.
    let server = Server::start(dir.path(), &[]);
    let key: Value = http
        .get(format!(
            "{}/v1/keys/{}",
            server.base,
            publishable["id"].as_str().unwrap()
        ))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(key["last_used_at"].is_string(), "{key}");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_walkthrough_create_verify_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = reqwest::Client::new();
    let key = post(
        &http,
        format!("{}/v1/keys", server.base),
        root,
        json!({"name": "billing", "role": "admin"}),
    )
    .await;
    let verify = |k: Value| {
        let http = http.clone();
        let url = format!("{}/v1/verify", server.base);
        async move {
            http.post(url)
                .json(&json!({"key": k}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(verify(key["key"].clone()).await["code"], "VALID");
    post(
        &http,
        format!(
            "{}/v1/keys/{}/revoke",
            server.base,
            key["id"].as_str().unwrap()
        ),
        root,
        json!({}),
    )
    .await;
    assert_eq!(verify(key["key"].clone()).await["code"], "REVOKED");
    let health = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.terminate();
}
