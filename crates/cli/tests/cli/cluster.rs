//! Several `keyward serve` nodes on one PostgreSQL database: changes made on
//! one node reach every other node's verification within a second, the
//! audit chain holds with both writing, and a node rides out a database
//! restart.
//!
//! Each test creates its own database and drops it afterwards. Without a
//! reachable PostgreSQL the tests fail under `CI=true` and are skipped
//! (loudly) otherwise.

use crate::support::{Server, eventually, keyward, run};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Tests that restart PostgreSQL must not overlap the others.
pub(crate) static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A database of its own, dropped when the test ends.
pub(crate) struct TestDatabase {
    name: String,
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) fn create() -> Option<Self> {
        let name = format!(
            "keyward_cluster_{}",
            keyward_core::base62::random(10).unwrap().to_lowercase()
        );
        let created = psql(&format!("CREATE DATABASE {name}"));
        if !created {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL at 127.0.0.1:5432 is required in CI"
            );
            eprintln!("*** SKIPPED: PostgreSQL at 127.0.0.1:5432 is not reachable ***");
            return None;
        }
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(Self { name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn psql(sql: &str) -> bool {
    Command::new("psql")
        .args([ADMIN_URL, "-q", "-c", sql])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One organization on the database; both nodes share the master key file.
pub(crate) fn create_org(db: &TestDatabase, dir: &Path) -> Value {
    let output = run(keyward(&dir.join("org"))
        .env("KEYWARD_DATABASE_URL", &db.url)
        .env("KEYWARD_MASTER_KEY_FILE", master_key(dir))
        .args([
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "o@acme.example",
            "--json",
        ]));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn master_key(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("master.key");
    if !path.exists() {
        std::fs::write(&path, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    }
    path
}

/// A node with a cache TTL of an hour: only announcements can explain a
/// change seen within a second.
pub(crate) fn node(db: &TestDatabase, dir: &Path, name: &str, extra: &[&str]) -> Server {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let mut args = vec!["--cache-ttl", "3600"];
    args.extend_from_slice(extra);
    Server::start_with_env(
        &data,
        &args,
        &[
            ("KEYWARD_DATABASE_URL", db.url.as_str()),
            ("KEYWARD_MASTER_KEY_FILE", master_key(dir).to_str().unwrap()),
        ],
    )
}

pub(crate) async fn post(http: &reqwest::Client, url: String, root: &str, body: Value) -> Value {
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

async fn code(http: &reqwest::Client, node: &Server, body: &Value) -> String {
    let response = http
        .post(format!("{}/v1/verify", node.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    answer["code"].as_str().unwrap_or("?").to_owned()
}

/// Polls `node` until verification answers `expected`. The nodes cache keys
/// for an hour, so only the change notification gets the answer there in
/// time.
async fn answers(http: &reqwest::Client, node: &Server, body: &Value, expected: &str) {
    eventually(
        async || code(http, node, body).await == expected,
        &format!("{expected} on the other node"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_on_one_node_reach_the_other_without_waiting_for_its_cache() {
    let _shared = EXCLUSIVE.read().await;
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(&db, dir.path());
    let root = org["root_key"].as_str().unwrap();
    let (a, b) = (
        node(&db, dir.path(), "a", &[]),
        node(&db, dir.path(), "b", &[]),
    );
    let http = reqwest::Client::new();
    let keys = format!("{}/v1/keys", a.base);
    let project = post(
        &http,
        format!("{}/v1/projects", a.base),
        root,
        json!({"name": "P", "apis": ["data", "push"]}),
    )
    .await;

    for change in ["revoke", "disable", "archive", "regenerate", "update"] {
        let key = post(
            &http,
            keys.clone(),
            root,
            json!({"name": change, "project_id": project["id"], "scopes": ["data:read"]}),
        )
        .await;
        let ask = json!({"key": key["key"], "scopes": ["data:read"]});
        // Node B has the key cached.
        assert_eq!(code(&http, &b, &ask).await, "VALID");
        assert_eq!(code(&http, &b, &ask).await, "VALID");
        let id = key["id"].as_str().unwrap();
        let expected = match change {
            "update" => {
                let url = format!("{}/v1/keys/{id}", a.base);
                let response = http
                    .patch(url)
                    .bearer_auth(root)
                    .json(&json!({"scopes": ["push:*"]}))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                "INSUFFICIENT_SCOPE"
            }
            "regenerate" => {
                post(
                    &http,
                    format!("{}/v1/keys/{id}/regenerate", a.base),
                    root,
                    json!({}),
                )
                .await;
                "NOT_FOUND"
            }
            "disable" => {
                post(
                    &http,
                    format!("{}/v1/keys/{id}/disable", a.base),
                    root,
                    json!({}),
                )
                .await;
                "DISABLED"
            }
            other => {
                post(
                    &http,
                    format!("{}/v1/keys/{id}/{other}", a.base),
                    root,
                    json!({}),
                )
                .await;
                "REVOKED"
            }
        };
        answers(&http, &b, &ask, expected).await;
    }
    a.terminate();
    b.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_writing_at_once_leave_one_intact_chain() {
    let _shared = EXCLUSIVE.read().await;
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(&db, dir.path());
    let root = org["root_key"].as_str().unwrap().to_owned();
    let nodes = [
        node(&db, dir.path(), "a", &[]),
        node(&db, dir.path(), "b", &[]),
    ];
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = format!("{}/v1/keys", nodes[i % 2].base);
        let (http, root) = (http.clone(), root.clone());
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(root)
                .json(&json!({"name": format!("k{i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let output = run(keyward(&dir.path().join("org"))
        .env("KEYWARD_DATABASE_URL", &db.url)
        .args(["audit", "verify"]));
    let out = String::from_utf8_lossy(&output.stdout);
    // organization, owner, two projects, the root key, and 40 keys.
    assert!(out.contains("45 events, chain intact"), "{out}");
    for node in nodes {
        node.terminate();
    }
}

fn pg_ctl(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let status = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            version.to_str().unwrap(),
            "main",
            action,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctlcluster {action}");
}

/// The machine's PostgreSQL, stopped until this is dropped — also when the
/// test fails half-way, so that no later test finds it down.
struct StoppedDatabase;

impl StoppedDatabase {
    fn stop() -> Self {
        pg_ctl("stop");
        Self
    }
}

impl Drop for StoppedDatabase {
    fn drop(&mut self) {
        pg_ctl("start");
    }
}

async fn ready(http: &reqwest::Client, node: &Server) -> u16 {
    http.get(format!("{}/readyz", node.base))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_rides_out_a_database_restart() {
    let _alone = EXCLUSIVE.write().await;
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(&db, dir.path());
    let root = org["root_key"].as_str().unwrap();
    let a = node(&db, dir.path(), "a", &[]);
    let http = reqwest::Client::new();
    let key = post(
        &http,
        format!("{}/v1/keys", a.base),
        root,
        json!({"name": "k"}),
    )
    .await;
    let ask = json!({"key": key["key"]});
    assert_eq!(code(&http, &a, &ask).await, "VALID");
    assert_eq!(ready(&http, &a).await, 200);

    let stopped = StoppedDatabase::stop();
    eventually(
        async || ready(&http, &a).await == 503,
        "/readyz turning 503",
    )
    .await;
    // The default policy refuses verification while storage is away, even for a cached key.
    let response = http
        .post(format!("{}/v1/verify", a.base))
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    drop(stopped);

    eventually(
        async || ready(&http, &a).await == 200,
        "/readyz turning 200 again",
    )
    .await;
    eventually(
        async || code(&http, &a, &ask).await == "VALID",
        "verification resuming",
    )
    .await;
    // Writes work again too: the pool reconnected by itself.
    post(
        &http,
        format!("{}/v1/keys", a.base),
        root,
        json!({"name": "after"}),
    )
    .await;
    a.terminate();
}
