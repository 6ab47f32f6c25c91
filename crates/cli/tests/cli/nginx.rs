//! A real nginx (Debian's) with `auth_request` in front of a small upstream,
//! asking the real `keyward serve` through `GET /v1/auth`.

use crate::support::{Server, create_org, free_port};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx, or `None` (and a loud note) when it is not installed outside CI.
fn nginx_binary() -> Option<String> {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(candidate).exists() {
            return Some(candidate.to_owned());
        }
    }
    assert!(
        std::env::var("CI").is_err(),
        "nginx is required in CI: apt-get install nginx (.ci/run does)"
    );
    eprintln!("SKIPPED: nginx is not installed; install Debian's nginx to run this test");
    None
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn create(http: &reqwest::Client, base: &str, root: &str, path: &str, body: Value) -> Value {
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(root)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_auth_request_lets_valid_keys_through_and_refuses_the_rest() {
    let Some(nginx) = nginx_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap().to_owned();
    let keyward = Server::start(dir.path(), &["--trusted-proxies", "127.0.0.1/32"]);
    let http = reqwest::Client::new();
    let base = keyward.base.clone();

    let project = create(
        &http,
        &base,
        &root,
        "/v1/projects",
        json!({"name": "API", "apis": ["data", "push"]}),
    )
    .await;
    let pid = project["id"].clone();
    let key = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "project_id": pid, "scopes": ["data:read"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let valid = create(&http, &base, &root, "/v1/keys", key("valid", json!({}))).await;
    let push_only = create(
        &http,
        &base,
        &root,
        "/v1/keys",
        json!({"name": "push", "project_id": pid, "scopes": ["push:*"]}),
    )
    .await;
    let revoked = create(&http, &base, &root, "/v1/keys", key("revoked", json!({}))).await;
    create(
        &http,
        &base,
        &root,
        &format!("/v1/keys/{}/revoke", revoked["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let limited = create(
        &http,
        &base,
        &root,
        "/v1/keys",
        key(
            "limited",
            json!({"ratelimit": {"limit": 1, "window_seconds": 3600}}),
        ),
    )
    .await;
    let fenced = create(
        &http,
        &base,
        &root,
        "/v1/keys",
        key("fenced", json!({"allowed_ips": ["10.0.0.0/8"]})),
    )
    .await;

    let work = tempfile::tempdir().unwrap();
    let (proxy_port, upstream_port) = (free_port(), free_port());
    let config = include_str!("fixtures/nginx.conf")
        .replace("{{DIR}}", &work.path().display().to_string())
        .replace("{{PROXY_PORT}}", &proxy_port.to_string())
        .replace("{{UPSTREAM_PORT}}", &upstream_port.to_string())
        .replace("{{KEYWARD}}", base.trim_start_matches("http://"));
    let config_path = work.path().join("nginx.conf");
    std::fs::write(&config_path, config).unwrap();
    let _nginx = Nginx(
        Command::new(nginx)
            .args([
                "-p",
                &work.path().display().to_string(),
                "-c",
                &config_path.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let through = format!("http://127.0.0.1:{proxy_port}/orders");
    let started = Instant::now();
    while http.get(&through).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nginx did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let call = |key: Option<(&'static str, String)>| {
        let request = http.get(&through);
        let request = match key {
            Some((header, value)) => request.header(header, value),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let bearer = |v: &Value| {
        Some((
            "authorization",
            format!("Bearer {}", v["key"].as_str().unwrap()),
        ))
    };

    let ok = call(bearer(&valid)).await;
    assert_eq!(ok.status(), 200);
    let seen = ok.text().await.unwrap();
    assert_eq!(
        seen.trim(),
        format!(
            "key={} org={} project={} scopes=data:read",
            valid["id"].as_str().unwrap(),
            org["org_id"].as_str().unwrap(),
            pid.as_str().unwrap()
        )
    );
    let via_api_key = call(Some((
        "x-api-key",
        valid["key"].as_str().unwrap().to_owned(),
    )))
    .await;
    assert_eq!(via_api_key.status(), 200);

    assert_eq!(call(None).await.status(), 401, "missing key");
    assert_eq!(
        call(Some(("authorization", "Bearer kw_sk_garbage".to_owned())))
            .await
            .status(),
        401,
        "malformed key"
    );
    assert_eq!(call(bearer(&revoked)).await.status(), 401, "revoked key");
    assert_eq!(call(bearer(&push_only)).await.status(), 403, "out of scope");
    // A client's own requirement cannot replace the proxy's.
    for (header, query) in [
        ("push:send", ""),
        ("", ""),
        ("push:send", "?scopes=push:send"),
    ] {
        let response = http
            .get(format!("{through}{query}"))
            .header(
                "authorization",
                format!("Bearer {}", push_only["key"].as_str().unwrap()),
            )
            .header("x-keyward-scopes", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "client sent {header:?} {query:?}");
    }
    assert_eq!(
        call(bearer(&fenced)).await.status(),
        403,
        "client IP (forwarded by the trusted proxy) not allowed"
    );
    assert_eq!(call(bearer(&limited)).await.status(), 200);
    let throttled = call(bearer(&limited)).await;
    assert_eq!(throttled.status(), 429, "rate limited");
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    keyward.terminate();
}
