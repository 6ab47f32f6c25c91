//! Writing behind `last_used_at`, quota consumption and the hourly usage
//! counters.
//!
//! A batch is one transaction of a few statements, each taking its rows as
//! arrays (`UNNEST`): a flush of ten thousand keys is five round trips and
//! five plans, not twenty thousand of each.
//!
//! Several nodes may flush batches touching the same keys at once. The
//! transaction first locks every key row it will update, in key order
//! (`SELECT … ORDER BY id FOR NO KEY UPDATE` locks after sorting), and
//! inserts counters in key order, so two flushes wait for each other
//! instead of deadlocking. (An `UPDATE … FROM` locks rows in the order its
//! join yields them, which a hash join does not keep.)

use super::rows::{count, micros};
use crate::backend;
use keyward_core::store::StoreError;
use keyward_core::usage::UsageBatch;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};

const LOCK: &str = "SELECT 1 FROM api_keys WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

const LAST_USED: &str = "UPDATE api_keys AS k
     SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at)
     FROM UNNEST($1::text[], $2::int8[]) AS u(id, at)
     WHERE k.id = u.id";

// Add to the stored count when it counts the same period; start a later
// period's count afresh; never go back to an earlier period (another node
// may already count the next one).
const QUOTA_USED: &str = "UPDATE api_keys AS k SET
         quota_used = CASE
             WHEN k.quota_period_start IS NOT DISTINCT FROM u.start THEN k.quota_used + u.n
             WHEN u.start IS NULL OR k.quota_period_start IS NULL OR k.quota_period_start < u.start THEN u.n
             ELSE k.quota_used END,
         quota_period_start = CASE
             WHEN u.start IS NULL OR k.quota_period_start IS NULL OR k.quota_period_start < u.start THEN u.start
             ELSE k.quota_period_start END
     FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS u(id, start, n)
     WHERE k.id = u.id";

const COUNT: &str = "INSERT INTO key_usage (org_id, key_id, hour, code, count)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[])
         AS u(org_id, key_id, hour, code, count)
     ORDER BY key_id, hour, code
     ON CONFLICT (key_id, hour, code) DO UPDATE SET count = key_usage.count + excluded.count";

// The same counts under each key's organization and project, the rollup
// that organization-wide usage reads; in key order of the rollup's rows, so
// two nodes' flushes wait for each other there too.
const ORG_COUNT: &str = "INSERT INTO org_usage (org_id, project_id, hour, code, count)
     SELECT k.org_id, k.project_id, u.hour, u.code, SUM(u.count)::int8
     FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[]) AS u(key_id, hour, code, count)
     JOIN api_keys k ON k.id = u.key_id
     GROUP BY k.org_id, u.hour, k.project_id, u.code
     ORDER BY k.org_id, u.hour, k.project_id, u.code
     ON CONFLICT (org_id, hour, project_id, code) DO UPDATE SET count = org_usage.count + excluded.count";

pub(super) async fn record(pool: &PgPool, batch: &UsageBatch) -> Result<(), StoreError> {
    // One row per key (per key, hour and outcome for the counters): an
    // upsert may not touch a row twice.
    let mut last_used = BTreeMap::new();
    for (key, at) in &batch.last_used {
        let at = micros(*at);
        let latest = last_used.entry(key.as_str()).or_insert(at);
        *latest = (*latest).max(at);
    }
    let mut quotas = BTreeMap::new();
    for quota in &batch.quotas {
        quotas.insert(
            quota.key_id.as_str(),
            (quota.period_start.map(micros), count(quota.count)),
        );
    }
    let mut counts = BTreeMap::new();
    for c in &batch.counts {
        let slot = counts
            .entry((c.key_id.as_str(), micros(c.hour), c.code.as_str()))
            .or_insert((c.org_id.as_str(), 0i64));
        slot.1 = slot.1.saturating_add(count(c.count));
    }

    let mut tx = pool.begin().await.map_err(backend)?;
    let rows: BTreeSet<&str> = last_used.keys().chain(quotas.keys()).copied().collect();
    if !rows.is_empty() {
        sqlx::query(LOCK)
            .bind(rows.into_iter().collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    if !last_used.is_empty() {
        let (ids, ats): (Vec<_>, Vec<_>) = last_used.into_iter().unzip();
        sqlx::query(LAST_USED)
            .bind(ids)
            .bind(ats)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    if !quotas.is_empty() {
        let ids: Vec<_> = quotas.keys().copied().collect();
        let (starts, used): (Vec<_>, Vec<_>) = quotas.into_values().unzip();
        sqlx::query(QUOTA_USED)
            .bind(ids)
            .bind(starts)
            .bind(used)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    if !counts.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((key, hour, code), (org, n)) in counts {
            columns.0.push(org);
            columns.1.push(key);
            columns.2.push(hour);
            columns.3.push(code);
            columns.4.push(n);
        }
        sqlx::query(COUNT)
            .bind(&columns.0)
            .bind(&columns.1)
            .bind(&columns.2)
            .bind(&columns.3)
            .bind(&columns.4)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // Last, just before the commit: the rollup's rows are few and shared
        // by every node's flushes of an organization, so they are held for
        // as short a time as possible.
        sqlx::query(ORG_COUNT)
            .bind(columns.1)
            .bind(columns.2)
            .bind(columns.3)
            .bind(columns.4)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}
