//! Builds a data directory holding one organization with N keys, and writes
//! the full keys (one per line) for the load generator. Also writes as many
//! well-formed keys that do not exist, for the unknown-key flood.
//!
//! Usage: `seed-keys <data-dir> <count> <keys-file> <unknown-keys-file>`;
//! with `KEYWARD_DATABASE_URL`, into that PostgreSQL database.

use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::clock::{Clock, SystemClock};
use keyward_core::key_format::{FullKey, KeyPrefix, KeyType};
use keyward_core::keys::{CreateKey, audit_view};
use keyward_server::Settings;
use keyward_server::app::{open_master_key, open_store};
use keyward_server::bootstrap::create_organization;
use std::io::Write;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: seed-keys <data-dir> <count> <keys-file> <unknown-keys-file>"
    );
    let data_dir = std::path::PathBuf::from(&args[0]);
    let count: usize = args[1].parse()?;
    let mut settings = Settings::new(data_dir);
    // PostgreSQL when set, as for `keyward serve`.
    settings.database_url = std::env::var("KEYWARD_DATABASE_URL").ok();
    let store = open_store(&settings).await?;
    let master_key = open_master_key(&settings)?;
    let password = secrecy::SecretString::from("benchmark password".to_owned());
    let org = create_organization(
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
    let project = store
        .list_projects(&org.org_id)
        .await?
        .into_iter()
        .find(|p| !p.management)
        .ok_or_else(|| anyhow::anyhow!("no default project"))?;
    let mut keys = std::io::BufWriter::new(std::fs::File::create(&args[2])?);
    let started = Instant::now();
    for i in 0..count {
        let now = SystemClock.now();
        let input = CreateKey {
            name: format!("bench key {i}"),
            description: None,
            project_id: None,
            key_type: None,
            role: Some(keyward_core::scope::Role::Admin),
            scopes: None,
            expires_at: None,
            trusted_origins: None,
            allowed_ips: None,
            meta: None,
            enabled: None,
            ratelimit: None,
            quota: None,
        };
        let new = keyward_core::keys::create(
            input,
            &org.org_id,
            &project,
            "bench".to_owned(),
            &master_key,
            now,
        )?;
        let event = NewEvent {
            action: "key.created".to_owned(),
            target: Target {
                kind: "key".to_owned(),
                id: new.record.id.to_string(),
                name: new.record.name.clone(),
            },
            changes: keyward_core::audit::created(&audit_view(&new.record)),
        };
        store
            .insert_key(
                &new.record,
                None,
                &AuditContext::system("bench", now),
                event,
            )
            .await?;
        writeln!(keys, "{}", new.key.expose())?;
        if (i + 1) % 100_000 == 0 {
            eprintln!("{} keys in {:.0}s", i + 1, started.elapsed().as_secs_f64());
        }
    }
    keys.flush()?;
    let mut unknown = std::io::BufWriter::new(std::fs::File::create(&args[3])?);
    for _ in 0..count.min(100_000) {
        writeln!(
            unknown,
            "{}",
            FullKey::generate(&KeyPrefix::default(), KeyType::Secret)?.expose()
        )?;
    }
    unknown.flush()?;
    eprintln!(
        "seeded {count} keys in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
