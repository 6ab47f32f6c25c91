//! Debian's real Prometheus scraping a real `keyward serve`, with the shipped
//! alerting rules loaded: verifications made with known outcomes are read back
//! per path and code through Prometheus' HTTP query API, and the names the
//! rules and the Grafana dashboard use are the names Keyward exports.

use crate::support::{Server, create_org, free_port, post_json};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// prometheus, or `None` (and a loud note) when it is not installed outside CI.
fn prometheus_binary() -> Option<&'static str> {
    let binary = "/usr/bin/prometheus";
    if Path::new(binary).exists() {
        return Some(binary);
    }
    assert!(
        std::env::var("CI").is_err(),
        "prometheus is required in CI: apt-get install prometheus (.ci/run does)"
    );
    eprintln!("SKIPPED: prometheus is not installed; install Debian's prometheus to run this test");
    None
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repository_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

async fn create_key(base: &str, root: &str, body: Value) -> Value {
    let key = post_json(base, "/v1/keys", Some(root), &body).await;
    assert!(key["key"].is_string(), "{key}");
    key
}

async fn verify(base: &str, key: &str) -> String {
    let answer = post_json(base, "/v1/verify", None, &json!({ "key": key })).await;
    answer["code"].as_str().unwrap().to_owned()
}

async fn forward_auth(http: &reqwest::Client, base: &str, key: &str) -> String {
    let answer = http
        .get(format!("{base}/v1/auth"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    answer.headers()["x-keyward-code"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Prometheus' answer to an instant query: each series' labels and value.
async fn query(http: &reqwest::Client, api: &str, promql: &str) -> Vec<(Value, f64)> {
    let answer: Value = http
        .get(format!("{api}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{promql}: {answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let value = series["value"][1].as_str().unwrap().parse().unwrap();
            (series["metric"].clone(), value)
        })
        .collect()
}

/// Every `keyward_…` and `process_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    regex::Regex::new(r"\b(?:keyward|process)_[a-z_]+\b")
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_reads_back_verifications_by_path_and_code() {
    let Some(prometheus) = prometheus_binary() else {
        return;
    };
    // Arrange: a server, keys in each state, and known verifications.
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap().to_owned();
    let keyward = Server::start(dir.path(), &[]);
    let base = keyward.base.clone();
    let http = reqwest::Client::new();

    let valid = create_key(&base, &root, json!({"name": "valid"})).await;
    let replaced = create_key(&base, &root, json!({"name": "replaced"})).await;
    let regenerated = post_json(
        &base,
        &format!("/v1/keys/{}/regenerate", replaced["id"].as_str().unwrap()),
        Some(&root),
        &json!({}),
    )
    .await;
    assert!(regenerated["key"].is_string(), "{regenerated}");
    let revoked = create_key(&base, &root, json!({"name": "revoked"})).await;
    let revoke = post_json(
        &base,
        &format!("/v1/keys/{}/revoke", revoked["id"].as_str().unwrap()),
        Some(&root),
        &json!({}),
    )
    .await;
    assert_eq!(revoke["status"], "revoked", "{revoke}");
    let limited = create_key(
        &base,
        &root,
        json!({"name": "limited", "ratelimit": {"limit": 1, "window_seconds": 3600}}),
    )
    .await;
    let secret = |key: &Value| key["key"].as_str().unwrap().to_owned();

    let mut made: BTreeMap<(&str, String), u32> = BTreeMap::new();
    let plan: [(&str, String, u32); 9] = [
        ("verify", secret(&valid), 5),
        // The secret before the regeneration: well-formed, but no longer stored.
        ("verify", secret(&replaced), 3),
        ("verify", secret(&revoked), 4),
        ("verify", "nonsense".to_owned(), 2),
        // One VALID, then RATE_LIMITED: counted after the final decision.
        ("verify", secret(&limited), 2),
        ("auth", secret(&valid), 2),
        ("auth", secret(&revoked), 1),
        ("auth", "nonsense".to_owned(), 1),
        ("auth", secret(&replaced), 1),
    ];
    for (path, key, times) in &plan {
        for _ in 0..*times {
            let code = match *path {
                "verify" => verify(&base, key).await,
                _ => forward_auth(&http, &base, key).await,
            };
            *made.entry((*path, code)).or_default() += 1;
        }
    }
    let expected: BTreeMap<(&str, String), u32> = [
        ("verify", "VALID", 6),
        ("verify", "NOT_FOUND", 3),
        ("verify", "REVOKED", 4),
        ("verify", "MALFORMED", 2),
        ("verify", "RATE_LIMITED", 1),
        ("auth", "VALID", 2),
        ("auth", "REVOKED", 1),
        ("auth", "MALFORMED", 1),
        ("auth", "NOT_FOUND", 1),
    ]
    .into_iter()
    .map(|(path, code, n)| ((path, code.to_owned()), n))
    .collect();
    assert_eq!(made, expected, "the answers themselves");

    // A Prometheus scraping the server every second, with the shipped rules.
    let work = tempfile::tempdir().unwrap();
    let rules = repository_file("deploy/prometheus/keyward-rules.yml");
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - \"{}\"\n\
             scrape_configs:\n  - job_name: keyward\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [\"{}\"]\n",
            rules.display(),
            base.trim_start_matches("http://")
        ),
    )
    .unwrap();
    let port = free_port();
    let log_path = work.path().join("prometheus.log");
    let _prometheus = Prometheus(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{port}");
    let prometheus_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Act: wait for the scrapes to carry every count.
    let started = Instant::now();
    let read = loop {
        let ready = http.get(format!("{api}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            let series = query(&http, &api, r#"keyward_verifications_total{job="keyward"}"#).await;
            let read: BTreeMap<(String, String), f64> = series
                .iter()
                .map(|(labels, value)| {
                    let label = |name: &str| labels[name].as_str().unwrap().to_owned();
                    ((label("path"), label("code")), *value)
                })
                .collect();
            let counted: f64 = read.values().sum();
            if counted >= 21.0 {
                break read;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus did not read the counts in 60 s:\n{}",
            prometheus_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Assert: exactly the verifications made, every other code at zero.
    let nonzero: BTreeMap<(String, String), f64> = read
        .iter()
        .filter(|(_, value)| **value != 0.0)
        .map(|(labels, value)| (labels.clone(), *value))
        .collect();
    let expected: BTreeMap<(String, String), f64> = expected
        .iter()
        .map(|((path, code), n)| ((path.to_string(), code.clone()), f64::from(*n)))
        .collect();
    assert_eq!(nonzero, expected);
    for code in ["DISABLED", "EXPIRED", "INSUFFICIENT_SCOPE", "UNAVAILABLE"] {
        for path in ["verify", "auth"] {
            assert_eq!(
                read.get(&(path.to_owned(), code.to_owned())),
                Some(&0.0),
                "{path} {code} is exported before it happens"
            );
        }
    }

    let build = query(&http, &api, "keyward_build_info").await;
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].0["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build[0].1, 1.0);
    let storage = query(&http, &api, "keyward_storage_up").await;
    assert_eq!(storage.iter().map(|s| s.1).collect::<Vec<_>>(), [1.0]);

    // Management requests by route template, never by the key's id.
    let revokes = query(
        &http,
        &api,
        r#"keyward_http_requests_total{route="/v1/keys/{id}/revoke", method="POST"}"#,
    )
    .await;
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(revokes[0].0["status"], "200");
    assert_eq!(revokes[0].1, 1.0);
    let creates = query(
        &http,
        &api,
        r#"keyward_http_requests_total{route="/v1/keys", method="POST", status="201"}"#,
    )
    .await;
    assert_eq!(creates.iter().map(|s| s.1).collect::<Vec<_>>(), [4.0]);
    let everything = query(&http, &api, r#"{job="keyward"}"#).await;
    let exported = serde_json::to_string(&everything).unwrap();
    for key in [&valid, &replaced, &revoked, &limited] {
        let id = key["id"].as_str().unwrap();
        assert!(!exported.contains(id), "a label holds the key id {id}");
        assert!(!exported.contains(&secret(key)), "a label holds a key");
    }
    assert!(
        !exported.contains("nonsense"),
        "a label holds what was sent"
    );

    // The names the rules and the dashboard use are the names exported.
    // Labelled families appear at their first count: those never counted here.
    let names: BTreeSet<String> = {
        let answer: Value = http
            .get(format!("{api}/api/v1/label/__name__/values"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    };
    let counted_later = ["keyward_webhook_deliveries_total", "keyward_emails_total"];
    for file in [
        "deploy/prometheus/keyward-rules.yml",
        "deploy/grafana/keyward.json",
    ] {
        let text = std::fs::read_to_string(repository_file(file)).unwrap();
        for name in metric_names(&text) {
            // A histogram's own name (in descriptions) stands for its series.
            let exported = [String::new(), "_bucket".to_owned()]
                .iter()
                .any(|suffix| names.contains(&format!("{name}{suffix}")));
            assert!(
                exported || counted_later.contains(&name.as_str()),
                "{file} uses {name}, which Keyward does not export"
            );
        }
    }

    // The shipped rules load and evaluate on real data without error.
    let started = Instant::now();
    loop {
        let answer: Value = http
            .get(format!("{api}/api/v1/rules"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rules: Vec<&Value> = answer["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| group["rules"].as_array().unwrap())
            .collect();
        assert!(rules.len() >= 10, "{answer}");
        if rules.iter().all(|rule| rule["health"] == "ok") {
            break;
        }
        assert!(
            rules.iter().all(|rule| rule["health"] != "err"),
            "a rule fails on real data: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rules not evaluated in 30 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    keyward.terminate();
}
