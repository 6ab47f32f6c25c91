//! Writing behind `last_used_at`, quota consumption and the hourly usage
//! counters.
//!
//! Several nodes may flush batches touching the same keys at once. Each batch
//! updates rows in key order, so two flushes wait for each other instead of
//! deadlocking.

use super::rows::{count, micros};
use crate::backend;
use keyward_core::store::StoreError;
use keyward_core::usage::UsageBatch;
use sqlx::PgPool;

pub(super) async fn record(pool: &PgPool, batch: &UsageBatch) -> Result<(), StoreError> {
    let mut last_used: Vec<_> = batch.last_used.iter().collect();
    last_used.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut quotas: Vec<_> = batch.quotas.iter().collect();
    quotas.sort_by(|a, b| a.key_id.as_str().cmp(b.key_id.as_str()));
    let mut counts: Vec<_> = batch.counts.iter().collect();
    counts.sort_by(|a, b| {
        (a.key_id.as_str(), a.hour, a.code.as_str()).cmp(&(
            b.key_id.as_str(),
            b.hour,
            b.code.as_str(),
        ))
    });

    let mut tx = pool.begin().await.map_err(backend)?;
    for (key_id, at) in last_used {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2",
        )
        .bind(micros(*at))
        .bind(key_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    for quota in quotas {
        // Add to the stored count when it counts the same period; start
        // a later period's count afresh; never go back to an earlier period
        // (another node may already count the next one).
        sqlx::query(
            "UPDATE api_keys SET
                 quota_used = CASE
                     WHEN quota_period_start IS NOT DISTINCT FROM $1 THEN quota_used + $2
                     WHEN $1 IS NULL OR quota_period_start IS NULL OR quota_period_start < $1 THEN $2
                     ELSE quota_used END,
                 quota_period_start = CASE
                     WHEN $1 IS NULL OR quota_period_start IS NULL OR quota_period_start < $1 THEN $1
                     ELSE quota_period_start END
             WHERE id = $3",
        )
        .bind(quota.period_start.map(micros))
        .bind(count(quota.count))
        .bind(quota.key_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    for usage in counts {
        sqlx::query(
            "INSERT INTO key_usage (org_id, key_id, hour, code, count) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_id, hour, code) DO UPDATE SET count = key_usage.count + excluded.count",
        )
        .bind(usage.org_id.as_str())
        .bind(usage.key_id.as_str())
        .bind(micros(usage.hour))
        .bind(usage.code.as_str())
        .bind(count(usage.count))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}
