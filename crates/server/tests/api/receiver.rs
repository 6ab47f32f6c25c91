//! A webhook receiver in a process of its own: `receiver.py`, which checks
//! every delivery with the stock `standardwebhooks` package, so these tests
//! prove that a Standard Webhooks consumer accepts what Keyward sends.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cli/tests/receiver/receiver.py"
);

/// A running receiver.
pub struct Receiver {
    child: Child,
    pub url: String,
    log: PathBuf,
    #[allow(dead_code, reason = "read by the suites that change secrets")]
    secrets: PathBuf,
    _dir: tempfile::TempDir,
}

/// The Python with `standardwebhooks`: `KEYWARD_TEST_PYTHON`, else the venv
/// `.ci/receiver.sh` makes (and reuses), asked once per test process so that
/// tests running side by side do not build it together.
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> String {
    if let Ok(python) = std::env::var("KEYWARD_TEST_PYTHON") {
        return python;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg(root.join(".ci/receiver.sh"))
        .output()
        .expect("running .ci/receiver.sh");
    assert!(
        output.status.success(),
        "the webhook tests need python3 and the standardwebhooks package: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Receiver {
    /// Starts a receiver that accepts deliveries signed with any of `secrets`.
    pub async fn start(secrets: &[&str], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secrets");
        let port_file = dir.path().join("port");
        let log = dir.path().join("log");
        std::fs::write(&secret_file, secrets.join("\n")).unwrap();
        std::fs::write(&log, "").unwrap();
        let child = Command::new(python())
            .arg(SCRIPT)
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting receiver.py");
        let mut port = String::new();
        // Up to 30 s: a busy machine starts Python slowly.
        for _ in 0..600 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                port = text.trim().to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!port.is_empty(), "receiver.py did not start");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/hook"),
            log,
            secrets: secret_file,
            _dir: dir,
        }
    }

    /// Replaces the secrets it accepts.
    #[allow(dead_code, reason = "used by the suites that rotate secrets")]
    pub fn set_secrets(&self, secrets: &[&str]) {
        std::fs::write(&self.secrets, secrets.join("\n")).unwrap();
    }

    /// Makes it answer 503 (true) or normally again (false).
    pub fn set_failing(&self, failing: bool) {
        let flag = self.log.with_extension("fail");
        if failing {
            std::fs::write(flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Makes it hold its answers (true) until released (false), each
    /// request logged as it arrives.
    #[allow(dead_code, reason = "used by the suites that stop Keyward mid-attempt")]
    pub fn set_holding(&self, holding: bool) {
        let flag = self.log.with_extension("hold");
        if holding {
            std::fs::write(flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The accepted deliveries so far, in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["failed"] == false)
            .collect()
    }

    /// Waits (up to 30 s) until `done` holds for the requests received.
    pub async fn wait_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_within(Duration::from_secs(30), done).await
    }

    /// Waits up to `limit` until `done` holds for the requests received.
    pub async fn wait_within(
        &self,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver never got what was expected: {:#?}",
            self.requests()
        );
    }

    /// Waits until `n` deliveries were accepted, and returns them.
    #[allow(dead_code, reason = "used by the API suites")]
    pub async fn wait_for_accepted(&self, n: usize) -> Vec<Value> {
        self.wait_until(|r| r.iter().filter(|r| r["failed"] == false).count() >= n)
            .await;
        self.accepted()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
