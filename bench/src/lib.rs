//! Helpers shared by the benchmark binaries: the real `keyward` binary as a
//! child process, and its memory as the kernel reports it.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `keyward serve` child process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Server {
    /// Starts `binary serve` on `port` over `data_dir` and waits for `/readyz`.
    pub async fn start(binary: &Path, data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        Self::start_with(binary, data_dir, port, &[]).await
    }

    /// [`Server::start`] with more `serve` arguments.
    pub async fn start_with(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let child = Command::new(binary)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("KEYWARD_DATA_DIR", data_dir)
            // Slow statements are what some benchmarks measure, not news.
            .env("RUST_LOG", "warn,sqlx::query=error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        let http = reqwest::Client::new();
        while http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_err()
        {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("{field} not in /proc status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release binary of `keyward` next to this benchmark's own binary.
pub fn keyward_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("no parent directory")?;
    let binary = dir.join("keyward");
    anyhow::ensure!(
        binary.exists(),
        "build it first: cargo build --release -p keyward"
    );
    Ok(binary)
}
