//! Writing usage behind verification, and reading it back per key.

use super::rows::{self, micros};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::id::{KeyId, OrgId};
use keyward_core::store::StoreError;
use keyward_core::usage::{UsageBatch, UsageCount};
use sqlx::SqlitePool;

/// Writes one batch in one transaction on the writer connection.
pub(super) async fn record(writer: &SqlitePool, batch: &UsageBatch) -> Result<(), StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    // One statement per batch, however many keys: the batch travels as
    // a JSON array and SQLite walks it with json_each.
    if !batch.last_used.is_empty() {
        let rows: Vec<(&str, i64)> = batch
            .last_used
            .iter()
            .map(|(key_id, at)| (key_id.as_str(), micros(*at)))
            .collect();
        sqlx::query(
            "UPDATE api_keys SET last_used_at = MAX(COALESCE(api_keys.last_used_at, 0), u.at)
                 FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?)) AS u
                 WHERE api_keys.id = u.id",
        )
        .bind(rows::json(&rows)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    for quota in &batch.quotas {
        // Add to the stored count when it counts the same period; start
        // a later period's count afresh; never go back to an earlier
        // period (another node may already count the next one).
        sqlx::query(
                "UPDATE api_keys SET
                     quota_used = CASE
                         WHEN quota_period_start IS ?1 THEN quota_used + ?2
                         WHEN ?1 IS NULL OR quota_period_start IS NULL OR quota_period_start < ?1 THEN ?2
                         ELSE quota_used END,
                     quota_period_start = CASE
                         WHEN ?1 IS NULL OR quota_period_start IS NULL OR quota_period_start < ?1 THEN ?1
                         ELSE quota_period_start END
                 WHERE id = ?3",
            )
            .bind(quota.period_start.map(micros))
            .bind(i64::try_from(quota.count).unwrap_or(i64::MAX))
            .bind(quota.key_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    if !batch.counts.is_empty() {
        let rows: Vec<(&str, &str, i64, &str, i64)> = batch
            .counts
            .iter()
            .map(|c| {
                let count = i64::try_from(c.count).unwrap_or(i64::MAX);
                (
                    c.org_id.as_str(),
                    c.key_id.as_str(),
                    micros(c.hour),
                    c.code.as_str(),
                    count,
                )
            })
            .collect();
        sqlx::query(
                "INSERT INTO key_usage (org_id, key_id, hour, code, count)
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true
                 ON CONFLICT (key_id, hour, code) DO UPDATE SET count = count + excluded.count",
            )
            .bind(rows::json(&rows)?)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

/// Hourly counts of one key between `from` and `to`.
pub(super) async fn key_usage(
    reader: &SqlitePool,
    org: &OrgId,
    key: &KeyId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageCount>, StoreError> {
    let rows = sqlx::query(
        "SELECT org_id, key_id, hour, code, count FROM key_usage
             WHERE org_id = ? AND key_id = ? AND hour >= ? AND hour < ? ORDER BY hour, code",
    )
    .bind(org.as_str())
    .bind(key.as_str())
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(reader)
    .await
    .map_err(backend)?;
    rows.iter().map(rows::usage_count).collect()
}
