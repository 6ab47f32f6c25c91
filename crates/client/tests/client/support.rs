//! A real `keyward serve` per test, and the small servers around it.
//!
//! The binary is `$KEYWARD_BIN`, else the workspace's `target/debug/keyward` (next to this
//! test's own executable). When it is missing it is built once with `cargo build -p keyward`,
//! except under `CI=true`, where the test fails: CI builds it first (`cargo test --workspace`
//! builds it for the CLI's tests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tempfile::TempDir;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn candidate() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_BIN") {
        return PathBuf::from(path);
    }
    // target/debug/deps/client-… → target/debug/keyward, whatever CARGO_TARGET_DIR says.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("keyward")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| workspace().join("target/debug/keyward"))
}

/// The `keyward` binary, built once if it is missing (not under CI).
pub fn keyward_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = candidate();
        if path.is_file() {
            return path;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no keyward binary at {} (CI=true): build it first (cargo build -p keyward) or set KEYWARD_BIN",
            path.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "keyward"])
            .current_dir(workspace())
            .status()
            .expect("cannot run cargo build -p keyward");
        assert!(status.success(), "cargo build -p keyward failed");
        assert!(
            path.is_file(),
            "no keyward binary at {} after cargo build -p keyward; set KEYWARD_BIN",
            path.display()
        );
        path
    })
    .clone()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// One running `keyward serve` with its organization; killed when dropped.
pub struct Server {
    pub url: String,
    pub root_key: String,
    pub org_id: String,
    child: Option<Child>,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Server {
    /// `keyward org create` and `keyward serve` on a free port, once ready.
    pub async fn start() -> Self {
        let binary = keyward_bin();
        let dir = tempfile::tempdir().unwrap();
        let created = Command::new(&binary)
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "org",
                "create",
                "--name",
                "Acme",
                "--owner-email",
                "ops@acme.example",
                "--json",
            ])
            .env_remove("KEYWARD_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let org: Value = serde_json::from_slice(&created.stdout).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(&binary)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--webhook-allow-private", "--usage-flush-ms", "100"])
            .env_remove("KEYWARD_DATABASE_URL")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Self {
            url: format!("http://127.0.0.1:{port}"),
            root_key: org["root_key"].as_str().unwrap().to_owned(),
            org_id: org["org_id"].as_str().unwrap().to_owned(),
            child: Some(child),
            dir,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{}/readyz", server.url)).send().await;
            if ready.is_ok_and(|answer| answer.status().is_success()) {
                return server;
            }
            let exited = server.child.as_mut().unwrap().try_wait().unwrap().is_some();
            if exited || started.elapsed() > Duration::from_secs(30) {
                panic!("keyward serve did not get ready:\n{}", server.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server (Keyward stopped) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client with the root key.
    pub fn admin(&self) -> keyward_client::Keyward {
        keyward_client::Keyward::builder(&self.url)
            .root_key(&self.root_key)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A raw management call with the root key (fixtures, independent of the client).
    pub async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.root_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A project `Widgets` with the catalog `data, push`: its id.
    pub async fn project(&self) -> String {
        let project = self
            .raw(
                Method::POST,
                "/v1/projects",
                Some(json!({"name": "Widgets", "key_prefix": "wid", "apis": ["data", "push"]})),
            )
            .await;
        project["id"].as_str().unwrap().to_owned()
    }

    /// A key in `project` (scopes `data:read` unless `fields` say otherwise): its JSON.
    pub async fn key(&self, project: &str, fields: Value) -> Value {
        let mut body = json!({"name": "test key", "project_id": project});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        if body.get("role").is_none() && body.get("scopes").is_none() {
            body["scopes"] = json!(["data:read"]);
        }
        self.raw(Method::POST, "/v1/keys", Some(body)).await
    }
}

/// Serves `app` on 127.0.0.1:0 with the peer address (`ConnectInfo`): its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A TCP server that accepts connections and never answers: a Keyward too slow.
pub async fn blackhole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    format!("http://{addr}")
}

type Script = (Arc<Vec<(u16, &'static str)>>, Arc<AtomicUsize>);

/// An HTTP server answering each request with the next `(status, body)` of `answers` (the
/// last one repeats): its URL and how many requests it got.
pub async fn scripted(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let state = (Arc::new(answers), Arc::clone(&seen));
    let app = Router::new()
        .fallback(|State((answers, seen)): State<Script>| async move {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[n.min(answers.len() - 1)];
            let status = StatusCode::from_u16(status).unwrap();
            (status, [("content-type", "application/json")], body)
        })
        .with_state(state);
    (serve(app).await, seen)
}

/// A proxy to `target` that counts the requests it forwards, each held `delay` first.
pub async fn counting_proxy(target: String, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let state = (target, Arc::clone(&count), http, delay);
    type ProxyState = (String, Arc<AtomicUsize>, reqwest::Client, Duration);
    let app = Router::new()
        .fallback(
            |State((target, count, http, delay)): State<ProxyState>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let mut request = http.request(method, format!("{target}{uri}")).body(body);
                for name in ["content-type", "authorization", "idempotency-key"] {
                    if let Some(value) = headers.get(name) {
                        request = request.header(name, value);
                    }
                }
                let answer = request.send().await.unwrap();
                let status = answer.status();
                let body = answer.bytes().await.unwrap();
                let response: Response =
                    (status, [("content-type", "application/json")], body).into_response();
                response
            },
        )
        .with_state(state);
    (serve(app).await, count)
}

/// Log lines written through `tracing` while the guard lives (this thread only).
pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Writer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Writer(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}
