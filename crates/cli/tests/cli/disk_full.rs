//! A full disk on the embedded database: every write that cannot be stored
//! is refused, none is acknowledged and then lost, the node says it is not
//! ready, and it recovers by itself once writes succeed again.
//!
//! The disk fills on demand without root: the server runs under a file size
//! limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so writes fail with `EFBIG`
//! instead of killing it), which `prlimit` lowers and raises while it runs.

use crate::support::{Server, create_org, keyward};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

struct Api {
    http: Client,
    base: String,
    root: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.root);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn verify(&self, key: &str) -> String {
        let (_, body) = self.post("/v1/verify", json!({ "key": key })).await;
        body["code"].as_str().unwrap().to_owned()
    }

    async fn ready(&self) -> StatusCode {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap()
            .status()
    }
}

fn prlimit(pid: u32, limit: &str) {
    let status = Command::new("prlimit")
        .args([&format!("--pid={pid}"), &format!("--fsize={limit}:")])
        .status()
        .expect("prlimit (util-linux) is needed to fill the disk on demand");
    assert!(status.success());
}

/// `keyward serve` with `SIGXFSZ` ignored (kept across `exec`).
fn serve_ignoring_sigxfsz(data: &std::path::Path) -> Server {
    let binary = keyward(data);
    let mut sh = Command::new("sh");
    sh.env_clear()
        .envs(binary.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["-c", r#"trap '' XFSZ; exec "$0" "$@""#])
        .arg(binary.get_program());
    Server::start_command(sh, &[])
}

#[tokio::test]
async fn a_full_disk_refuses_writes_loses_none_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let org = create_org(&data, "Acme", Some("a very long password"));
    let server = serve_ignoring_sigxfsz(&data);
    let api = Api {
        http: Client::new(),
        base: server.base.clone(),
        root: org["root_key"].as_str().unwrap().to_owned(),
    };
    let (status, first) = api.post("/v1/keys", json!({"name": "before"})).await;
    assert_eq!(status, 201);
    let first_id = first["id"].as_str().unwrap().to_owned();
    let first_key = first["key"].as_str().unwrap().to_owned();

    // The disk is full: no file may be written past its first 4 KiB.
    prlimit(server.pid(), "4096");
    let mut refused = 0;
    for round in 0..5 {
        let writes = [
            api.post("/v1/keys", json!({"name": format!("during {round}")}))
                .await,
            api.post(&format!("/v1/keys/{first_id}/revoke"), json!({}))
                .await,
            api.post(&format!("/v1/keys/{first_id}/regenerate"), json!({}))
                .await,
            api.send(
                reqwest::Method::PATCH,
                &format!("/v1/keys/{first_id}"),
                Some(json!({"name": "renamed"})),
            )
            .await,
        ];
        for (status, body) in writes {
            assert_eq!(
                status, 503,
                "round {round}: a write that cannot be stored is refused: {body}"
            );
            assert_eq!(body["code"], "storage_unavailable");
            refused += 1;
        }
        assert_eq!(api.ready().await, 503, "not ready while writes fail");
    }
    assert_eq!(refused, 20);
    assert_eq!(
        api.verify(&first_key).await,
        "VALID",
        "the refused revoke did nothing"
    );

    // Space is back: the node recovers without a restart.
    prlimit(server.pid(), "unlimited");
    let started = Instant::now();
    while api.ready().await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, revoked) = api
        .post(&format!("/v1/keys/{first_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, after) = api.post("/v1/keys", json!({"name": "after"})).await;
    assert_eq!(status, 201);
    assert_eq!(api.verify(&first_key).await, "REVOKED");
    server.terminate();

    // Everything acknowledged is there after a restart, and nothing else.
    let server = Server::start(&data, &[]);
    let api = Api {
        base: server.base.clone(),
        ..api
    };
    assert_eq!(api.verify(&first_key).await, "REVOKED");
    assert_eq!(api.verify(after["key"].as_str().unwrap()).await, "VALID");
    let (_, keys) = api
        .send(reqwest::Method::GET, "/v1/keys?limit=100", None)
        .await;
    let names: Vec<&str> = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"before") && names.contains(&"after"),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("during") || *n == "renamed"),
        "{names:?}"
    );
    server.terminate();
}
