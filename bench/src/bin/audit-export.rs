//! Peak memory of `GET /v1/audit/export` against the number of events.
//!
//! For each size it builds a fresh data directory holding one organization
//! with that many audit events, starts the real release `keyward serve`,
//! downloads the whole export (CSV, then JSON lines) and reads the server's
//! peak resident memory (`VmHWM`). The smallest size is the baseline of the
//! same run: flat memory means the large exports peak where the small ones do.
//!
//! Then the same export by email (`POST /v1/audit/export/email`, CSV): the
//! server is started with an SMTP server of Python's `aiosmtpd` (the email
//! tests' `smtp_server.py`, run by `KEYWARD_TEST_PYTHON`), and the peak is
//! read once the message has arrived, attached or as a one-time link.
//!
//! Usage: `bash bench/audit-export.sh [sizes…]` (default 1000 100000).

use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::clock::{Clock, SystemClock};
use keyward_core::id::OrgId;
use keyward_server::Settings;
use keyward_server::app::{open_master_key, open_store};
use keyward_server::bootstrap::create_organization;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000]
    } else {
        sizes
    };
    let binary = keyward_bench::keyward_binary()?;
    println!(
        "| events | format | bytes | seconds | server peak RSS (MiB) | RSS before export (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    let mut emailed = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!(
            "keyward-bench-export-{}-{size}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let (org, root_key) = seed(&dir, size).await?;
        for format in ["csv", "jsonl"] {
            // A fresh process per export, so each peak belongs to one export.
            let port = 18_500 + u16::try_from(i).unwrap_or(0) * 2 + u16::from(format == "jsonl");
            let server = keyward_bench::Server::start(&binary, &dir, port).await?;
            let before = server.memory_kib("VmRSS")?;
            let started = Instant::now();
            let mut response = reqwest::Client::new()
                .get(format!("{}/v1/audit/export?format={format}", server.base))
                .bearer_auth(&root_key)
                .send()
                .await?
                .error_for_status()?;
            let mut bytes = 0usize;
            while let Some(chunk) = response.chunk().await? {
                bytes += chunk.len();
            }
            let seconds = started.elapsed().as_secs_f64();
            let peak = server.memory_kib("VmHWM")?;
            println!(
                "| {size} | {format} | {bytes} | {seconds:.2} | {:.1} | {:.1} |",
                peak as f64 / 1024.0,
                before as f64 / 1024.0
            );
        }
        let _ = org;
        emailed.push(email_export(&binary, &dir, size, &root_key).await?);
        std::fs::remove_dir_all(&dir)?;
    }
    println!();
    println!("By email (CSV):");
    println!();
    println!(
        "| events | delivery | message bytes | seconds | server peak RSS (MiB) | RSS before export (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    for row in emailed {
        println!("{row}");
    }
    Ok(())
}

/// The CSV export of the organization in `dir` mailed to its owner: a table
/// row with how it was delivered and the server's peak memory.
async fn email_export(
    binary: &std::path::Path,
    dir: &std::path::Path,
    size: u64,
    root_key: &str,
) -> anyhow::Result<String> {
    let smtp = SmtpSink::start()?;
    let url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    let port = 18_600 + u16::try_from(size % 100).unwrap_or(0);
    let args = ["--smtp-url", &url, "--smtp-from", "keyward@bench.example"];
    let server = keyward_bench::Server::start_with(binary, dir, port, &args).await?;
    let before = server.memory_kib("VmRSS")?;
    let started = Instant::now();
    reqwest::Client::new()
        .post(format!("{}/v1/audit/export/email?format=csv", server.base))
        .bearer_auth(root_key)
        .json(&serde_json::json!({"to": "bench@example.com"}))
        .send()
        .await?
        .error_for_status()?;
    let message = smtp.wait_for_message(Duration::from_secs(600)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = server.memory_kib("VmHWM")?;
    let delivery = if message.contains("Content-Disposition: attachment") {
        "attachment"
    } else {
        "one-time link"
    };
    Ok(format!(
        "| {size} | {delivery} | {} | {seconds:.2} | {:.1} | {:.1} |",
        message.len(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    ))
}

/// `crates/cli/tests/receiver/smtp_server.py` on `KEYWARD_TEST_PYTHON`.
struct SmtpSink {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl SmtpSink {
    fn start() -> anyhow::Result<Self> {
        let python = std::env::var("KEYWARD_TEST_PYTHON")
            .map_err(|_| anyhow::anyhow!("set KEYWARD_TEST_PYTHON=$(.ci/receiver.sh)"))?;
        let dir = std::env::temp_dir().join(format!("keyward-bench-smtp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/cli/tests/receiver/smtp_server.py"
        );
        let child = std::process::Command::new(python)
            .arg(script)
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("port")) {
                break text.trim().parse()?;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "no SMTP port");
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Self { child, dir, port })
    }

    /// The first message as received (its `raw` text).
    async fn wait_for_message(&self, limit: Duration) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let first = std::fs::read_dir(self.dir.join("messages"))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|e| e == "json"));
            if let Some(text) = first.and_then(|path| std::fs::read_to_string(path).ok()) {
                let message: serde_json::Value = serde_json::from_str(&text)?;
                return Ok(message["raw"].as_str().unwrap_or_default().to_owned());
            }
            anyhow::ensure!(started.elapsed() < limit, "no message within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A data directory with one organization and `events` audit events.
async fn seed(dir: &std::path::Path, events: u64) -> anyhow::Result<(OrgId, String)> {
    let settings = Settings::new(dir.to_path_buf());
    let store = open_store(&settings).await?;
    let master_key = open_master_key(&settings)?;
    let password = secrecy::SecretString::from("benchmark password".to_owned());
    let created = create_organization(
        store.as_ref(),
        &master_key,
        &SystemClock,
        "keyward bench",
        "Bench",
        "bench@example.com",
        Some(password),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = AuditContext::system("bench", SystemClock.now());
    let started = Instant::now();
    for i in 0..events.saturating_sub(5) {
        let event = NewEvent {
            action: "key.updated".to_owned(),
            target: Target {
                kind: "key".to_owned(),
                id: format!("key_{i:020}"),
                name: format!("=formula-looking name, with \"quotes\" {i}"),
            },
            changes: serde_json::from_value(serde_json::json!({
                "name": {"before": format!("old {i}"), "after": format!("new {i}")},
                "scopes": {"before": ["data:read"], "after": ["data:read", "push:*"]},
            }))?,
        };
        store.append_audit(&created.org_id, &ctx, event).await?;
    }
    eprintln!(
        "seeded {events} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok((created.org_id, created.root_key.expose().to_owned()))
}
