//! How fast the organization's usage reads with 1,000,000 keys and a year
//! of usage: `GET /v1/usage` and the dashboard's overview, against one key's
//! usage (`GET /v1/keys/{id}/usage`) in the same run.
//!
//! It makes a data directory with one organization through the real
//! `keyward serve`, copies one real key a million times and writes a year of
//! hourly counters straight into SQLite (each key used on a few days of the
//! year, one in a hundred rate limited), rebuilds the `org_usage` rollup from
//! them as the usage writer would have kept it, then starts the release
//! server again and times each request one at a time.
//!
//! Usage: `bash bench/usage-report.sh [keys] [days-per-key] [rounds]`
//! (default 1000000 6 30).

use anyhow::Context;
use keyward_bench::Server;
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::{Duration, Instant};

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let keys = args.first().copied().unwrap_or(1_000_000);
    let days = args.get(1).copied().unwrap_or(6);
    let rounds = args.get(2).copied().unwrap_or(30);
    let binary = keyward_bench::keyward_binary()?;
    let dir = std::env::temp_dir().join(format!("keyward-usage-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // The organization and one key, made by the real binary.
    let created = std::process::Command::new(&binary)
        .args([
            "org",
            "create",
            "--json",
            "--name",
            "Bench",
            "--owner-email",
            EMAIL,
        ])
        .env("KEYWARD_DATA_DIR", &dir)
        .env("KEYWARD_OWNER_PASSWORD", PASSWORD)
        .output()?;
    anyhow::ensure!(created.status.success(), "org create: {created:?}");
    let org: serde_json::Value = serde_json::from_slice(&created.stdout)?;
    let root_key = org["root_key"].as_str().context("root_key")?.to_owned();
    let template = {
        let server = Server::start(&binary, &dir, 18_700).await?;
        let key: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/keys", server.base))
            .bearer_auth(&root_key)
            .json(&serde_json::json!({"name": "template"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        key["id"].as_str().context("id")?.to_owned()
    };

    let started = Instant::now();
    let (project, rows) = seed(&dir.join("keyward.db"), &template, keys, days).await?;
    eprintln!(
        "seeded {keys} keys and {rows} hourly counters in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let server = Server::start(&binary, &dir, 18_701).await?;
    let http = reqwest::Client::new();
    let year_ago = (chrono::Utc::now() - chrono::Duration::days(365))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let cases = [
        (
            "baseline: GET /v1/keys/{id}/usage (30 days)",
            format!("/v1/keys/{template}/usage"),
        ),
        ("GET /v1/usage (30 days)", "/v1/usage".to_owned()),
        (
            "GET /v1/usage?granularity=hour (24 hours)",
            "/v1/usage?granularity=hour".to_owned(),
        ),
        (
            "GET /v1/usage from a year ago (366 days)",
            format!("/v1/usage?from={year_ago}"),
        ),
        (
            "GET /v1/usage?project_id= (30 days)",
            format!("/v1/usage?project_id={project}"),
        ),
        (
            "GET /v1/usage?key_id= (30 days)",
            format!("/v1/usage?key_id={template}"),
        ),
        (
            "GET /v1/usage?top=10 (30 days)",
            "/v1/usage?top=10".to_owned(),
        ),
        (
            "GET /v1/usage?top=10 from a year ago",
            format!("/v1/usage?top=10&from={year_ago}"),
        ),
    ];
    println!("| case | median ms | p95 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, path) in &cases {
        let url = format!("{}{path}", server.base);
        let times = time(rounds, || async {
            http.get(&url)
                .bearer_auth(&root_key)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            Ok(())
        })
        .await?;
        println!("{}", row(name, &times));
    }
    let cookie = sign_in(&server.base).await?;
    let url = format!("{}/overview", server.base);
    let times = time(rounds.min(10), || async {
        let page = http.get(&url).header("cookie", &cookie).send().await?;
        anyhow::ensure!(page.status() == 200, "overview: {}", page.status());
        page.bytes().await?;
        Ok(())
    })
    .await?;
    println!("{}", row("dashboard: GET /overview (7 API calls)", &times));
    println!(
        "\nserver RSS after the run: {:.1} MiB",
        server.memory_kib("VmRSS")? as f64 / 1024.0
    );
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Copies the key `template` into `keys` keys and gives each `days` days of
/// use in the last year; returns the project's id and the counters written.
async fn seed(db: &Path, template: &str, keys: u64, days: u64) -> anyhow::Result<(String, u64)> {
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('api_keys')")
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    // Every column as the template has it, but a new id, name and hash.
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "id" => "'key_' || printf('%020d', i)".to_owned(),
            "name" => "'key ' || i".to_owned(),
            "hash" => "randomblob(32)".to_owned(),
            "previous_hash" | "last_used_at" => "NULL".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let template_row = sqlx::query("SELECT org_id, project_id FROM api_keys WHERE id = ?")
        .bind(template)
        .fetch_one(&pool)
        .await?;
    let org: String = template_row.get("org_id");
    let project: String = template_row.get("project_id");
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO api_keys ({}) SELECT {} FROM n, api_keys WHERE api_keys.id = ?",
        columns.join(", "),
        select.join(", ")
    ))
    .bind(i64::try_from(keys)?)
    .bind(template)
    .execute(&mut *tx)
    .await?;
    // A year back from today's start, in microseconds, hour by hour.
    let today = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .context("midnight")?;
    let base = (today.and_utc() - chrono::Duration::days(365)).timestamp_micros();
    let written = sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?),
              d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j + 1 < ?)
         INSERT OR IGNORE INTO key_usage (org_id, key_id, hour, code, count)
         SELECT ?, 'key_' || printf('%020d', i),
                ? + ((((i * 7919 + j * 104729) % 366) * 24 + i % 24) * 3600000000),
                CASE WHEN i % 100 = 0 THEN 'RATE_LIMITED' ELSE 'VALID' END,
                1 + i % 50
         FROM n, d",
    )
    .bind(i64::try_from(keys)?)
    .bind(i64::try_from(days)?)
    .bind(&org)
    .bind(base)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The rollup as the usage writer keeps it, every key being in one project.
    sqlx::query(
        "INSERT INTO org_usage (org_id, project_id, hour, code, count)
         SELECT org_id, ?, hour, code, SUM(count) FROM key_usage WHERE org_id = ?
         GROUP BY org_id, hour, code",
    )
    .bind(&project)
    .bind(&org)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok((project, written))
}

/// `rounds` timings of `request`, after as many warm-up requests.
async fn time<F, Fut>(rounds: u64, request: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..rounds.min(5) {
        request().await?;
    }
    let mut times = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        request().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times)
}

fn row(name: &str, sorted: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    format!(
        "| {name} | {:.1} | {:.1} | {:.1} |",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(sorted[sorted.len() - 1])
    )
}

/// Signs the owner in as a browser does; returns the session cookie.
async fn sign_in(base: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http.get(format!("{base}/login")).send().await?;
    let cookie = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let login = cookie(&page, "keyward_login").context("login cookie")?;
    let html = page.text().await?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("csrf field")?
        .to_owned();
    let signed = http
        .post(format!("{base}/login"))
        .header("cookie", login)
        .header("origin", base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    cookie(&signed, "keyward_session").context("session cookie")
}
