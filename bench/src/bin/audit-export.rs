//! Peak memory of `GET /v1/audit/export` against the number of events.
//!
//! For each size it builds a fresh data directory holding one organization
//! with that many audit events, starts the real release `keyward serve`,
//! downloads the whole export (CSV, then JSON lines) and reads the server's
//! peak resident memory (`VmHWM`). The smallest size is the baseline of the
//! same run: flat memory means the large exports peak where the small ones do.
//!
//! Usage: `bash bench/audit-export.sh [sizes…]` (default 1000 100000).

use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::clock::{Clock, SystemClock};
use keyward_core::id::OrgId;
use keyward_server::Settings;
use keyward_server::app::{open_master_key, open_store};
use keyward_server::bootstrap::create_organization;
use std::time::Instant;

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
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
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
