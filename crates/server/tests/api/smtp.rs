//! An SMTP server in a process of its own: `smtp_server.py` on aiosmtpd,
//! which parses every message with Python's `email` package, so these tests
//! read what a real mail server received, not what Keyward meant to send.

use crate::receiver::python;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cli/tests/receiver/smtp_server.py"
);

/// The sender of the test apps' email.
pub const FROM: &str = "Keyward <keyward@keyward.example>";

/// A running SMTP server.
pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts a server on a free port with `args` (`--reject ADDRESS`, `--auth U:P`).
    pub async fn start(args: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: 0,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        server.run(None).await;
        server
    }

    async fn run(&mut self, port: Option<u16>) {
        let port_file = self.dir.path().join("port");
        let _ = std::fs::remove_file(&port_file);
        let mut command = Command::new(python());
        command.arg(SCRIPT).arg("--dir").arg(self.dir.path());
        if let Some(port) = port {
            command.arg("--port").arg(port.to_string());
        }
        let child = command
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting smtp_server.py");
        self.child = Some(child);
        // Up to 30 s: a busy machine starts Python slowly.
        for _ in 0..600 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                self.port = text.trim().parse().unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("smtp_server.py did not start");
    }

    /// Stops the server (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.run(Some(self.port)).await;
    }

    /// `smtp://127.0.0.1:<port>?tls=none`: plain text, as to a local relay.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every message received so far, in order, as smtp_server.py wrote them.
    pub fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.path("messages")) else {
            return Vec::new();
        };
        let mut paths: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Every recipient asked for, accepted or refused, in order.
    pub fn recipients_asked(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("rcpt.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every login attempt (`user:password ok|refused`).
    pub fn logins(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (up to 30 s) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages, the SMTP server got {:#?}",
            self.messages()
        );
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
